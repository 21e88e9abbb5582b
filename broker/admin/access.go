package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/restapi"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/input"
)

// The access API: groups (broker administrators only) and relation tuples
// (whoever administers a tuple's object may add and remove it; anyone may
// list and check their own). Each handler checks the caller's access
// itself.

// accessError maps an error of the relation and group engine to an HTTP
// error: an invalid tuple or name is a bad request, a missing group or
// tuple is not found, an existing group a conflict.
func accessError(err error) error {
	switch {
	case errors.Is(err, authz.ErrInvalidTuple):
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, err.Error())
	case errors.Is(err, db.ErrNotFound):
		return restError(http.StatusNotFound, restapi.CodeNotFound, err.Error())
	case errors.Is(err, db.ErrDuplicate):
		// Never the database's words.
		return restError(http.StatusConflict, restapi.CodeAlreadyExists, "it already exists")
	}
	return err
}

// requireBrokerAdmin refuses a caller who is not a broker administrator,
// saying what they tried to do.
func requireBrokerAdmin(id *identity.Identity, what string) error {
	if id.Admin {
		return nil
	}
	return restError(http.StatusForbidden, restapi.CodeForbidden,
		fmt.Sprintf("%s needs broker administrator access (administrator of %s); %s does not have it", what, identity.BrokerObject, id.Name))
}

// checkSubject validates a subject, suggesting the full form for a bare
// name.
func checkSubject(subject string) error {
	if err := input.Text("subject", subject, input.MaxSubject); err != nil {
		return badInput(err)
	}
	err := authz.ParseSubject(subject)
	if err == nil {
		return nil
	}
	if subject == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest,
			"no subject given: want user:<name>, serviceaccount:<client-id> or group:<name>#member")
	}
	if !strings.Contains(subject, ":") {
		hint := "user:" + subject
		if sa, ok := strings.CutSuffix(subject, authz.ServiceAccountDomain); ok {
			hint = authz.KindServiceAccount + ":" + sa
		}
		return restError(http.StatusBadRequest, restapi.CodeBadRequest,
			fmt.Sprintf("bad subject %q: subjects are user:<name>, serviceaccount:<client-id> or group:<name>#member (did you mean %s?)", subject, hint))
	}
	return accessError(err)
}

// checkObject validates an object, saying which forms there are.
func checkObject(object string) error {
	if err := input.Text("object", object, input.MaxSubject); err != nil {
		return badInput(err)
	}
	err := authz.ParseObject(object)
	if err == nil {
		return nil
	}
	if object == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest,
			"no object given: want controller:<name>, cloud:<name>, model:<uuid> or group:<name>")
	}
	if !strings.Contains(object, ":") {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest,
			fmt.Sprintf("bad object %q: objects are controller:<name> (controller:%s is the broker), cloud:<name>, model:<uuid> or group:<name>", object, authz.BrokerController))
	}
	return accessError(err)
}

// checkTuple validates a tuple, with checkSubject's and checkObject's
// hints.
func checkTuple(t authz.Tuple) error {
	if err := checkSubject(t.Subject); err != nil {
		return err
	}
	if err := checkObject(t.Object); err != nil {
		return err
	}
	if err := input.Text("relation", t.Relation, input.MaxName); err != nil {
		return badInput(err)
	}
	if t.Relation == "" {
		return restError(http.StatusBadRequest, restapi.CodeBadRequest, "no relation given for "+t.Subject+" on "+t.Object)
	}
	return accessError(t.Validate())
}

func restGroup(g db.Group) restapi.Group {
	return restapi.Group{Name: g.Name, UUID: g.UUID, CreatedAt: g.CreatedAt.UTC()}
}

func (a *API) listGroups(c echo.Context) error {
	if err := requireBrokerAdmin(caller(c), "listing groups"); err != nil {
		return err
	}
	groups, err := a.rel.Groups().ListGroups(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]restapi.Group, len(groups))
	for i, g := range groups {
		out[i] = restGroup(g)
	}
	return c.JSON(http.StatusOK, out)
}

func (a *API) addGroup(c echo.Context) error {
	if err := requireBrokerAdmin(caller(c), "adding a group"); err != nil {
		return err
	}
	var req restapi.AddGroupRequest
	if err := bind(c, &req, "add group: expected JSON {name}"); err != nil {
		return err
	}
	if err := checks(input.Name("group name", req.Name)); err != nil {
		return err
	}
	g, err := a.rel.Groups().AddGroup(c.Request().Context(), req.Name)
	if errors.Is(err, db.ErrDuplicate) {
		return restError(http.StatusConflict, restapi.CodeAlreadyExists, fmt.Sprintf("group %q already exists", req.Name))
	}
	if err != nil {
		return accessError(err)
	}
	return c.JSON(http.StatusCreated, restGroup(g))
}

