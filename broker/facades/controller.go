package facades

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/migration"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

func (s *session) controllerVersion(context.Context) (params.ControllerVersionResults, error) {
	return params.ControllerVersionResults{Version: s.api.jujuVersion}, nil
}

func (s *session) getControllerAccess(ctx context.Context, p params.Entities) (params.UserAccessResults, error) {
	id := s.caller()
	out := params.UserAccessResults{Results: make([]params.UserAccessResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		switch {
		case err != nil:
			out.Results[i].Error = s.asError(err)
		case t.ID != id.Name && !id.Admin:
			out.Results[i].Error = jujuapi.ErrPerm
		default:
			access, err := s.api.identity.ControllerAccessOf(ctx, t.ID)
			if err != nil {
				out.Results[i].Error = s.asError(err)
				continue
			}
			out.Results[i].Result = &params.UserAccess{UserTag: e.Tag, Access: access}
		}
	}
	return out, nil
}

func (s *session) identityProviderURL(context.Context) (params.StringResult, error) {
	return params.StringResult{}, nil
}

// userInfo describes identities the broker knows: the caller, or anyone
// for an admin.
func (s *session) userInfo(ctx context.Context, p params.UserInfoRequest) (params.UserInfoResults, error) {
	id := s.caller()
	var names []string
	for _, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			return params.UserInfoResults{}, err
		}
		names = append(names, t.ID)
	}
	query := names
	if len(names) == 0 && !id.Admin {
		query = []string{id.Name}
	}
	rows, err := s.api.db.Identities(ctx, query)
	if err != nil {
		return params.UserInfoResults{}, err
	}
	byName := map[string]db.Identity{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	if len(names) == 0 {
		for _, r := range rows {
			names = append(names, r.Name)
		}
	}
	out := params.UserInfoResults{Results: make([]params.UserInfoResult, len(names))}
	for i, name := range names {
		r, ok := byName[name]
		switch {
		case name != id.Name && !id.Admin:
			out.Results[i].Error = jujuapi.ErrPerm
		case !ok:
			out.Results[i].Error = jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", name)
		default:
			access, err := s.api.identity.ControllerAccessOf(ctx, name)
			if err != nil {
				out.Results[i].Error = s.asError(err)
				continue
			}
			var last *time.Time
			if r.LastLogin != nil {
				t := r.LastLogin.UTC()
				last = &t
			}
			out.Results[i].Result = &params.UserInfo{
				Username: r.Name, DisplayName: r.DisplayName, Access: access,
				DateCreated: r.CreatedAt.UTC(), LastConnection: last, Disabled: r.Disabled,
			}
		}
	}
	return out, nil
}

// controllerConfig is the broker's own controller config: what a client
// may know of the controller it talks to (never a hosting controller's).
func (s *session) controllerConfig(context.Context) (params.ControllerConfigResult, error) {
	a := s.api
	cfg := map[string]any{
		"controller-uuid":         a.brokerUUID,
		"controller-name":         a.controllerName,
		"login-token-refresh-url": "https://" + a.publicAddress + authz.JWKSPath,
	}
	if _, port, err := net.SplitHostPort(a.publicAddress); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			cfg["api-port"] = p
		}
	}
	if a.caCert != "" {
		cfg["ca-cert"] = a.caCert
	}
	return params.ControllerConfigResult{Config: cfg}, nil
}

// controllerModelConfig answers Controller.ModelConfig, the controller
// model's config, which clients read for the controller's agent version
// (upgrade-model) and name: the broker has no controller model of its
// own, so it describes itself. Superusers only, as Juju.
func (s *session) controllerModelConfig(context.Context) (params.ModelConfigResults, error) {
	if !s.caller().Admin {
		return params.ModelConfigResults{}, jujuapi.ErrPerm
	}
	a := s.api
	out := params.ModelConfigResults{Config: map[string]params.ConfigValue{}}
	for k, v := range map[string]any{"name": "controller", "type": "broker", "uuid": a.brokerUUID, "agent-version": a.jujuVersion} {
		out.Config[k] = params.ConfigValue{Value: v, Source: "model"}
	}
	return out, nil
}

