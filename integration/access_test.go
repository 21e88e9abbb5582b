package integration

// Access end to end: people from a real identity provider (dex), groups and
// relation tuples managed with jimmctl and the Juju client, checked through
// both, against a real broker and development controllers.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/usermanager"
	"github.com/juju/juju/rpc/params"
	"github.com/juju/names/v5"

	"github.com/jimmbroker/jimm/integration/internal/jimmproc"
	"github.com/jimmbroker/jimm/integration/internal/oidcproc"
)

// person is someone logged in through dex: jimmctl with their saved
// session, and the token for the Juju client.
type person struct {
	name  string
	ctl   *jimmproc.Ctl
	token string
	// verificationURI is where jimmctl sent the person; loginOutput is
	// what "jimmctl login" printed on stdout.
	verificationURI, loginOutput string
}

// deviceLogin runs "jimmctl login" as user, playing the person at dex's
// verification page.
func (e *brokerEnv) deviceLogin(t *testing.T, ctx context.Context, dex *oidcproc.Dex, user oidcproc.User) *person {
	t.Helper()
	ctl := e.personCtl(t)
	run, err := ctl.Start(ctx, "login")
	if err != nil {
		t.Fatal(err)
	}
	var uri, code string
	for line := range run.Lines() {
		if m := deviceLine.FindStringSubmatch(line); m != nil {
			uri, code = m[1], m[2]
			break
		}
	}
	if uri == "" {
		res, _ := run.Wait()
		t.Fatalf("jimmctl login printed no verification URI:\n%s", res)
	}
	b, err := oidcproc.NewBrowser(dex.CACertPEM, []byte(e.caPEM))
	if err != nil {
		t.Fatal(err)
	}
	if err := oidcproc.ApproveDevice(ctx, b, uri, code, user); err != nil {
		t.Fatal(err)
	}
	res, err := run.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("jimmctl login as %s: %v\n%s", user.Email, err, res)
	}
	return &person{name: user.Email, ctl: ctl, token: ctlSavedToken(t, ctl), verificationURI: uri, loginOutput: res.Stdout}
}

// openAs opens the Juju client as p, on /api (modelUUID "") or a model.
func (e *brokerEnv) openAs(p *person, modelUUID string) (api.Connection, error) {
	info := &api.Info{Addrs: []string{e.broker().Addr}, CACert: e.caPEM}
	if modelUUID != "" {
		info.ModelTag = names.NewModelTag(modelUUID)
	}
	opts := dialOpts
	opts.LoginProvider = api.NewSessionTokenLoginProvider(p.token, io.Discard, func(string) error { return nil })
	return api.Open(info, opts)
}

// startDex starts dex on a free port.
func startDex(t *testing.T, ctx context.Context) *oidcproc.Dex {
	t.Helper()
	bin := providerBin(t, oidcproc.DexBinEnv)
	dir := t.TempDir()
	if _, err := oidcproc.PrepareDexTLS(dir, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	return startDexWith(t, ctx, oidcproc.DexOptions{Bin: bin, Dir: dir, Addr: freeAddr(t)})
}

// startDexWith starts dex with opts (its TLS files prepared in opts.Dir);
// it is stopped when the test ends.
func startDexWith(t *testing.T, ctx context.Context, opts oidcproc.DexOptions) *oidcproc.Dex {
	t.Helper()
	dex, err := oidcproc.StartDex(ctx, opts)
	if err != nil {
		t.Fatalf("start dex: %v", err)
	}
	t.Cleanup(func() {
		dex.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("dex output:\n%s", dex.Output())
		}
	})
	return dex
}

// startExample starts the OIDC example server (client credentials) on a
// free port.
func startExample(t *testing.T, ctx context.Context) *oidcproc.Example {
	t.Helper()
	bin := providerBin(t, oidcproc.ExampleBinEnv)
	idp, err := oidcproc.StartExample(ctx, bin, portOf(t, freeAddr(t)))
	if err != nil {
		t.Fatalf("start the OIDC example server: %v", err)
	}
	t.Cleanup(func() {
		idp.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("OIDC example server output:\n%s", idp.Output())
		}
	})
	return idp
}

