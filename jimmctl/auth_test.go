package jimmctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// fakeAccess is the fake broker's access API (groups and relations). Like
// the rest of the fakeBroker it is not the broker: it keeps groups and
// tuples in memory, treats only fakeAdmin as a broker administrator, and
// checks relations by exact match plus administrator ⊇ writer ⊇ reader.
type fakeAccess struct {
	groups map[string]restapi.Group
	tuples []restapi.Relation
}

// handleAccess adds the access API to the fake broker's mux.
func (f *fakeBroker) handleAccess(mux *http.ServeMux) {
	mux.HandleFunc("GET "+restapi.PathGroups, f.authed(f.listGroups))
	mux.HandleFunc("POST "+restapi.PathGroups, f.authed(f.addGroup))
	mux.HandleFunc("PUT "+restapi.PathGroup+"{name}", f.authed(f.renameGroup))
	mux.HandleFunc("DELETE "+restapi.PathGroup+"{name}", f.authed(f.removeGroup))
	mux.HandleFunc("POST "+restapi.PathGroup+"{name}"+restapi.PathMembers, f.authed(f.addMember))
	mux.HandleFunc("DELETE "+restapi.PathGroup+"{name}"+restapi.PathMembers, f.authed(f.removeMember))
	mux.HandleFunc("GET "+restapi.PathRelations, f.authed(f.listRelations))
	mux.HandleFunc("POST "+restapi.PathRelations, f.authed(f.addRelation))
	mux.HandleFunc("DELETE "+restapi.PathRelations, f.authed(f.removeRelation))
	mux.HandleFunc("GET "+restapi.PathRelationsCheck, f.authed(f.checkRelation))
}

// addUser lets name log in with basic auth (as a non-administrator).
func (f *fakeBroker) addUser(name, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[name] = password
}

// useBrokerAs points jimmctl at f, logging in as user with basic auth.
func useBrokerAs(t *testing.T, f *fakeBroker, user, password string) {
	t.Helper()
	t.Setenv(EnvURL, f.url)
	t.Setenv(EnvCACert, string(f.caPEM))
	t.Setenv(EnvUser, user)
	t.Setenv(EnvPassword, password)
}

func (f *fakeBroker) putTuple(r restapi.Relation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.access.tuples = append(f.access.tuples, r)
}

func (f *fakeBroker) tupleList() []restapi.Relation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.access.tuples)
}

func subjectOf(identity string) string { return "user:" + identity }

func adminOnly(w http.ResponseWriter, identity, what string) bool {
	if identity == fakeAdmin {
		return true
	}
	writeError(w, http.StatusForbidden, restapi.CodeForbidden, "%s needs broker administrator access; %s does not have it", what, identity)
	return false
}

// validSubject imitates the broker's check of a subject's form.
func validSubject(w http.ResponseWriter, s string) bool {
	switch {
	case strings.HasPrefix(s, "user:"), strings.HasPrefix(s, "serviceaccount:"),
		strings.HasPrefix(s, "group:") && strings.HasSuffix(s, "#member"):
		return true
	}
	writeError(w, http.StatusBadRequest, restapi.CodeBadRequest,
		"bad subject %q: subjects are user:<name>, serviceaccount:<client-id> or group:<name>#member (did you mean user:%s?)", s, s)
	return false
}

func (f *fakeBroker) listGroups(w http.ResponseWriter, _ *http.Request, identity string) {
	if !adminOnly(w, identity, "listing groups") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.Group{}
	for _, g := range f.access.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b restapi.Group) int { return strings.Compare(b.Name, a.Name) }) // not by name
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeBroker) addGroup(w http.ResponseWriter, r *http.Request, identity string) {
	if !adminOnly(w, identity, "adding a group") {
		return
	}
	var req restapi.AddGroupRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "add group: expected JSON {name}")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.access.groups[req.Name]; ok {
		writeError(w, http.StatusConflict, restapi.CodeAlreadyExists, "group %q already exists", req.Name)
		return
	}
	g := restapi.Group{Name: req.Name, UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.access.groups)+1), CreatedAt: fakeTime}
	f.access.groups[req.Name] = g
	writeJSON(w, http.StatusCreated, g)
}