// initiateMigration answers juju migrate: a model moves to another of the
// broker's controllers, named by the target's controller tag, as jimmctl
// migrate moves it (the same prechecks, the same flip). The credentials
// the client gives for the target are not used: the broker has its own.
func (s *session) initiateMigration(ctx context.Context, p params.InitiateMigrationArgs) (params.InitiateMigrationResults, error) {
	out := params.InitiateMigrationResults{Results: make([]params.InitiateMigrationResult, len(p.Specs))}
	if !s.caller().Admin {
		return out, jujuapi.ErrPerm
	}
	for i, spec := range p.Specs {
		out.Results[i].ModelTag = spec.ModelTag
		id, err := s.migrateOne(ctx, spec)
		if err != nil {
			out.Results[i].Error = s.asError(err)
			continue
		}
		out.Results[i].MigrationId = id
	}
	return out, nil
}

func (s *session) migrateOne(ctx context.Context, spec params.MigrationSpec) (string, error) {
	a := s.api
	model, err := jujuapi.ParseModelTag(spec.ModelTag)
	if err != nil {
		return "", err
	}
	ctlTag, err := jujuapi.ParseControllerTag(spec.TargetInfo.ControllerTag)
	if err != nil {
		return "", err
	}
	target, err := a.db.ControllerByUUID(ctx, ctlTag.ID)
	if errors.Is(err, db.ErrNotFound) {
		name := spec.TargetInfo.ControllerAlias
		if name == "" {
			name = ctlTag.ID
		}
		return "", jujuapi.Errorf(jujuapi.CodeNotSupported,
			"controller %q is not one of this broker's controllers: the broker moves models only between the controllers registered with it (jimmctl list-controllers); an administrator can register it with jimmctl add-controller", name)
	}
	if err != nil {
		return "", err
	}
	mig, err := a.migrations.Migrate(ctx, target.Name, model.ID, migration.Options{})
	if err != nil {
		msg := err.Error()
		for _, prefix := range []string{migration.ErrRunning.Error() + ": ", migration.ErrRefused.Error() + ": "} {
			msg = strings.TrimPrefix(msg, prefix)
		}
		if errors.Is(err, migration.ErrRefused) {
			return "", jujuapi.Errorf(jujuapi.CodeNotValid, "%s", msg)
		}
		return "", err
	}
	s.logger().Info("migration started by juju migrate", "model", model.ID, "to", target.Name, "migration", mig.ID)
	return mig.ControllerMigrationID, nil
}

// allModels answers Controller.AllModels (show-controller, for
// superusers): every model the broker routes.
func (s *session) allModels(ctx context.Context) (*jujuapi.ResultBuffer, error) {
	if !s.caller().Admin {
		return nil, jujuapi.ErrPerm
	}
	return s.encodeListing(ctx, s.caller().Name, true, "user-models", appendUserModel)
}

// mongoVersion answers that there is no MongoDB version to give: the
// broker's state is in its own database (show-controller then shows no
// mongo-version).
func (s *session) mongoVersion(context.Context) (params.StringResult, error) {
	return params.StringResult{}, nil
}

// listBlockedModels answers Controller.ListBlockedModels (juju
// disabled-commands --all, for superusers): each controller's blocked
// models that the broker routes to it. A controller that cannot be asked
// is left out.
func (s *session) listBlockedModels(ctx context.Context) (params.ModelBlockInfoList, error) {
	a := s.api
	if !s.caller().Admin {
		return params.ModelBlockInfoList{}, jujuapi.ErrPerm
	}
	ctls, err := a.registry.List(ctx)
	if err != nil {
		return params.ModelBlockInfoList{}, err
	}
	var out params.ModelBlockInfoList
	for _, c := range ctls {
		if !a.up(c.Name) {
			continue
		}
		client, err := a.pool.Get(ctx, c.Name)
		if err != nil {
			continue
		}
		var res params.ModelBlockInfoList
		if err := client.Call(ctx, "Controller", 11, "ListBlockedModels", nil, &res); err != nil {
			s.logger().Warn("cannot list a controller's blocked models", "controller", c.Name, "err", err)
			continue
		}
		for _, m := range res.Models {
			if routed, err := a.db.ModelByUUID(ctx, m.UUID); err == nil && routed.ControllerID == c.ID {
				out.Models = append(out.Models, m)
			}
		}
	}
	return out, nil
}