// modelsSeen lists, through the Juju client, the models p sees and p's
// access to each (by name).
func (e *brokerEnv) modelsSeen(t *testing.T, p *person) map[string]string {
	t.Helper()
	conn, err := e.openAs(p, "")
	if err != nil {
		t.Fatalf("log in as %s: %v", p.name, err)
	}
	defer conn.Close()
	sums, err := modelmanager.NewClient(conn).ListModelSummaries(p.name, false)
	if err != nil {
		t.Fatalf("ListModelSummaries as %s: %v", p.name, err)
	}
	out := map[string]string{}
	for _, s := range sums {
		out[s.Name] = string(s.ModelUserAccess)
	}
	return out
}

// ctlModelsSeen lists, through jimmctl, the models p sees and p's access.
func ctlModelsSeen(t *testing.T, p *person) map[string]string {
	t.Helper()
	res, err := p.ctl.Run(t.Context(), "list-models", "--format", "json")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("jimmctl list-models as %s: %v\n%s", p.name, err, res)
	}
	var ms []restModel
	decodeStrictJSON(t, res.Stdout, &ms)
	out := map[string]string{}
	for _, m := range ms {
		if m.Controller != "" {
			t.Errorf("jimmctl list-models shows %s (not a broker administrator) the controller of %s: %q", p.name, m.Name, m.Controller)
		}
		out[m.Name] = m.Access
	}
	return out
}