func (f *fakeBroker) renameGroup(w http.ResponseWriter, r *http.Request, identity string) {
	old := r.PathValue("name")
	if !adminOnly(w, identity, "renaming a group") {
		return
	}
	var req restapi.RenameGroupRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "rename group: expected JSON {name}")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.access.groups[old]
	if !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "group %q not found", old)
		return
	}
	delete(f.access.groups, old)
	g.Name = req.Name
	f.access.groups[g.Name] = g
	writeJSON(w, http.StatusOK, g)
}

func (f *fakeBroker) removeGroup(w http.ResponseWriter, r *http.Request, identity string) {
	name := r.PathValue("name")
	if !adminOnly(w, identity, "removing a group") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.access.groups[name]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "group %q not found", name)
		return
	}
	delete(f.access.groups, name)
	f.access.tuples = slices.DeleteFunc(f.access.tuples, func(t restapi.Relation) bool {
		return t.Subject == "group:"+name+"#member" || t.Object == "group:"+name
	})
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeBroker) addMember(w http.ResponseWriter, r *http.Request, identity string) {
	group := r.PathValue("name")
	if !adminOnly(w, identity, "adding a member") {
		return
	}
	var req restapi.GroupMemberRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "add member: expected JSON {subject}")
		return
	}
	if !validSubject(w, req.Subject) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.access.groups[group]; !ok {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "group %q not found", group)
		return
	}
	t := restapi.Relation{Subject: req.Subject, Relation: "member", Object: "group:" + group}
	if !slices.Contains(f.access.tuples, t) {
		f.access.tuples = append(f.access.tuples, t)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeBroker) removeMember(w http.ResponseWriter, r *http.Request, identity string) {
	group := r.PathValue("name")
	if !adminOnly(w, identity, "removing a member") {
		return
	}
	t := restapi.Relation{Subject: r.URL.Query().Get(restapi.RelationsQuerySubject), Relation: "member", Object: "group:" + group}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.access.tuples, t)
	if i < 0 {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "relation %s %s %s not found", t.Subject, t.Relation, t.Object)
		return
	}
	f.access.tuples = slices.Delete(f.access.tuples, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeBroker) listRelations(w http.ResponseWriter, r *http.Request, identity string) {
	q := r.URL.Query()
	subject, object := q.Get(restapi.RelationsQuerySubject), q.Get(restapi.RelationsQueryObject)
	if identity != fakeAdmin && subject != subjectOf(identity) {
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "listing relations needs broker administrator access, except your own: pass subject=%s", subjectOf(identity))
		return
	}
	limit, _ := strconv.Atoi(q.Get(restapi.RelationsQueryLimit))
	offset, _ := strconv.Atoi(q.Get(restapi.RelationsQueryOffset))
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []restapi.Relation{}
	for _, t := range f.access.tuples {
		if (subject == "" || t.Subject == subject) && (object == "" || t.Object == object) {
			out = append(out, t)
		}
	}
	out = out[min(offset, len(out)):]
	if limit > 0 {
		out = out[:min(limit, len(out))]
	}
	writeJSON(w, http.StatusOK, out)
}

// tupleOf reads a tuple from the query or, without one, the body.
func tupleOf(r *http.Request) restapi.Relation {
	q := r.URL.Query()
	t := restapi.Relation{Subject: q.Get("subject"), Relation: q.Get("relation"), Object: q.Get("object")}
	if t == (restapi.Relation{}) {
		_ = json.NewDecoder(r.Body).Decode(&t)
	}
	return t
}

