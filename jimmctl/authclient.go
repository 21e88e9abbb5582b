package jimmctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// ListGroups returns every group, by name. It needs broker administrator
// access.
func (c *Client) ListGroups(ctx context.Context) ([]restapi.Group, error) {
	var resp []restapi.Group
	err := c.do(ctx, "list groups", http.MethodGet, restapi.PathGroups, nil, true, nil, &resp)
	if resp == nil {
		resp = []restapi.Group{}
	}
	return resp, err
}

// AddGroup creates a group and returns it. The broker refuses (code
// already exists) a name in use.
func (c *Client) AddGroup(ctx context.Context, name string) (restapi.Group, error) {
	var resp restapi.Group
	if err := checkName("group name", name); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("add group %q", name), http.MethodPost, restapi.PathGroups, nil, true,
		restapi.AddGroupRequest{Name: name}, &resp)
	return resp, err
}

// RenameGroup renames a group and returns it; its relations and members
// stay with it.
func (c *Client) RenameGroup(ctx context.Context, old, new string) (restapi.Group, error) {
	var resp restapi.Group
	if err := checkName("group name", old); err != nil {
		return resp, err
	}
	if err := checkName("new group name", new); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("rename group %q to %q", old, new), http.MethodPut,
		restapi.PathGroup+url.PathEscape(old), nil, true, restapi.RenameGroupRequest{Name: new}, &resp)
	return resp, err
}

// RemoveGroup removes a group and every relation naming it (its members
// and what it was granted).
func (c *Client) RemoveGroup(ctx context.Context, name string) error {
	if err := checkName("group name", name); err != nil {
		return err
	}
	return c.do(ctx, fmt.Sprintf("remove group %q", name), http.MethodDelete,
		restapi.PathGroup+url.PathEscape(name), nil, true, nil, nil)
}

// AddGroupMember makes subject (user:<name>, serviceaccount:<client-id> or
// group:<name>#member) a member of group. Adding a member again is not an
// error.
func (c *Client) AddGroupMember(ctx context.Context, group, subject string) error {
	if err := checkName("group name", group); err != nil {
		return err
	}
	if err := checkName("subject", subject); err != nil {
		return err
	}
	return c.do(ctx, fmt.Sprintf("add %s to group %q", subject, group), http.MethodPost,
		restapi.PathGroup+url.PathEscape(group)+restapi.PathMembers, nil, true,
		restapi.GroupMemberRequest{Subject: subject}, nil)
}

// RemoveGroupMember removes subject from group. The broker answers code
// not found when subject is not a member.
func (c *Client) RemoveGroupMember(ctx context.Context, group, subject string) error {
	if err := checkName("group name", group); err != nil {
		return err
	}
	if err := checkName("subject", subject); err != nil {
		return err
	}
	return c.do(ctx, fmt.Sprintf("remove %s from group %q", subject, group), http.MethodDelete,
		restapi.PathGroup+url.PathEscape(group)+restapi.PathMembers,
		url.Values{restapi.RelationsQuerySubject: {subject}}, true, nil, nil)
}

// RelationQuery selects relation tuples; empty fields match everything.
type RelationQuery struct {
	Subject, Object string
	// Limit is how many tuples at most (0: all); Offset how many to skip.
	Limit, Offset int
}

// ListRelations returns the stored relation tuples q selects, oldest
// first. A broker administrator may list any; anyone else only their own
// (Subject set to themselves).
func (c *Client) ListRelations(ctx context.Context, q RelationQuery) ([]restapi.Relation, error) {
	var resp []restapi.Relation
	v := url.Values{}
	if q.Subject != "" {
		v.Set(restapi.RelationsQuerySubject, q.Subject)
	}
	if q.Object != "" {
		v.Set(restapi.RelationsQueryObject, q.Object)
	}
	if q.Limit > 0 {
		v.Set(restapi.RelationsQueryLimit, strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set(restapi.RelationsQueryOffset, strconv.Itoa(q.Offset))
	}
	err := c.do(ctx, "list relations", http.MethodGet, restapi.PathRelations, v, true, nil, &resp)
	if resp == nil {
		resp = []restapi.Relation{}
	}
	return resp, err
}

// AddRelation stores a relation tuple. It needs administrator access to
// the tuple's object (or broker administrator access). Adding a tuple that
// exists is not an error.
func (c *Client) AddRelation(ctx context.Context, r restapi.Relation) error {
	if err := checkRelation(r); err != nil {
		return err
	}
	return c.do(ctx, "add relation "+relationString(r), http.MethodPost, restapi.PathRelations, nil, true, r, nil)
}

// RemoveRelation removes a relation tuple, with the access AddRelation
// needs. The broker answers code not found for a tuple it does not hold.
func (c *Client) RemoveRelation(ctx context.Context, r restapi.Relation) error {
	if err := checkRelation(r); err != nil {
		return err
	}
	return c.do(ctx, "remove relation "+relationString(r), http.MethodDelete, restapi.PathRelations,
		relationQuery(r), true, nil, nil)
}

// CheckRelation says whether r.Subject has r.Relation to r.Object, with
// the implied relations (administrator ⊇ writer ⊇ reader, groups, broker
// and controller administrators). A broker administrator may check
// anyone; anyone else only themselves.
func (c *Client) CheckRelation(ctx context.Context, r restapi.Relation) (restapi.CheckResult, error) {
	var resp restapi.CheckResult
	if err := checkRelation(r); err != nil {
		return resp, err
	}
	err := c.do(ctx, "check relation "+relationString(r), http.MethodGet, restapi.PathRelationsCheck,
		relationQuery(r), true, nil, &resp)
	return resp, err
}

func checkRelation(r restapi.Relation) error {
	for _, f := range []struct{ what, v string }{{"subject", r.Subject}, {"relation", r.Relation}, {"object", r.Object}} {
		if err := checkName(f.what, f.v); err != nil {
			return err
		}
	}
	return nil
}

func relationQuery(r restapi.Relation) url.Values {
	return url.Values{
		restapi.RelationsQuerySubject:  {r.Subject},
		restapi.RelationsQueryRelation: {r.Relation},
		restapi.RelationsQueryObject:   {r.Object},
	}
}

// relationString is the tuple as "<subject> <relation> <object>".
func relationString(r restapi.Relation) string { return r.Subject + " " + r.Relation + " " + r.Object }
