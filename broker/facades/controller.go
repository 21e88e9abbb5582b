package facades

import (
	"context"
	"slices"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// clouds aggregates the clouds of every controller: one entry per cloud,
// with the union of the regions its controllers host.
func (s *session) clouds(ctx context.Context) (params.CloudsResult, error) {
	ctls, err := s.api.registry.List(ctx)
	if err != nil {
		return params.CloudsResult{}, err
	}
	out := params.CloudsResult{Clouds: map[string]params.Cloud{}}
	for _, c := range ctls {
		tag := jujuapi.CloudTag(c.Cloud).String()
		cl, ok := out.Clouds[tag]
		if !ok {
			cl = params.Cloud{Type: c.CloudType, AuthTypes: []string{"certificate"}}
		}
		for _, r := range c.Regions {
			if !slices.ContainsFunc(cl.Regions, func(x params.CloudRegion) bool { return x.Name == r }) {
				cl.Regions = append(cl.Regions, params.CloudRegion{Name: r})
			}
		}
		out.Clouds[tag] = cl
	}
	return out, nil
}

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
			out.Results[i].Error = jujuapi.AsError(err)
		case t.ID != id.Name && !id.Admin:
			out.Results[i].Error = jujuapi.ErrPerm
		default:
			access, err := s.api.identity.ControllerAccessOf(ctx, t.ID)
			if err != nil {
				out.Results[i].Error = jujuapi.AsError(err)
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
				out.Results[i].Error = jujuapi.AsError(err)
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