func (f *fakeBroker) addRelation(w http.ResponseWriter, r *http.Request, identity string) {
	t := tupleOf(r)
	if !validSubject(w, t.Subject) {
		return
	}
	if t.Relation == "writer" && strings.HasPrefix(t.Object, "cloud:") {
		writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, `invalid relation tuple: relation "writer" does not apply to cloud objects (only administrator, can_addmodel)`)
		return
	}
	if !f.checkTuple(subjectOf(identity), "administrator", t.Object) {
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "adding relations on %s needs administrator access to it; %s does not have it", t.Object, identity)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.access.tuples, t) {
		f.access.tuples = append(f.access.tuples, t)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeBroker) removeRelation(w http.ResponseWriter, r *http.Request, identity string) {
	t := tupleOf(r)
	if !f.checkTuple(subjectOf(identity), "administrator", t.Object) {
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "removing relations on %s needs administrator access to it; %s does not have it", t.Object, identity)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.access.tuples, t)
	if i < 0 {
		writeError(w, http.StatusNotFound, restapi.CodeNotFound, "relation %s %s %s not found", t.Subject, t.Relation, t.Object)
		return
	}
	f.access.tuples = slices.Delete(f.access.tuples, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// checkTuple: fakeAdmin has everything; else an exact tuple, or one with an
// implying relation.
func (f *fakeBroker) checkTuple(subject, relation, object string) bool {
	if subject == subjectOf(fakeAdmin) {
		return true
	}
	implied := map[string][]string{"reader": {"reader", "writer", "administrator"}, "writer": {"writer", "administrator"}}[relation]
	if implied == nil {
		implied = []string{relation}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.access.tuples {
		if t.Subject == subject && t.Object == object && slices.Contains(implied, t.Relation) {
			return true
		}
	}
	return false
}

func (f *fakeBroker) checkRelation(w http.ResponseWriter, r *http.Request, identity string) {
	t := tupleOf(r)
	if identity != fakeAdmin && t.Subject != subjectOf(identity) {
		writeError(w, http.StatusForbidden, restapi.CodeForbidden, "checking the relations of %q needs broker administrator access", t.Subject)
		return
	}
	writeJSON(w, http.StatusOK, restapi.CheckResult{Allowed: f.checkTuple(t.Subject, t.Relation, t.Object)})
}

const testModel = "model:5c4b1a2e-0d3f-4b8e-9a1c-2f3e4d5c6b7a"

func TestAuthGroupCommands(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)

	out, stderr, err := run(t, "", "auth", "group", "list")
	if err != nil || out != "" || !strings.Contains(stderr, "No groups") {
		t.Fatalf("empty group list: %q %q %v", out, stderr, err)
	}
	if out, _, err = run(t, "", "auth", "group", "add", "ops"); err != nil || out != "added group \"ops\"\n" {
		t.Fatalf("group add: %q %v", out, err)
	}
	out, _, err = run(t, "", "auth", "group", "add", "web", "--format", "json")
	var g restapi.Group
	if err != nil || json.Unmarshal([]byte(out), &g) != nil || g.Name != "web" || g.UUID == "" || !g.CreatedAt.Equal(fakeTime) {
		t.Fatalf("group add --format json: %q %v", out, err)
	}
	if _, stderr, err = run(t, "", "auth", "group", "add", "ops"); err == nil || !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "jimmctl auth group list") {
		t.Fatalf("adding an existing group: %q %v", stderr, err)
	}

	out, _, err = run(t, "", "auth", "group", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Fields(lines[0])[0] != "NAME" || strings.Fields(lines[1])[0] != "ops" || strings.Fields(lines[2])[0] != "web" {
		t.Fatalf("group list is not a table sorted by name:\n%s", out)
	}
	out, _, err = run(t, "", "auth", "group", "list", "--format", "yaml")
	var gs []restapi.Group
	if err != nil || yaml.Unmarshal([]byte(out), &gs) != nil || len(gs) != 2 || gs[0].Name != "ops" {
		t.Fatalf("group list --format yaml: %q %v", out, err)
	}

	out, _, err = run(t, "", "auth", "group", "add-member", "ops", "user:alice@example.com", "serviceaccount:ci")
	if err != nil || out != "added user:alice@example.com to group \"ops\"\nadded serviceaccount:ci to group \"ops\"\n" {
		t.Fatalf("add-member: %q %v", out, err)
	}
	// A bad subject after a good one: the first is done, and the error
	// says so.
	_, stderr, err = run(t, "", "auth", "group", "add-member", "web", "group:ops#member", "bob")
	if err == nil || !strings.Contains(stderr, "did you mean user:bob") || !strings.Contains(stderr, "before this: group:ops#member") {
		t.Fatalf("add-member with a bare name: %q %v", stderr, err)
	}
	if _, _, err = run(t, "", "auth", "group", "add-member", "ops"); err == nil {
		t.Fatal("add-member without a subject succeeded")
	}
	out, _, err = run(t, "", "auth", "group", "remove-member", "ops", "serviceaccount:ci", "--format", "json")
	var ms []memberResult
	if err != nil || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 1 || !ms[0].Removed || ms[0].Group != "ops" || ms[0].Subject != "serviceaccount:ci" {
		t.Fatalf("remove-member --format json: %q %v", out, err)
	}
	if _, stderr, err = run(t, "", "auth", "group", "remove-member", "ops", "serviceaccount:ci"); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("removing a non-member: %q %v", stderr, err)
	}

	if out, _, err = run(t, "", "auth", "group", "rename", "ops", "sre"); err != nil || out != "renamed group \"ops\" to \"sre\"\n" {
		t.Fatalf("rename: %q %v", out, err)
	}
	if _, stderr, err = run(t, "", "auth", "group", "rename", "ops", "x"); err == nil || !strings.Contains(stderr, `group "ops" not found`) {
		t.Fatalf("renaming a missing group: %q %v", stderr, err)
	}
	out, _, err = run(t, "", "auth", "group", "remove", "sre", "--format", "json")
	if err != nil || !strings.Contains(out, `"removed": true`) {
		t.Fatalf("remove --format json: %q %v", out, err)
	}
	if _, _, err = run(t, "", "auth", "group", "remove", "sre"); err == nil {
		t.Fatal("removing a missing group succeeded")
	}
}

