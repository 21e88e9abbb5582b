package identity

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

// IsBrokerAdmin says whether the identity named name administers the
// broker.
func (s *Service) IsBrokerAdmin(ctx context.Context, name string) (bool, error) {
	if name == AdminName {
		return true, nil
	}
	ok, err := s.rel.Check(ctx, SubjectOf(name), authz.Administrator, BrokerObject)
	if err != nil {
		return false, fmt.Errorf("check whether %q administers the broker: %w", name, err)
	}
	return ok, nil
}

// ControllerAccessOf is the broker-level access of the identity named
// name, as Juju names it: superuser for a broker administrator, else
// login.
func (s *Service) ControllerAccessOf(ctx context.Context, name string) (string, error) {
	admin, err := s.IsBrokerAdmin(ctx, name)
	if err != nil {
		return "", err
	}
	return (&Identity{Name: name, Admin: admin}).ControllerAccess(), nil
}

// ModelAccess returns the caller's access to a model (admin, write, read
// or none).
func (s *Service) ModelAccess(ctx context.Context, id *Identity, m *db.Model) (string, error) {
	if id.Admin {
		return authz.AccessAdmin, nil
	}
	access, err := s.rel.ModelAccess(ctx, id.Subject(), m.UUID, m.Controller.Name)
	if err != nil {
		return "", fmt.Errorf("check access of %q to model %s: %w", id.Name, m.UUID, err)
	}
	return access, nil
}

// CloudAccess returns the caller's access to a cloud as Juju names it:
// admin, add-model, or "".
func (s *Service) CloudAccess(ctx context.Context, id *Identity, cloud string) (string, error) {
	if id.Admin {
		return "admin", nil
	}
	object := authz.KindCloud + ":" + cloud
	for _, c := range []struct{ relation, access string }{{authz.Administrator, "admin"}, {authz.CanAddModel, "add-model"}} {
		ok, err := s.rel.Check(ctx, id.Subject(), c.relation, object)
		if err != nil {
			return "", fmt.Errorf("check access of %q to cloud %q: %w", id.Name, cloud, err)
		}
		if ok {
			return c.access, nil
		}
	}
	return "", nil
}

// CloudForNewModel checks that a caller who is not a broker administrator
// may add a model to cloud (can_addmodel, or administrator, of it). With
// no cloud named, it picks the one cloud the caller may add models to.
func (s *Service) CloudForNewModel(ctx context.Context, id *Identity, cloud string) (string, error) {
	clouds, err := s.rel.Objects(ctx, id.Subject(), authz.CanAddModel, authz.KindCloud)
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

// Models returns the models the user named user can see, with the best
// access it has to each, in one query: those it or its groups have a
// relation to, and those on the controllers it administers. all (admins
// only), or a broker administrator, gets every model with admin.
func (s *Service) Models(ctx context.Context, user string, all bool) ([]db.ModelAccess, error) {
	subjects, controllers, err := s.modelScope(ctx, user, all)
	if err != nil {
		return nil, err
	}
	all = subjects == nil
	rows, err := s.db.ModelsFor(ctx, subjects, controllers)
	if err != nil {
		return nil, err
	}
	// One row per relation: keep each model once, with its best access.
	out := rows[:0]
	index := map[string]int{}
	for _, row := range rows {
		row.Relation = authz.RelationAccess(row.Relation)
		if all {
			row.Relation = authz.AccessAdmin
		}
		if i, seen := index[row.UUID]; seen {
			if authz.AccessRank(row.Relation) > authz.AccessRank(out[i].Relation) {
				out[i].Relation = row.Relation
			}
			continue
		}
		index[row.UUID] = len(out)
		out = append(out, row)
	}
	return out, nil
}

// EachModel calls fn with each model the user named user can see, once,
// with its best access to it, in the order owner, name, as the rows are
// read (db.EachModelFor): what Models returns, for a listing that encodes
// as it reads, with one access decision for the listing, never one per
// model. fn is given the same *db.ListedModel each time; an error from fn
// stops the listing.
func (s *Service) EachModel(ctx context.Context, user string, all bool, fn func(m *db.ListedModel, access string) error) error {
	subjects, controllers, err := s.modelScope(ctx, user, all)
	if err != nil {
		return err
	}
	if subjects == nil {
		return s.db.EachModelFor(ctx, nil, nil, func(m *db.ListedModel) error {
			return fn(m, authz.AccessAdmin)
		})
	}
	// One row per relation, a model's rows one after the other: each model
	// goes out once its last row is read, with the best access of them.
	var (
		pending db.ListedModel
		held    bool
	)
	err = s.db.EachModelFor(ctx, subjects, controllers, func(m *db.ListedModel) error {
		access := authz.RelationAccess(m.Relation)
		if held && m.UUID == pending.UUID {
			if authz.AccessRank(access) > authz.AccessRank(pending.Relation) {
				pending.Relation = access
			}
			return nil
		}
		if held {
			if err := fn(&pending, pending.Relation); err != nil {
				return err
			}
		}
		pending, held = *m, true
		pending.Relation = access
		return nil
	})
	if err != nil {
		return err
	}
	if held {
		return fn(&pending, pending.Relation)
	}
	return nil
}

// modelScope is the one access decision a listing of user's models needs:
// every model (nil subjects: all asked for, or user is a broker
// administrator), or those of the subjects (user and its groups) and of
// the controllers user administers, as db.ModelsFor and db.EachModelFor
// take them.
func (s *Service) modelScope(ctx context.Context, user string, all bool) (subjects, controllers []string, err error) {
	if !all {
		if all, err = s.IsBrokerAdmin(ctx, user); err != nil {
			return nil, nil, err
		}
	}
	if all {
		return nil, nil, nil
	}
	if subjects, err = s.rel.Subjects(ctx, SubjectOf(user)); err != nil {
		return nil, nil, fmt.Errorf("list the groups of %q: %w", user, err)
	}
	if subjects == nil {
		subjects = []string{} // nil means every model
	}
	if controllers, err = s.rel.Objects(ctx, SubjectOf(user), authz.Administrator, authz.KindController); err != nil {
		return nil, nil, fmt.Errorf("list the controllers %q administers: %w", user, err)
	}
	return subjects, controllers, nil
}

// DirectModelRank is the best model relation subject holds on the model
// itself (not through groups), as an access rank: 0 none, 1 reader, 2
// writer, 3 administrator.
func (s *Service) DirectModelRank(ctx context.Context, subject, modelUUID string) (int, error) {
	tuples, err := s.rel.List(ctx, authz.Filter{Subject: subject, Object: authz.KindModel + ":" + modelUUID})
	if err != nil {
		return 0, fmt.Errorf("look up the access of %s to model %s: %w", subject, modelUUID, err)
	}
	best := 0
	for _, t := range tuples {
		best = max(best, authz.AccessRank(authz.RelationAccess(t.Relation)))
	}
	return best, nil
}
