package facades

import (
	"context"
	"errors"
	"fmt"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ModelManager.ModifyModelAccess ("juju grant", "juju revoke") edits the
// same relation tuples as "jimmctl auth relation": read, write and admin
// are the model relations reader, writer and administrator. A user holds
// one of them directly at a time, as in Juju:
//   - granting a level the user already has (or more) is an error;
//     granting more replaces what the user had;
//   - revoking a level leaves the level below it (revoking read removes
//     all access).
// Access through groups or controller administration is not changed.

// modelRelations are the model relations by rank (authz.AccessRank of
// their authz.RelationAccess), lowest first.
var modelRelations = []string{authz.Reader, authz.Writer, authz.Administrator}

func (s *session) modifyModelAccess(ctx context.Context, p params.ModifyModelAccessRequest) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Changes))}
	for i, c := range p.Changes {
		if err := s.modifyOne(ctx, c); err != nil {
			out.Results[i].Error = s.asError(err)
		}
	}
	return out, nil
}

func (s *session) modifyOne(ctx context.Context, c params.ModifyModelAccess) error {
	a := s.api
	m, err := s.hostedModel(ctx, c.ModelTag, authz.AccessAdmin)
	if err != nil {
		return err
	}
	user, err := jujuapi.ParseUserTag(c.UserTag)
	if err != nil {
		return err
	}
	rank := authz.AccessRank(string(c.Access)) // 1 read, 2 write, 3 admin
	if rank == 0 {
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "invalid model access %q: want read, write or admin", c.Access)
	}
	subject := identity.SubjectOf(user.ID)
	object := authz.KindModel + ":" + m.UUID
	have, err := a.identity.DirectModelRank(ctx, subject, m.UUID)
	if err != nil {
		return err
	}
	var want int
	switch c.Action {
	case params.GrantModelAccess:
		if have >= rank {
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "user already has %q access or greater", modelRelations[have-1])
		}
		want = rank
	case params.RevokeModelAccess:
		if have == 0 {
			return jujuapi.NotFoundf("%q access of user %q to model %q", c.Access, user.ID, m.Name)
		}
		if have < rank {
			return nil // nothing at that level to take away
		}
		want = rank - 1
	default:
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "invalid action %q: want grant or revoke", c.Action)
	}
	for r := 1; r <= len(modelRelations); r++ {
		t := authz.Tuple{Subject: subject, Relation: modelRelations[r-1], Object: object}
		switch {
		case r == want:
			err = a.rel.Add(ctx, t)
		case r != want:
			if err = a.rel.Remove(ctx, t); errors.Is(err, db.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("%s %s access of %q to model %q: %w", c.Action, c.Access, user.ID, m.Name, err)
		}
	}
	s.logger().Info("model access changed", "user", user.ID, "model", m.UUID, "action", c.Action, "access", c.Access)
	return nil
}
