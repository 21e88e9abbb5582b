package broker

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
func (a *apiSession) clouds(ctx context.Context) (params.CloudsResult, error) {
	ctls, err := a.srv.registry.List(ctx)
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

func (a *apiSession) controllerVersion(context.Context) (params.ControllerVersionResults, error) {
	return params.ControllerVersionResults{Version: a.srv.cfg.JujuVersion}, nil
}

func (a *apiSession) getControllerAccess(ctx context.Context, p params.Entities) (params.UserAccessResults, error) {
	id := a.caller()
	out := params.UserAccessResults{Results: make([]params.UserAccessResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		switch {
		case err != nil:
			out.Results[i].Error = jujuapi.AsError(err)
		case t.ID != id.Name && !id.Admin:
			out.Results[i].Error = jujuapi.ErrPerm
		default:
			access, err := a.srv.controllerAccessOf(ctx, t.ID)
			if err != nil {
				out.Results[i].Error = jujuapi.AsError(err)
				continue
			}
			out.Results[i].Result = &params.UserAccess{UserTag: e.Tag, Access: access}
		}
	}
	return out, nil
}

func (a *apiSession) identityProviderURL(context.Context) (params.StringResult, error) {
	return params.StringResult{}, nil
}

// userInfo describes identities the broker knows: the caller, or anyone
// for an admin.
func (a *apiSession) userInfo(ctx context.Context, p params.UserInfoRequest) (params.UserInfoResults, error) {
	id := a.caller()
	var names []string
	for _, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			return params.UserInfoResults{}, err
		}
		names = append(names, t.ID)
	}
	q := a.srv.db.WithContext(ctx).Order("name")
	switch {
	case len(names) > 0:
		q = q.Where("name IN ?", names)
	case !id.Admin:
		q = q.Where("name = ?", id.Name)
	}
	var rows []db.Identity
	if err := q.Find(&rows).Error; err != nil {
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
			access, err := a.srv.controllerAccessOf(ctx, name)
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
