package facades

import (
	"context"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// forUser checks that the caller may list the models of the user named by
// tag: itself, or anyone for an admin.
func (s *session) forUser(tag string) (string, error) {
	t, err := jujuapi.ParseUserTag(tag)
	if err != nil {
		return "", err
	}
	id := s.caller()
	if t.ID != id.Name && !id.Admin {
		return "", jujuapi.ErrPerm
	}
	return t.ID, nil
}

// listModels answers ModelManager.ListModels: the models the user named
// by p can see, encoded as they are read (identity.Service.EachModel).
func (s *session) listModels(ctx context.Context, p params.Entity) (*jujuapi.ResultBuffer, error) {
	user, err := s.forUser(p.Tag)
	if err != nil {
		return nil, err
	}
	return s.encodeListing(ctx, user, false, "user-models", appendUserModel)
}

// encodeListing encodes the models the user named user can see (every
// model for all) as they are read (identity.Service.EachModel), each with
// one, as the list member of an object: {"<member>":[...]}.
func (s *session) encodeListing(ctx context.Context, user string, all bool, member string,
	one func(b []byte, m *db.ListedModel, access string) ([]byte, error)) (*jujuapi.ResultBuffer, error) {
	rb := jujuapi.NewResultBuffer(64 << 10)
	b := append(append(append(rb.B, `{"`...), member...), `":[`...)
	first := true
	err := s.api.identity.EachModel(ctx, user, all, func(m *db.ListedModel, access string) (err error) {
		if b = roomFor(b); !first {
			b = append(b, ',')
		}
		first = false
		b, err = one(b, m, access)
		return err
	})
	if err != nil {
		return nil, err
	}
	rb.B = append(b, "]}"...)
	return rb, nil
}

// listModelSummaries answers ModelManager.ListModelSummaries: the
// summaries of the models the user named by p can see (every model for
// p.All, administrators only), encoded as they are read.
func (s *session) listModelSummaries(ctx context.Context, p params.ModelSummariesRequest) (*jujuapi.ResultBuffer, error) {
	user, err := s.forUser(p.UserTag)
	if err != nil {
		return nil, err
	}
	if p.All && !s.caller().Admin {
		return nil, jujuapi.ErrPerm
	}
	return s.encodeListing(ctx, user, p.All, "results", s.api.appendSummaryResult)
}

// hostedModel returns a model's route if the caller has at least want on
// it. A caller without any access is told the model is not found.
func (s *session) hostedModel(ctx context.Context, tag, want string) (*db.Model, error) {
	m, _, err := s.hostedModelAccess(ctx, tag, want)
	return m, err
}

// hostedModelAccess is hostedModel that also returns the caller's access.
func (s *session) hostedModelAccess(ctx context.Context, tag, want string) (*db.Model, string, error) {
	t, err := jujuapi.ParseModelTag(tag)
	if err != nil {
		return nil, "", err
	}
	m, err := s.api.routes.Route(ctx, t.ID)
	if err != nil {
		return nil, "", err
	}
	have, err := s.api.identity.ModelAccess(ctx, s.caller(), m)
	if err != nil {
		return nil, "", err
	}
	if have == authz.AccessNone {
		return nil, "", jujuapi.NotFoundf("model %q", t.ID)
	}
	if authz.AccessRank(have) < authz.AccessRank(want) {
		return nil, "", jujuapi.ErrPerm
	}
	return m, have, nil
}

// hideController replaces what would reveal the hosting controller in a
// model's info with the broker's own identity.
func (a *API) hideController(info *params.ModelInfo) {
	info.ControllerUUID = a.brokerUUID
}

func (s *session) modelInfo(ctx context.Context, p params.Entities) (params.ModelInfoResults, error) {
	out := params.ModelInfoResults{Results: make([]params.ModelInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		info, err := s.oneModelInfo(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = s.asError(err)
			continue
		}
		out.Results[i].Result = info
	}
	return out, nil
}

func (s *session) oneModelInfo(ctx context.Context, tag string) (*params.ModelInfo, error) {
	a := s.api
	m, access, err := s.hostedModelAccess(ctx, tag, authz.AccessRead)
	if err != nil {
		return nil, err
	}
	var info params.ModelInfo
	err = a.routes.OnController(ctx, m, func(c *controllers.Client) (err error) {
		info, err = c.ModelInfo(ctx, m.UUID)
		return err
	})
	if err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			a.routes.RemoveModel(ctx, m.UUID)
		}
		return nil, jujuapi.AsError(jujuapi.Underlying(dbfault.ForClient(err, s.logger())))
	}
	a.hideController(&info)
	if err := s.brokerModelUsers(ctx, m, access, &info); err != nil {
		return nil, err
	}
	a.recordCounts(ctx, m.UUID, len(info.Machines), -1)
	return &info, nil
}

