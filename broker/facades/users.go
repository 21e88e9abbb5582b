package facades

import (
	"context"
	"sort"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// addUser refuses: the broker's people come from its identity provider,
// and what they may do is granted to them there, not by adding a local
// user with a password.
func (s *session) addUser(_ context.Context, p params.AddUsers) (params.AddUserResults, error) {
	out := params.AddUserResults{Results: make([]params.AddUserResult, len(p.Users))}
	for i, u := range p.Users {
		out.Results[i].Error = jujuapi.Errorf(jujuapi.CodeNotSupported,
			"cannot add user %q: users of this controller come from its identity provider; %q can log in with juju login, and be granted access with juju grant or jimmctl auth relation add", u.Username, u.Username)
	}
	return out, nil
}

// modelUserInfo lists the users who hold access to models directly (not
// through a group or by administering a controller), each with the best
// access they hold, for a caller who may read the model.
func (s *session) modelUserInfo(ctx context.Context, p params.Entities) (params.ModelUserInfoResults, error) {
	var out params.ModelUserInfoResults
	for _, e := range p.Entities {
		infos, err := s.modelUsers(ctx, e.Tag)
		if err != nil {
			return params.ModelUserInfoResults{}, err
		}
		out.Results = append(out.Results, infos...)
	}
	return out, nil
}

func (s *session) modelUsers(ctx context.Context, tag string) ([]params.ModelUserInfoResult, error) {
	m, _, err := s.hostedModelAccess(ctx, tag, authz.AccessRead)
	if err != nil {
		return nil, err
	}
	users, err := s.usersOf(ctx, m)
	if err != nil {
		return nil, err
	}
	out := make([]params.ModelUserInfoResult, len(users))
	for i := range users {
		users[i].ModelTag = tag
		out[i].Result = &users[i]
	}
	return out, nil
}

// usersOf lists, by name, the users who hold access to model m directly,
// each with the best access they hold.
func (s *session) usersOf(ctx context.Context, m *db.Model) ([]params.ModelUserInfo, error) {
	tuples, err := s.api.rel.List(ctx, authz.Filter{Object: authz.KindModel + ":" + m.UUID})
	if err != nil {
		return nil, err
	}
	best := map[string]string{}
	for _, t := range tuples {
		user, ok := identity.NameOf(t.Subject)
		if !ok {
			continue
		}
		if a := authz.RelationAccess(t.Relation); authz.AccessRank(a) > authz.AccessRank(best[user]) {
			best[user] = a
		}
	}
	names := make([]string, 0, len(best))
	for name := range best {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]params.ModelUserInfo, len(names))
	for i, name := range names {
		out[i] = params.ModelUserInfo{UserName: name, DisplayName: name, Access: params.UserAccessPermission(best[name])}
	}
	return out, nil
}