// relationCheck asks jimmctl whether subject has relation to object.
func relationCheck(t *testing.T, ctl *jimmproc.Ctl, subject, relation, object string) bool {
	t.Helper()
	res, err := ctl.Run(t.Context(), "auth", "relation", "check", subject, relation, object, "--format", "json")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("jimmctl auth relation check %s %s %s: %v\n%s", subject, relation, object, err, res)
	}
	var out struct {
		Allowed bool `json:"allowed"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("jimmctl auth relation check printed %q: %v", res.Stdout, err)
	}
	return out.Allowed
}

// canRead tries FullStatus and ModelGet, and canWrite ModelSet, on a model
// as p, each on a fresh model connection.
func (e *brokerEnv) canRead(t *testing.T, p *person, uuid string) error {
	t.Helper()
	conn, err := e.openAs(p, uuid)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := client.NewClient(conn, testLogger{t}).Status(nil); err != nil {
		return err
	}
	_, err = modelconfig.NewClient(conn).ModelGet()
	return err
}

func (e *brokerEnv) canWrite(t *testing.T, p *person, uuid string) error {
	t.Helper()
	conn, err := e.openAs(p, uuid)
	if err != nil {
		return err
	}
	defer conn.Close()
	return modelconfig.NewClient(conn).ModelSet(map[string]any{"logging-config": "<root>=INFO;unit=DEBUG"})
}

func TestAccessPeopleGroupsAndRelations(t *testing.T) {
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dex := startDex(t, ctx)
	e := newOIDCBrokerEnv(t, bins, dex.Issuer, oidcproc.BrokerClientID, oidcproc.BrokerClientSecret, dex.CACertFile)
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	admin := e.ctl

	alice := e.deviceLogin(t, ctx, dex, oidcproc.Alice)
	bob := e.deviceLogin(t, ctx, dex, oidcproc.Bob)
	carol := e.deviceLogin(t, ctx, dex, oidcproc.Carol)
	const aliceSubj, bobSubj, carolSubj = "user:alice@example.com", "user:bob@example.com", "user:carol@example.com"

	// Alice may add models to the cloud only once granted.
	conn, err := e.openAs(alice, "")
	if err != nil {
		t.Fatalf("Alice logs in with her session token: %v", err)
	}
	defer conn.Close()
	mm := modelmanager.NewClient(conn)
	_, err = mm.CreateModel("alice-model", "alice@example.com", "localhost", "", names.CloudCredentialTag{}, nil)
	wantErr(t, "Alice creates a model without can_addmodel on the cloud", err, params.CodeUnauthorized,
		`permission denied: "alice@example.com" may not add models to cloud "localhost" (it needs can_addmodel on cloud:localhost)`)
	if err == nil {
		t.FailNow()
	}
	e.jimmctl(t, "auth", "relation", "add", aliceSubj, "can_addmodel", "cloud:localhost")
	info, err := mm.CreateModel("alice-model", "alice@example.com", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatalf("Alice creates a model: %v", err)
	}
	model := "model:" + info.UUID
	if got := e.modelsSeen(t, alice); got["alice-model"] != "admin" {
		t.Errorf("Alice sees %v; want her model, as admin", got)
	}
	if err := e.canWrite(t, alice, info.UUID); err != nil {
		t.Errorf("Alice sets her model's config: %v", err)
	}

	// Tokens forged from Alice's are refused by the broker, saying why.
	parts := strings.Split(alice.token, ".")
	b64 := base64.RawURLEncoding
	payload, _ := b64.DecodeString(parts[1])
	header, _ := b64.DecodeString(parts[0])
	var kid struct {
		KID string `json:"kid"`
	}
	json.Unmarshal(header, &kid)
	for _, f := range []struct{ name, token, want string }{
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","kid":"`+kid.KID+`"}`)) + "." + parts[1] + ".", "accepted algorithm"},
		{"unknown key id", b64.EncodeToString([]byte(`{"alg":"ES256","kid":"not-a-broker-key"}`)) + "." + parts[1] + "." + parts[2], "unknown key"},
		{"tampered payload", parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), "alice@example.com", "admin", 1))) + "." + parts[2], "signature does not verify"},
	} {
		_, err := e.openAs(&person{name: "forger", token: f.token}, info.UUID)
		wantErr(t, "model login with a token with "+f.name, err, params.CodeUnauthorized, "invalid session token")
		if err != nil && !strings.Contains(err.Error(), f.want) {
			t.Errorf("model login with a token with %s: %v; want it refused saying %q", f.name, err, f.want)
		}
	}

	// Bob sees nothing.
	if got := e.modelsSeen(t, bob); len(got) != 0 {
		t.Errorf("Bob sees %v through the Juju client before any grant", got)
	}
	if got := ctlModelsSeen(t, bob); len(got) != 0 {
		t.Errorf("Bob sees %v through jimmctl before any grant", got)
	}
	// A model Bob may not see is refused as one that does not exist: the
	// same code and message, but for the UUID.
	noAccess := e.canRead(t, bob, info.UUID)
	wantErr(t, "Bob opens Alice's model before any grant", noAccess, params.CodeModelNotFound, "unknown model")
	const missing = "00000000-0000-4000-8000-000000000000"
	if none := e.canRead(t, bob, missing); none == nil || noAccess == nil || errCode(none) != errCode(noAccess) ||
		strings.ReplaceAll(none.Error(), missing, "X") != strings.ReplaceAll(noAccess.Error(), info.UUID, "X") {
		t.Errorf("Bob's model login to a model he may not see (%v) and to one that does not exist (%v) differ", noAccess, none)
	}
	if relationCheck(t, admin, bobSubj, "reader", model) {
		t.Errorf("jimmctl says Bob reads Alice's model before any grant")
	}

	// Alice grants Bob read with the Juju client ("juju grant"): a tuple.
	if err := mm.GrantModel("bob@example.com", "read", info.UUID); err != nil {
		t.Fatalf("Alice grants Bob read: %v", err)
	}
	if !relationCheck(t, admin, bobSubj, "reader", model) || relationCheck(t, admin, bobSubj, "writer", model) {
		t.Errorf("after the grant, jimmctl does not say Bob reads (and only reads) the model")
	}
	res := e.jimmctl(t, "auth", "relation", "list", "--object", model, "--format", "json")
	if !strings.Contains(res, `"user:bob@example.com"`) || !strings.Contains(res, `"reader"`) {
		t.Errorf("jimmctl auth relation list does not show Bob's grant:\n%s", res)
	}
	if got := e.modelsSeen(t, bob); got["alice-model"] != "read" {
		t.Errorf("Bob sees %v through the Juju client; want alice-model with read", got)
	}
	if got := ctlModelsSeen(t, bob); got["alice-model"] != "read" {
		t.Errorf("Bob sees %v through jimmctl; want alice-model with read", got)
	}
	if err := e.canRead(t, bob, info.UUID); err != nil {
		t.Errorf("Bob (reader) reads the model's config: %v", err)
	}
	wantErr(t, "Bob (reader) changes the model's config", e.canWrite(t, bob, info.UUID), params.CodeUnauthorized, "permission denied")
	// Bob may ask about himself, not about others.
	if !relationCheck(t, bob.ctl, bobSubj, "reader", model) {
		t.Errorf("Bob's own jimmctl check says he does not read the model")
	}
	notYours := "checking the relations of " + aliceSubj + " needs broker administrator access; you may check your own (subject " + bobSubj + ")"
	r, _ := bob.ctl.Run(ctx, "auth", "relation", "check", aliceSubj, "administrator", model)
	wantCtlRefusal(t, "Bob asks jimmctl about Alice's access", r, "check relation "+aliceSubj+" administrator "+model+": "+notYours)
	status, body := e.restDo(t, bob.token, http.MethodGet, "/v1/relations/check?"+url.Values{
		"subject": {aliceSubj}, "relation": {"administrator"}, "object": {model}}.Encode(), nil)
	wantRESTRefusal(t, "Bob asks the admin API about Alice's access", status, body, http.StatusForbidden, "forbidden", notYours)

	// A group holding writer: Bob writes while he is a member.
	e.jimmctl(t, "auth", "group", "add", "editors")
	e.jimmctl(t, "auth", "relation", "add", "group:editors#member", "writer", model)
	e.jimmctl(t, "auth", "group", "add-member", "editors", bobSubj)
	if !relationCheck(t, admin, bobSubj, "writer", model) {
		t.Errorf("jimmctl does not say Bob (in editors) writes the model")
	}
	if got := ctlModelsSeen(t, bob); got["alice-model"] != "write" {
		t.Errorf("Bob in editors sees %v through jimmctl; want write", got)
	}
	if got := e.modelsSeen(t, bob); got["alice-model"] != "write" {
		t.Errorf("Bob in editors sees %v through the Juju client; want write", got)
	}
	if err := e.canWrite(t, bob, info.UUID); err != nil {
		t.Errorf("Bob (in editors) changes the model's config: %v", err)
	}
	// A connection Bob holds open while he leaves the group is closed: the
	// controller decided its access at login.
	held, err := e.openAs(bob, info.UUID)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	removed := time.Now()
	e.jimmctl(t, "auth", "group", "remove-member", "editors", bobSubj)
	select {
	case <-held.Broken():
		t.Logf("Bob's open model connection closed %s after his removal from editors", time.Since(removed).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Errorf("Bob's open model connection survived his removal from editors by 30s")
	}
	wantErr(t, "Bob, out of editors, changes the model's config", e.canWrite(t, bob, info.UUID), params.CodeUnauthorized, "permission denied")
	if relationCheck(t, admin, bobSubj, "writer", model) || !relationCheck(t, admin, bobSubj, "reader", model) {
		t.Errorf("out of editors, jimmctl says Bob's access is not read")
	}

	// A broker administrator sees and administers everything.
	if got := e.modelsSeen(t, carol); len(got) != 0 {
		t.Errorf("Carol sees %v before she is an administrator", got)
	}
	e.jimmctl(t, "auth", "relation", "add", carolSubj, "administrator", "controller:jimm")
	if got := e.modelsSeen(t, carol); got["alice-model"] != "admin" {
		t.Errorf("Carol (broker administrator) sees %v through the Juju client; want alice-model as admin", got)
	}
	if res, err := carol.ctl.Run(ctx, "list-models", "--format", "json"); err != nil || res.ExitCode != 0 || !strings.Contains(res.Stdout, `"controller": "ctl-1"`) {
		t.Errorf("Carol (broker administrator) through jimmctl: %v\n%s", err, res)
	}
	if err := e.canWrite(t, carol, info.UUID); err != nil {
		t.Errorf("Carol (broker administrator) changes the model's config: %v", err)
	}
	// UserInfo through the broker says the same.
	aconn := e.open(t, "")
	users, err := usermanager.NewClient(aconn).UserInfo([]string{"carol@example.com", "bob@example.com"}, usermanager.AllUsers)
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	access := map[string]string{}
	for _, u := range users {
		access[u.Username] = u.Access
	}
	if access["carol@example.com"] != "superuser" || access["bob@example.com"] != "login" {
		t.Errorf("UserInfo access: %v; want carol superuser, bob login", access)
	}

	// Alice revokes Bob's read with the Juju client: he sees nothing again.
	if err := mm.RevokeModel("bob@example.com", "read", info.UUID); err != nil {
		t.Fatalf("Alice revokes Bob's read: %v", err)
	}
	if got := e.modelsSeen(t, bob); len(got) != 0 {
		t.Errorf("after the revoke Bob sees %v", got)
	}
	wantErr(t, "Bob opens the model after the revoke", e.canRead(t, bob, info.UUID), params.CodeModelNotFound, "unknown model")
	// Bob cannot grant himself anything.
	bconn, err := e.openAs(bob, "")
	if err != nil {
		t.Fatal(err)
	}
	defer bconn.Close()
	// (To Bob, with no access, the model does not exist.) The call
	// modelmanager.Client.GrantModel makes, to see the change's error code
	// (GrantModel keeps only the message).
	var granted params.ErrorResults
	err = bconn.APICall("ModelManager", bconn.BestFacadeVersion("ModelManager"), "", "ModifyModelAccess", params.ModifyModelAccessRequest{
		Changes: []params.ModifyModelAccess{{
			UserTag: names.NewUserTag("bob@example.com").String(), Action: params.GrantModelAccess,
			Access: params.ModelAdminAccess, ModelTag: names.NewModelTag(info.UUID).String(),
		}},
	}, &granted)
	if err != nil || len(granted.Results) != 1 {
		t.Errorf("Bob grants himself admin on Alice's model: %+v, %v; want one result", granted, err)
	} else {
		var refusal error // nil unless the result holds an error
		if e := granted.Results[0].Error; e != nil {
			refusal = e
		}
		wantErr(t, "Bob grants himself admin on Alice's model", refusal, params.CodeNotFound, `model "`+info.UUID+`" not found`)
	}
	notAdmin := "adding relations on " + model + " needs administrator access to it (or broker administrator access); bob@example.com does not have it"
	r, _ = bob.ctl.Run(ctx, "auth", "relation", "add", bobSubj, "administrator", model)
	wantCtlRefusal(t, "Bob adds himself as the model's administrator with jimmctl", r,
		"add relation "+bobSubj+" administrator "+model+": "+notAdmin+" (ask an administrator of "+model+", or a broker administrator)")
	status, body = e.restDo(t, bob.token, http.MethodPost, "/v1/relations", map[string]string{"subject": bobSubj, "relation": "administrator", "object": model})
	wantRESTRefusal(t, "Bob adds himself as the model's administrator with the admin API", status, body, http.StatusForbidden, "forbidden", notAdmin)
	if relationCheck(t, admin, bobSubj, "administrator", model) {
		t.Errorf("after the refusals jimmctl says Bob administers the model")
	}

	// The audit log holds the scenario's logins and changes, readable only
	// with audit_log_viewer, and no secret.
	if r, _ := bob.ctl.Run(ctx, "audit", "list"); r.ExitCode == 0 || !strings.Contains(r.Stderr, "audit_log_viewer") {
		t.Errorf("Bob read the audit log without audit_log_viewer, or the refusal does not say what he lacks: %s", r)
	}
	e.jimmctl(t, "auth", "relation", "add", bobSubj, "audit_log_viewer", "controller:jimm")
	want := map[string]restAuditEvent{
		"Alice's device login":            {Identity: "alice@example.com", Facade: "Admin", Method: "device", Result: "ok"},
		"Carol's device login":            {Identity: "carol@example.com", Facade: "Admin", Method: "device", Result: "ok"},
		"Bob's session-token login":       {Identity: "bob@example.com", Facade: "Admin", Method: "session-token", Result: "ok"},
		"Alice creating her model":        {Identity: "alice@example.com", Facade: "ModelManager", Method: "CreateModel", Model: info.UUID, Result: "ok"},
		"Alice's refused CreateModel":     {Identity: "alice@example.com", Facade: "ModelManager", Method: "CreateModel", Result: "unauthorized access"},
		"Alice's grant to Bob":            {Identity: "alice@example.com", Facade: "ModelManager", Method: "ModifyModelAccess", Model: info.UUID, Result: "ok"},
		"Bob's ModelSet as a writer":      {Identity: "bob@example.com", Facade: "ModelConfig", Method: "ModelSet", Model: info.UUID, Result: "ok"},
		"Bob's refused ModelSet":          {Identity: "bob@example.com", Facade: "ModelConfig", Method: "ModelSet", Model: info.UUID, Result: "unauthorized access"},
		"the admin adding a relation":     {Identity: "admin", Facade: "REST", Method: "POST /v1/relations"},
		"the admin adding Bob to a group": {Identity: "admin", Facade: "REST", Method: "POST /v1/groups/editors/members"},
	}
	var events []restAuditEvent
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		events = events[:0]
		for after := ""; ; {
			args := []string{"audit", "list", "--format", "json", "--limit", "100"}
			if after != "" {
				args = append(args, "--after", after)
			}
			r, err := bob.ctl.Run(ctx, args...)
			if err != nil || r.ExitCode != 0 {
				t.Fatalf("Bob, an audit_log_viewer, lists the audit log: %v\n%s", err, r)
			}
			var page restAuditEvents
			decodeStrictJSON(t, r.Stdout, &page)
			events = append(events, page.Events...)
			if after = page.Next; after == "" {
				break
			}
		}
		missing := []string{}
		for what, w := range want {
			if !slices.ContainsFunc(events, func(ev restAuditEvent) bool { return ev.has(w) }) {
				missing = append(missing, what)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the audit log lacks %v; it holds %d events", missing, len(events))
			break
		}
	}
	secrets := e.secrets()
	for _, u := range oidcproc.Users {
		secrets[u.Password] = u.Email + "'s password at dex"
	}
	secrets[oidcproc.BrokerClientSecret] = "the broker's client secret"
	secrets[brokerAdminPassword] = "the broker admin's password"
	for _, p := range []*person{alice, bob, carol} {
		secrets[p.token] = p.name + "'s session token"
		secrets[strings.Split(p.token, ".")[2]] = p.name + "'s session token's signature"
	}
	if n := e.scanAuditForSecrets(t, secrets); n < len(want) {
		t.Errorf("only %d rows in audit_events", n)
	}
}