func TestAuthGroupNeedsAdmin(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	f.addUser("bob", "pw")
	useBrokerAs(t, f, "bob", "pw")
	if _, stderr, err := run(t, "", "auth", "group", "add", "ops"); err == nil || !strings.Contains(stderr, "broker administrator") {
		t.Fatalf("a non-admin added a group: %q %v", stderr, err)
	}
}

func TestAuthRelationCommands(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	useBroker(t, f)

	out, _, err := run(t, "", "auth", "relation", "add", "group:ops#member", "administrator", testModel)
	if err != nil || out != "added relation group:ops#member administrator "+testModel+"\n" {
		t.Fatalf("relation add: %q %v", out, err)
	}
	out, _, err = run(t, "", "auth", "relation", "add", "user:alice@example.com", "reader", testModel, "--format", "json")
	var added map[string]any
	if err != nil || json.Unmarshal([]byte(out), &added) != nil || added["subject"] != "user:alice@example.com" ||
		added["relation"] != "reader" || added["object"] != testModel || added["added"] != true {
		t.Fatalf("relation add --format json: %q %v", out, err)
	}
	if _, stderr, err := run(t, "", "auth", "relation", "add", "user:alice@example.com", "writer", "cloud:aws"); err == nil || !strings.Contains(stderr, "does not apply") {
		t.Fatalf("a relation that does not apply: %q %v", stderr, err)
	}
	if _, stderr, err := run(t, "", "auth", "relation", "add", "user:alice@example.com", "reader"); err == nil || !strings.Contains(stderr, "<subject> <relation> <object>") {
		t.Fatalf("relation add with two arguments: %q %v", stderr, err)
	}
	if got := f.tupleList(); len(got) != 2 {
		t.Fatalf("broker holds %v", got)
	}

	// check: allowed or denied, exit 0 either way.
	for _, c := range []struct {
		relation, want string
	}{{"reader", "allowed\n"}, {"administrator", "denied\n"}} {
		out, _, err = run(t, "", "auth", "relation", "check", "user:alice@example.com", c.relation, testModel)
		if err != nil || out != c.want {
			t.Errorf("check %s: %q %v, want %q", c.relation, out, err, c.want)
		}
	}
	out, _, err = run(t, "", "auth", "relation", "check", "user:alice@example.com", "writer", testModel, "--format", "json")
	if err != nil || strings.Join(strings.Fields(out), "") != `{"allowed":false}` {
		t.Fatalf("check --format json: %q %v", out, err)
	}
	out, _, err = run(t, "", "auth", "relation", "check", "user:alice@example.com", "reader", testModel, "--format", "yaml")
	if err != nil || out != "allowed: true\n" {
		t.Fatalf("check --format yaml: %q %v", out, err)
	}

	// list: a table, filters and paging passed on.
	out, _, err = run(t, "", "auth", "relation", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "SUBJECT RELATION OBJECT" ||
		strings.Join(strings.Fields(lines[1]), " ") != "group:ops#member administrator "+testModel {
		t.Fatalf("relation list:\n%s", out)
	}
	out, _, err = run(t, "", "auth", "relation", "list", "--object", testModel, "--limit", "1", "--offset", "1", "--format", "json")
	var rs []restapi.Relation
	if err != nil || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != 1 || rs[0].Subject != "user:alice@example.com" {
		t.Fatalf("relation list --limit 1 --offset 1: %q %v", out, err)
	}
	out, stderr, err := run(t, "", "auth", "relation", "list", "--subject", "user:nobody")
	if err != nil || out != "" || !strings.Contains(stderr, "No relations.") {
		t.Fatalf("empty relation list: %q %q %v", out, stderr, err)
	}
	out, _, err = run(t, "", "auth", "relation", "list", "--subject", "user:nobody", "--format", "json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty relation list as json: %q %v", out, err)
	}

	if out, _, err = run(t, "", "auth", "relation", "remove", "user:alice@example.com", "reader", testModel); err != nil || !strings.HasPrefix(out, "removed relation ") {
		t.Fatalf("relation remove: %q %v", out, err)
	}
	if _, stderr, err = run(t, "", "auth", "relation", "remove", "user:alice@example.com", "reader", testModel); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("removing a missing tuple: %q %v", stderr, err)
	}
}