func (a *API) renameGroup(c echo.Context) error {
	old := c.Param("name")
	if err := checks(checkGroupParam(old)); err != nil {
		return err
	}
	if err := requireBrokerAdmin(caller(c), fmt.Sprintf("renaming group %q", old)); err != nil {
		return err
	}
	var req restapi.RenameGroupRequest
	if err := bind(c, &req, fmt.Sprintf("rename group %q: expected JSON {name} with the new name", old)); err != nil {
		return err
	}
	if err := checks(input.Name("new group name", req.Name)); err != nil {
		return err
	}
	ctx := c.Request().Context()
	groups := a.rel.Groups()
	if err := groups.RenameGroup(ctx, old, req.Name); err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return restError(http.StatusConflict, restapi.CodeAlreadyExists, fmt.Sprintf("cannot rename group %q: group %q already exists", old, req.Name))
		}
		return accessError(err)
	}
	all, err := groups.ListGroups(ctx)
	if err != nil {
		return err
	}
	for _, g := range all {
		if g.Name == req.Name {
			return c.JSON(http.StatusOK, restGroup(g))
		}
	}
	return restError(http.StatusNotFound, restapi.CodeNotFound, fmt.Sprintf("group %q not found after renaming %q to it: it was renamed or removed meanwhile", req.Name, old))
}

func (a *API) removeGroup(c echo.Context) error {
	name := c.Param("name")
	if err := checks(checkGroupParam(name)); err != nil {
		return err
	}
	if err := requireBrokerAdmin(caller(c), fmt.Sprintf("removing group %q", name)); err != nil {
		return err
	}
	if err := a.rel.Groups().RemoveGroup(c.Request().Context(), name); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) addMember(c echo.Context) error {
	group := c.Param("name")
	if err := checks(checkGroupParam(group)); err != nil {
		return err
	}
	if err := requireBrokerAdmin(caller(c), fmt.Sprintf("adding a member to group %q", group)); err != nil {
		return err
	}
	var req restapi.GroupMemberRequest
	if err := bind(c, &req, fmt.Sprintf("add a member to group %q: expected JSON {subject}", group)); err != nil {
		return err
	}
	if err := checkSubject(req.Subject); err != nil {
		return err
	}
	if err := a.rel.Groups().AddMember(c.Request().Context(), group, req.Subject); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) removeMember(c echo.Context) error {
	group := c.Param("name")
	if err := checks(checkGroupParam(group)); err != nil {
		return err
	}
	if err := requireBrokerAdmin(caller(c), fmt.Sprintf("removing a member from group %q", group)); err != nil {
		return err
	}
	subject := c.QueryParam(restapi.RelationsQuerySubject)
	if subject == "" {
		var req restapi.GroupMemberRequest
		if err := bind(c, &req, fmt.Sprintf("remove a member from group %q: expected the subject parameter, or JSON {subject}", group)); err != nil {
			return err
		}
		subject = req.Subject
	}
	if err := checkSubject(subject); err != nil {
		return err
	}
	if err := a.rel.Groups().RemoveMember(c.Request().Context(), group, subject); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// listRelations lists stored tuples: any for a broker administrator,
// the caller's own (subject = the caller) for anyone.
func (a *API) listRelations(c echo.Context) error {
	id := caller(c)
	f := authz.Filter{Subject: c.QueryParam(restapi.RelationsQuerySubject), Object: c.QueryParam(restapi.RelationsQueryObject)}
	if !id.Admin && f.Subject != id.Subject() {
		return restError(http.StatusForbidden, restapi.CodeForbidden,
			fmt.Sprintf("listing relations needs broker administrator access, except your own: pass %s=%s", restapi.RelationsQuerySubject, id.Subject()))
	}
	for _, p := range []struct {
		name string
		into *int
	}{{restapi.RelationsQueryLimit, &f.Limit}, {restapi.RelationsQueryOffset, &f.Offset}} {
		if v := c.QueryParam(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return restError(http.StatusBadRequest, restapi.CodeBadRequest,
					fmt.Sprintf("list relations: bad %s %s: want a number, 0 or more", p.name, input.Quote(v)))
			}
			*p.into = n
		}
	}
	if f.Subject != "" {
		if err := checkSubject(f.Subject); err != nil {
			return err
		}
	}
	if f.Object != "" {
		if err := checkObject(f.Object); err != nil {
			return err
		}
	}
	tuples, err := a.rel.List(c.Request().Context(), f)
	if err != nil {
		return accessError(err)
	}
	out := make([]restapi.Relation, len(tuples))
	for i, t := range tuples {
		out[i] = restapi.Relation{Subject: t.Subject, Relation: t.Relation, Object: t.Object}
	}
	return c.JSON(http.StatusOK, out)
}