// TestAccessServiceAccount: a service account logs in with client
// credentials and gets exactly what it was granted.
func TestAccessServiceAccount(t *testing.T) {
	bins := buildBrokerBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	idp := startExample(t, ctx)
	e := newOIDCBrokerEnv(t, bins, idp.Issuer, "web", "secret", "")
	e.addControllers(t, []ctlSpec{{"ctl-1", "east"}})
	const id, secret = oidcproc.ExampleServiceClientID, oidcproc.ExampleServiceClientSecret
	sa := id + "@serviceaccount"

	mm := modelmanager.NewClient(e.open(t, ""))
	readable, err := mm.CreateModel("ci-reads", "admin", "localhost", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mm.CreateModel("not-for-ci", "admin", "localhost", "", names.CloudCredentialTag{}, nil); err != nil {
		t.Fatal(err)
	}
	open := func(modelUUID string) (api.Connection, error) {
		info := &api.Info{Addrs: []string{e.broker().Addr}, CACert: e.caPEM}
		if modelUUID != "" {
			info.ModelTag = names.NewModelTag(modelUUID)
		}
		opts := dialOpts
		opts.LoginProvider = api.NewClientCredentialsLoginProvider(id, secret)
		return api.Open(info, opts)
	}
	seen := func() []string {
		conn, err := open("")
		if err != nil {
			t.Fatalf("service account login: %v", err)
		}
		defer conn.Close()
		sums, err := modelmanager.NewClient(conn).ListModelSummaries(sa, false)
		if err != nil {
			t.Fatalf("ListModelSummaries as %s: %v", sa, err)
		}
		var out []string
		for _, s := range sums {
			out = append(out, s.Name+":"+string(s.ModelUserAccess))
		}
		return out
	}
	if got := seen(); len(got) != 0 {
		t.Errorf("the service account sees %v before any grant", got)
	}
	e.jimmctl(t, "auth", "relation", "add", "serviceaccount:"+id, "reader", "model:"+readable.UUID)
	if got := seen(); len(got) != 1 || got[0] != "ci-reads:read" {
		t.Errorf("the service account sees %v; want ci-reads:read only", got)
	}
	conn, err := open(readable.UUID)
	if err != nil {
		t.Fatalf("the service account opens the model it reads: %v", err)
	}
	defer conn.Close()
	if _, err := modelconfig.NewClient(conn).ModelGet(); err != nil {
		t.Errorf("the service account reads the model's config: %v", err)
	}
	err = modelconfig.NewClient(conn).ModelSet(map[string]any{"logging-config": "<root>=DEBUG"})
	wantErr(t, "the service account (reader) changes the model's config", err, params.CodeUnauthorized, "permission denied")
}