// TestAuthRelationAccess: a non-administrator may change tuples on what
// they administer, and list and check only their own.
func TestAuthRelationAccess(t *testing.T) {
	isolate(t)
	f := newFakeBroker(t)
	f.addUser("bob", "pw")
	f.putTuple(restapi.Relation{Subject: "user:bob", Relation: "administrator", Object: testModel})
	useBrokerAs(t, f, "bob", "pw")

	if _, _, err := run(t, "", "auth", "relation", "add", "user:carol", "writer", testModel); err != nil {
		t.Fatalf("model admin grants on the model: %v", err)
	}
	_, stderr, err := run(t, "", "auth", "relation", "add", "user:carol", "can_addmodel", "cloud:aws")
	if err == nil || !strings.Contains(stderr, "ask an administrator of cloud:aws, or a broker administrator") {
		t.Fatalf("model admin grants on a cloud: %q %v", stderr, err)
	}
	if out, _, err := run(t, "", "auth", "relation", "list", "--subject", "user:bob"); err != nil || !strings.Contains(out, testModel) {
		t.Fatalf("listing one's own: %q %v", out, err)
	}
	if _, stderr, err := run(t, "", "auth", "relation", "list"); err == nil || !strings.Contains(stderr, "subject=user:bob") {
		t.Fatalf("listing everyone's: %q %v", stderr, err)
	}
	if _, stderr, err := run(t, "", "auth", "relation", "check", "user:carol", "writer", testModel); err == nil || !strings.Contains(stderr, "broker administrator") {
		t.Fatalf("checking someone else: %q %v", stderr, err)
	}
}