// tupleOf reads a tuple from the request's query parameters or, if it has
// none, its JSON body.
func tupleOf(c echo.Context, op string) (authz.Tuple, error) {
	q := c.QueryParams()
	t := authz.Tuple{
		Subject:  q.Get(restapi.RelationsQuerySubject),
		Relation: q.Get(restapi.RelationsQueryRelation),
		Object:   q.Get(restapi.RelationsQueryObject),
	}
	if t != (authz.Tuple{}) {
		return t, nil
	}
	var req restapi.Relation
	if err := bind(c, &req, op+": expected JSON {subject, relation, object}"); err != nil {
		return t, err
	}
	return authz.Tuple{Subject: req.Subject, Relation: req.Relation, Object: req.Object}, nil
}

// mayGrant refuses a caller who does not administer t's object.
func (a *API) mayGrant(ctx context.Context, id *identity.Identity, t authz.Tuple, verb string) error {
	ok, err := a.administers(ctx, id, t.Object)
	if err != nil && jujuapi.ErrorCode(err) != jujuapi.CodeNotFound {
		return accessError(err)
	}
	if !ok {
		return restError(http.StatusForbidden, restapi.CodeForbidden,
			fmt.Sprintf("%s relations on %s needs administrator access to it (or broker administrator access); %s does not have it",
				verb, t.Object, id.Name))
	}
	return nil
}

func (a *API) addRelation(c echo.Context) error {
	t, err := tupleOf(c, "add relation")
	if err != nil {
		return err
	}
	if err := checkTuple(t); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.mayGrant(ctx, caller(c), t, "adding"); err != nil {
		return err
	}
	if err := a.rel.Add(ctx, t); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) removeRelation(c echo.Context) error {
	t, err := tupleOf(c, "remove relation")
	if err != nil {
		return err
	}
	if err := checkTuple(t); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := a.mayGrant(ctx, caller(c), t, "removing"); err != nil {
		return err
	}
	if err := a.rel.Remove(ctx, t); err != nil {
		return accessError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// checkRelation answers whether a subject has a relation to an object,
// for a broker administrator or for the caller's own subject.
func (a *API) checkRelation(c echo.Context) error {
	id := caller(c)
	q := c.QueryParams()
	t := authz.Tuple{
		Subject:  q.Get(restapi.RelationsQuerySubject),
		Relation: q.Get(restapi.RelationsQueryRelation),
		Object:   q.Get(restapi.RelationsQueryObject),
	}
	if err := checkTuple(t); err != nil {
		return err
	}
	if !id.Admin && t.Subject != id.Subject() {
		return restError(http.StatusForbidden, restapi.CodeForbidden,
			fmt.Sprintf("checking the relations of %s needs broker administrator access; you may check your own (subject %s)", t.Subject, id.Subject()))
	}
	ok, err := a.decide(c.Request().Context(), t)
	if err != nil {
		return accessError(err)
	}
	return c.JSON(http.StatusOK, restapi.CheckResult{Allowed: ok})
}

// decide answers a check as the broker decides access: with the
// implied relations, the bootstrap admin administering everything, and a
// model's controller's administrators administering the model.
func (a *API) decide(ctx context.Context, t authz.Tuple) (bool, error) {
	kind, name, _ := strings.Cut(t.Object, ":")
	if t.Subject == identity.SubjectOf(identity.AdminName) && kind != authz.KindGroup {
		return true, nil
	}
	if kind == authz.KindModel {
		m, err := a.routes.Route(ctx, name)
		switch {
		case err == nil:
			access, err := a.rel.ModelAccess(ctx, t.Subject, m.UUID, m.Controller.Name)
			if err != nil {
				return false, err
			}
			return authz.AccessRank(access) >= authz.AccessRank(authz.RelationAccess(t.Relation)), nil
		case jujuapi.ErrorCode(err) != jujuapi.CodeNotFound:
			return false, err
		}
		// A model the broker does not route: its stored tuples only.
	}
	return a.rel.Check(ctx, t.Subject, t.Relation, t.Object)
}

// administers says whether the caller administers object (API form, e.g.
// "model:<uuid>", "cloud:lxd", "controller:c1", "group:ops"), and so may
// grant and revoke relations on it: broker administrators administer
// everything; groups and controllers only they; a cloud its
// administrators; a model its administrators and its controller's.
func (a *API) administers(ctx context.Context, id *identity.Identity, object string) (bool, error) {
	if id.Admin {
		return true, nil
	}
	if err := authz.ParseObject(object); err != nil {
		return false, err
	}
	kind, name, _ := strings.Cut(object, ":")
	switch kind {
	case authz.KindCloud:
		return a.rel.Check(ctx, id.Subject(), authz.Administrator, object)
	case authz.KindModel:
		m, err := a.routes.Route(ctx, name)
		if err != nil {
			return false, err
		}
		access, err := a.identity.ModelAccess(ctx, id, m)
		return access == authz.AccessAdmin, err
	}
	return false, nil
}