// brokerModelUsers lists in info the users with access to the model as
// the broker's relations say (the controller knows only those who used
// it): all of them for a model administrator (access is the caller's),
// else the caller alone, as Juju answers. A user's last connection is the
// controller's, when it has one.
func (s *session) brokerModelUsers(ctx context.Context, m *db.Model, access string, info *params.ModelInfo) error {
	users, err := s.usersOf(ctx, m)
	if err != nil {
		return err
	}
	last := map[string]*time.Time{}
	for _, u := range info.Users {
		last[u.UserName] = u.LastConnection
	}
	info.Users = info.Users[:0]
	for _, u := range users {
		if access != authz.AccessAdmin && u.UserName != s.caller().Name {
			continue
		}
		u.LastConnection = last[u.UserName]
		info.Users = append(info.Users, u)
	}
	return nil
}

func (s *session) destroyModels(ctx context.Context, p params.DestroyModelsParams) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Models))}
	for i, d := range p.Models {
		if err := s.destroyModel(ctx, d); err != nil {
			out.Results[i].Error = s.asError(err)
		}
	}
	return out, nil
}

func (s *session) destroyModel(ctx context.Context, d params.DestroyModelParams) error {
	a := s.api
	m, err := s.hostedModel(ctx, d.ModelTag, authz.AccessAdmin)
	if err != nil {
		return err
	}
	d.ModelTag = jujuapi.ModelTag(m.UUID).String()
	err = a.routes.OnController(ctx, m, func(c *controllers.Client) error { return c.DestroyModelWith(ctx, d) })
	if err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			a.routes.RemoveModel(ctx, m.UUID)
			return nil
		}
		return jujuapi.Underlying(err)
	}
	return a.routes.ModelDying(ctx, m.UUID)
}

func (s *session) modelStatus(ctx context.Context, p params.Entities) (params.ModelStatusResults, error) {
	out := params.ModelStatusResults{Results: make([]params.ModelStatus, len(p.Entities))}
	for i, e := range p.Entities {
		out.Results[i].ModelTag = e.Tag
		st, err := s.oneModelStatus(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = s.asError(err)
			continue
		}
		out.Results[i] = st
	}
	return out, nil
}

func (s *session) oneModelStatus(ctx context.Context, tag string) (params.ModelStatus, error) {
	a := s.api
	m, err := s.hostedModel(ctx, tag, authz.AccessAdmin)
	if err != nil {
		return params.ModelStatus{}, err
	}
	var st params.ModelStatus
	err = a.routes.OnController(ctx, m, func(c *controllers.Client) (err error) {
		st, err = c.ModelStatus(ctx, m.UUID)
		return err
	})
	if err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			// Gone from its controller: gone from the routing table.
			a.routes.RemoveModel(ctx, m.UUID)
			return params.ModelStatus{}, jujuapi.NotFoundf("model %q", m.UUID)
		}
		return params.ModelStatus{}, jujuapi.Underlying(err)
	}
	a.recordCounts(ctx, m.UUID, st.HostedMachineCount, st.UnitCount)
	return st, nil
}

// recordCounts keeps the counts shown in model summaries; -1 leaves a
// count as it is.
func (a *API) recordCounts(ctx context.Context, uuid string, machines, units int) {
	if err := a.db.SetModelCounts(ctx, uuid, machines, units); err != nil {
		a.log.Debug("cannot record model counts", "model", uuid, "err", err)
	}
}
