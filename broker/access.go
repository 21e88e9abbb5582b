package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Access checks, answered by the relation tuples (authz.Relations) from
// memory: a broker administrator (the bootstrap admin, or an administrator
// of controller:jimm) administers everything, a controller's
// administrators administer its models, and groups pass on what they have.

// brokerObject is the broker itself as a relation object.
const brokerObject = authz.KindController + ":" + authz.BrokerController

// isBrokerAdmin says whether the identity named name administers the
// broker.
func (s *Server) isBrokerAdmin(ctx context.Context, name string) (bool, error) {
	if name == adminName {
		return true, nil
	}
	ok, err := s.rel.Check(ctx, subjectOf(name), authz.Administrator, brokerObject)
	if err != nil {
		return false, fmt.Errorf("check whether %q administers the broker: %w", name, err)
	}
	return ok, nil
}

// modelAccess returns the caller's access to a model (admin, write, read
// or none).
func (s *Server) modelAccess(ctx context.Context, id *identity, m *db.Model) (string, error) {
	if id.Admin {
		return accessAdmin, nil
	}
	access, err := s.rel.ModelAccess(ctx, id.subject(), m.UUID, m.Controller.Name)
	if err != nil {
		return "", fmt.Errorf("check access of %q to model %s: %w", id.Name, m.UUID, err)
	}
	return access, nil
}

// cloudAccess returns the caller's access to a cloud as Juju names it:
// admin, add-model, or "".
func (s *Server) cloudAccess(ctx context.Context, id *identity, cloud string) (string, error) {
	if id.Admin {
		return "admin", nil
	}
	object := authz.KindCloud + ":" + cloud
	for _, c := range []struct{ relation, access string }{{authz.Administrator, "admin"}, {authz.CanAddModel, "add-model"}} {
		ok, err := s.rel.Check(ctx, id.subject(), c.relation, object)
		if err != nil {
			return "", fmt.Errorf("check access of %q to cloud %q: %w", id.Name, cloud, err)
		}
		if ok {
			return c.access, nil
		}
	}
	return "", nil
}

// administeredControllers returns the names of the controllers the
// identity named name administers (directly or through its groups).
func (s *Server) administeredControllers(ctx context.Context, name string) ([]string, error) {
	names, err := s.rel.Objects(ctx, subjectOf(name), authz.Administrator, authz.KindController)
	if err != nil {
		return nil, fmt.Errorf("list the controllers %q administers: %w", name, err)
	}
	return names, nil
}

// controllerAccessOf is the broker-level access of the identity named name,
// as Juju names it: superuser for a broker administrator, else login.
func (s *Server) controllerAccessOf(ctx context.Context, name string) (string, error) {
	admin, err := s.isBrokerAdmin(ctx, name)
	if err != nil {
		return "", err
	}
	if admin {
		return "superuser", nil
	}
	return "login", nil
}

// administers says whether the caller administers object (API form, e.g.
// "model:<uuid>", "cloud:lxd", "controller:c1", "group:ops"), and so may
// grant and revoke relations on it: broker administrators administer
// everything; groups and controllers only they; a cloud its
// administrators; a model its administrators and its controller's.
func (s *Server) administers(ctx context.Context, id *identity, object string) (bool, error) {
	if id.Admin {
		return true, nil
	}
	if err := authz.ParseObject(object); err != nil {
		return false, err
	}
	kind, name, _ := strings.Cut(object, ":")
	switch kind {
	case authz.KindCloud:
		return s.rel.Check(ctx, id.subject(), authz.Administrator, object)
	case authz.KindModel:
		m, err := s.routes.get(ctx, name)
		if err != nil {
			return false, err
		}
		access, err := s.modelAccess(ctx, id, m)
		return access == accessAdmin, err
	}
	return false, nil
}

// accessChanged is called (without blocking) after every change to
// relations or groups, here or on another replica.
func (s *Server) accessChanged() {
	select {
	case s.recheck <- struct{}{}:
	default: // a recheck is pending already; it will see this change
	}
}

// recheckAccess keeps live model connections to what their callers may
// do now: after a change to relations, a connection whose caller's access
// to its model changed is closed, so that its client reconnects and logs
// in with its new access (or is refused). The controller decided what the
// connection may do at login, from the broker's token, so it cannot be
// changed in place.
func (s *Server) recheckAccess(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.recheck:
		}
		s.proxiesMu.Lock()
		var ps []*modelProxy
		for _, set := range s.proxies {
			for p := range set {
				ps = append(ps, p)
			}
		}
		s.proxiesMu.Unlock()
		for _, p := range ps {
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			id, m, had := p.id, p.model, p.access
			p.mu.Unlock()
			if id == nil || m == nil {
				continue
			}
			admin, err := s.isBrokerAdmin(ctx, id.Name)
			if err != nil {
				s.log.Warn("cannot recheck model access", "model", m.UUID, "user", id.Name, "err", err)
				continue
			}
			now := accessAdmin
			if !admin {
				if now, err = s.modelAccess(ctx, &identity{Name: id.Name}, m); err != nil {
					s.log.Warn("cannot recheck model access", "model", m.UUID, "user", id.Name, "err", err)
					continue
				}
			}
			if now != had || admin != id.Admin {
				s.log.Info("closing a model connection whose access changed", "model", m.UUID, "user", id.Name, "was", had, "now", now)
				p.client.CloseWith(jujuapi.CloseGoingAway, "your access to this model changed: reconnect")
			}
		}
	}
}

// cloudForNewModel checks that a caller who is not a broker administrator
// may add a model to cloud (can_addmodel, or administrator, of it). With
// no cloud named, it picks the one cloud the caller may add models to.
func (s *Server) cloudForNewModel(ctx context.Context, id *identity, cloud string) (string, error) {
	clouds, err := s.rel.Objects(ctx, id.subject(), authz.CanAddModel, authz.KindCloud)
	if err != nil {
		return "", fmt.Errorf("list the clouds %q may add models to: %w", id.Name, err)
	}
	switch {
	case cloud != "" && slices.Contains(clouds, cloud):
		return cloud, nil
	case cloud != "":
		return "", jujuapi.Errorf(jujuapi.CodeUnauthorized, "permission denied: %q may not add models to cloud %q (it needs can_addmodel on cloud:%s)", id.Name, cloud, cloud)
	case len(clouds) == 1:
		return clouds[0], nil
	case len(clouds) == 0:
		return "", jujuapi.Errorf(jujuapi.CodeUnauthorized, "permission denied: %q may not add models to any cloud (an administrator can grant can_addmodel on a cloud)", id.Name)
	}
	return "", jujuapi.Errorf(jujuapi.CodeBadRequest, "name a cloud for the model: %q may add models to %s", id.Name, strings.Join(clouds, ", "))
}
