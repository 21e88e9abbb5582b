package devcontroller

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Cloud, Controller and UserManager facades.

func (c *Controller) cloudParams() params.Cloud {
	cl := params.Cloud{Type: c.cfg.CloudType, AuthTypes: []string{"certificate", "interactive"}, IsControllerCloud: true}
	if c.cfg.CloudType != "lxd" {
		cl.AuthTypes = []string{"userpass"}
	}
	for _, r := range c.cfg.Regions {
		cl.Regions = append(cl.Regions, params.CloudRegion{Name: r})
	}
	return cl
}

func (s *session) clouds(context.Context) (params.CloudsResult, error) {
	return params.CloudsResult{Clouds: map[string]params.Cloud{
		jujuapi.CloudTag(s.ctl.cfg.Cloud).String(): s.ctl.cloudParams(),
	}}, nil
}

func (s *session) cloud(_ context.Context, p params.Entities) (params.CloudResults, error) {
	out := params.CloudResults{Results: make([]params.CloudResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseCloudTag(e.Tag)
		switch {
		case err != nil:
			out.Results[i].Error = paramsError(err)
		case t.ID != s.ctl.cfg.Cloud:
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("cloud %q", t.ID))
		default:
			cl := s.ctl.cloudParams()
			out.Results[i].Cloud = &cl
		}
	}
	return out, nil
}

func (s *session) controllerVersion(context.Context) (params.ControllerVersionResults, error) {
	return params.ControllerVersionResults{Version: s.ctl.cfg.AgentVersion}, nil
}

func (s *session) getControllerAccess(_ context.Context, p params.Entities) (params.UserAccessResults, error) {
	out := params.UserAccessResults{Results: make([]params.UserAccessResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		var access string
		switch {
		case t.ID == s.identity():
			access = s.controllerAccess()
		case !s.isSuperuser():
			out.Results[i].Error = paramsError(jujuapi.ErrPerm)
			continue
		default:
			u, ok := s.ctl.store.User(t.ID)
			if !ok {
				out.Results[i].Error = paramsError(jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", t.ID))
				continue
			}
			access = u.Access
		}
		out.Results[i].Result = &params.UserAccess{UserTag: e.Tag, Access: access}
	}
	return out, nil
}

func (s *session) identityProviderURL(context.Context) (params.StringResult, error) {
	return params.StringResult{}, nil
}

func (s *session) userInfo(_ context.Context, p params.UserInfoRequest) (params.UserInfoResults, error) {
	var names []string
	if len(p.Entities) == 0 {
		for _, u := range s.ctl.store.Users() {
			if s.isSuperuser() || u.Name == s.identity() {
				names = append(names, u.Name)
			}
		}
	}
	out := params.UserInfoResults{Results: []params.UserInfoResult{}}
	for _, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(err)})
			continue
		}
		names = append(names, t.ID)
	}
	for _, name := range names {
		u, ok := s.ctl.store.User(name)
		switch {
		case name != s.identity() && !s.isSuperuser():
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(jujuapi.ErrPerm)})
		case !ok && name == s.identity():
			// A token user the controller has no record of: describe it
			// from the token.
			out.Results = append(out.Results, params.UserInfoResult{Result: &params.UserInfo{
				Username: name, DisplayName: s.ctl.displayName(name), Access: s.controllerAccess(),
				LastConnection: s.ctl.lastConnection(name),
			}})
		case !ok:
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", name))})
		case u.Disabled && !p.IncludeDisabled && len(p.Entities) == 0:
		default:
			out.Results = append(out.Results, params.UserInfoResult{Result: &params.UserInfo{
				Username: u.Name, DisplayName: u.DisplayName, Access: u.Access, CreatedBy: u.CreatedBy,
				DateCreated: u.CreatedAt, LastConnection: s.ctl.lastConnection(u.Name), Disabled: u.Disabled,
			}})
		}
	}
	return out, nil
}

// validUserName is Juju's rule for local user names.
var validUserName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.+-]*[a-zA-Z0-9]$|^[a-zA-Z0-9]$`)

func (s *session) addUser(ctx context.Context, p params.AddUsers) (params.AddUserResults, error) {
	out := params.AddUserResults{Results: make([]params.AddUserResult, len(p.Users))}
	if !s.isSuperuser() {
		for i := range out.Results {
			out.Results[i].Error = paramsError(jujuapi.ErrPerm)
		}
		return out, nil
	}
	for i, a := range p.Users {
		if err := s.addOneUser(ctx, a); err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		out.Results[i].Tag = jujuapi.UserTag(a.Username).String()
	}
	return out, nil
}

func (s *session) addOneUser(ctx context.Context, a params.AddUser) error {
	if !validUserName.MatchString(a.Username) {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "invalid user name %q", a.Username)
	}
	if _, exists := s.ctl.store.User(a.Username); exists {
		return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "failed to create user: user %q already exists", a.Username)
	}
	var hash string
	if a.Password != "" {
		var err error
		if hash, err = hashPassword(a.Password); err != nil {
			return err
		}
	}
	_, err := s.ctl.store.UpdateUser(ctx, a.Username, true, func(u *store.User) error {
		if !u.CreatedAt.IsZero() {
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "failed to create user: user %q already exists", a.Username)
		}
		u.DisplayName, u.PasswordHash, u.Access = a.DisplayName, hash, store.AccessLogin
		u.CreatedBy, u.CreatedAt = s.identity(), time.Now().UTC()
		return nil
	})
	if err != nil {
		return fmt.Errorf("add user %q: %w", a.Username, err)
	}
	s.ctl.log.Info("user added", "user", a.Username, "by", s.identity())
	return nil
}
