package devcontroller

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/modellog"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// openLog dials a debug-log endpoint with basic auth and returns the
// connection and its first frame.
func openLog(t *testing.T, c *Controller, path, user, password string, q url.Values) (*jujuapi.Conn, params.ErrorResult) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	h := http.Header{}
	if user != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	u := url.URL{Scheme: "wss", Host: c.Addr(), Path: path, RawQuery: q.Encode()}
	conn, err := jujuapi.Dial(t.Context(), u.String(), jujuapi.DialOptions{
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"}, Header: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fr, err := conn.NextFrameWithin(15 * time.Second)
	if err != nil {
		t.Fatalf("first frame: %v", err)
	}
	defer fr.Release()
	if !strings.HasSuffix(string(fr.Bytes()), "\n") {
		t.Errorf("first frame %q does not end in a newline, as Juju's does", fr.Bytes())
	}
	var res params.ErrorResult
	if err := json.Unmarshal(fr.Bytes(), &res); err != nil {
		t.Fatalf("first frame %q: %v", fr.Bytes(), err)
	}
	return conn, res
}

// readRecords reads records until the stream ends (want < 0) or n came.
func readRecords(t *testing.T, conn *jujuapi.Conn, n int) ([]params.LogMessage, error) {
	t.Helper()
	var out []params.LogMessage
	for n < 0 || len(out) < n {
		fr, err := conn.NextFrameWithin(15 * time.Second)
		if err != nil {
			return out, err
		}
		var m params.LogMessage
		if err := json.Unmarshal(fr.Bytes(), &m); err != nil {
			t.Fatalf("record %q: %v", fr.Bytes(), err)
		}
		fr.Release()
		out = append(out, m)
	}
	return out, nil
}

func logMessages(recs []params.LogMessage) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Message
	}
	return out
}

func TestDebugLog(t *testing.T) {
	c := startController(t, t.TempDir())
	admin := mustLogin(t, c, "/api", "admin", "secret")
	addUser(t, admin, "reader", "readerpw")
	addUser(t, admin, "outsider", "outsiderpw")
	m := createModel(t, admin, "logged", "admin")
	grantModel(t, admin, "reader", "read", m.UUID)
	path := "/model/" + m.UUID + "/log"
	// A known log, beside what the model's creation wrote.
	// After the creation record, which startTime leaves out.
	t0 := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	c.appendLog(m.UUID,
		modellog.Record{Time: t0, Entity: "machine-0", Module: "juju.worker.provisioner", Level: logInfo, Message: "one"},
		modellog.Record{Time: t0.Add(time.Second), Entity: "unit-pg-0", Module: "juju.worker.uniter.operation", Level: logDebug, Message: "two"},
		modellog.Record{Time: t0.Add(2 * time.Second), Entity: "unit-pg-1", Module: "juju.worker.uniter", Level: logError, Message: "three", Labels: []string{"http"}},
		modellog.Record{Time: t0.Add(3 * time.Second), Entity: "machine-1", Module: "juju.worker.migrationminion", Level: logWarning, Message: "four"},
	)

	refusals := []struct {
		name, path, user, password string
		query                      url.Values
		code, msg                  string
	}{
		{"no credentials", path, "", "", nil, jujuapi.CodeNoCreds, "authentication failed: no credentials provided"},
		{"wrong password", path, "user-reader", "nope", nil, jujuapi.CodeUnauthorized, "authentication failed: invalid entity name or password"},
		{"no access to the model", path, "user-outsider", "outsiderpw", nil, jujuapi.CodeUnauthorized, "authorization failed: permission denied"},
		{"unknown model", "/model/00000000-0000-4000-8000-000000000000/log", "user-admin", "secret", nil, jujuapi.CodeModelNotFound, `unknown model: "00000000-0000-4000-8000-000000000000"`},
		{"bad level", path, "user-reader", "readerpw", url.Values{"level": {"LOUD"}}, "", `level value "LOUD" is not one of "TRACE", "DEBUG", "INFO", "WARNING", "ERROR"`},
		{"bad backlog", path, "user-reader", "readerpw", url.Values{"backlog": {"-1"}}, "", `backlog value "-1" is not a valid unsigned number`},
		{"bad start time", path, "user-reader", "readerpw", url.Values{"startTime": {"yesterday"}}, "", `start time "yesterday" is not a valid time in RFC3339 format`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			conn, res := openLog(t, c, tc.path, tc.user, tc.password, tc.query)
			wantItemError(t, tc.name, res.Error, tc.code, tc.msg)
			if _, err := conn.NextFrameWithin(15 * time.Second); !jujuapi.IsClosed(err) {
				t.Fatalf("after a refusal: %v, want the stream closed", err)
			}
		})
	}

	fixed := url.Values{"startTime": {t0.Format(time.RFC3339Nano)}, "noTail": {"true"}}
	with := func(kv ...string) url.Values {
		q := url.Values{}
		for k, v := range fixed {
			q[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			q.Add(kv[i], kv[i+1])
		}
		return q
	}
	queries := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"replay", with("replay", "true"), "[one two three four]"},
		{"backlog", with("backlog", "2"), "[three four]"},
		{"limit", with("replay", "true", "maxLines", "3"), "[one two three]"},
		{"level", with("replay", "true", "level", "warn"), "[three four]"},
		{"include entity with wildcard", with("replay", "true", "includeEntity", "unit-pg-*"), "[two three]"},
		{"exclude entity", with("replay", "true", "excludeEntity", "machine-0", "excludeEntity", "machine-1"), "[two three]"},
		{"include module and submodules", with("replay", "true", "includeModule", "juju.worker.uniter"), "[two three]"},
		{"exclude module", with("replay", "true", "excludeModule", "juju.worker.uniter"), "[one four]"},
		{"include label", with("replay", "true", "includeLabel", "http"), "[three]"},
		{"start time", url.Values{"noTail": {"true"}, "startTime": {t0.Add(2 * time.Second).Format(time.RFC3339Nano)}}, "[three four]"},
	}
	for _, tc := range queries {
		t.Run(tc.name, func(t *testing.T) {
			conn, res := openLog(t, c, path, "user-reader", "readerpw", tc.query)
			if res.Error != nil {
				t.Fatal(res.Error)
			}
			recs, err := readRecords(t, conn, -1)
			if !jujuapi.IsClosed(err) {
				t.Fatalf("stream did not end: %v", err)
			}
			if got := fmt.Sprint(logMessages(recs)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// The records are Juju's LogMessage, fields and all.
	conn, _ := openLog(t, c, path, "user-reader", "readerpw", with("replay", "true", "includeLabel", "http"))
	recs, _ := readRecords(t, conn, 1)
	if r := recs[0]; r.Entity != "unit-pg-1" || !r.Timestamp.Equal(t0.Add(2*time.Second)) || r.Severity != "ERROR" || r.Module != "juju.worker.uniter" || len(r.Labels) != 1 {
		t.Fatalf("record: %+v", r)
	}

	// Tailing: records added later reach an open reader; a model event is
	// one of them.
	tail, res := openLog(t, c, path, "user-reader", "readerpw", url.Values{"level": {"INFO"}, "includeModule": {"juju.apiserver.modelconfig"}})
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	mc := mustLogin(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	call(t, mc, "ModelConfig", 3, "ModelSet", params.ModelSet{Config: map[string]any{"ftp-proxy": "10.0.0.9"}}, nil)
	recs, err := readRecords(t, tail, 1)
	if err != nil || !strings.Contains(recs[0].Message, "set ftp-proxy") || recs[0].Entity != "machine-0" || recs[0].Location == "" {
		t.Fatalf("tailed: %v %+v", err, recs)
	}
	// The model going ends the stream.
	var destroyed params.ErrorResults
	call(t, admin, "ModelManager", 10, "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{{ModelTag: "model-" + m.UUID}}}, &destroyed)
	if _, err := readRecords(t, tail, -1); !jujuapi.IsClosed(err) {
		t.Fatalf("stream of a removed model: %v", err)
	}
}

// A migration's target holds the model's log, with the migration's
// phases; the source's log goes with the model.
func TestMigrationCarriesLog(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"))
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	m, _ := populated(t, src, admin)
	if _, e := initiate(t, admin, m.UUID, targetInfo(tgt)); e != nil {
		t.Fatal(e)
	}
	waitRedirect(t, src, m.UUID)
	conn, res := openLog(t, tgt, "/model/"+m.UUID+"/log", "user-admin", "secret", url.Values{"replay": {"true"}, "noTail": {"true"}})
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	recs, _ := readRecords(t, conn, -1)
	text := strings.Join(logMessages(recs), "\n")
	for _, want := range []string{
		`model "m" created by admin`,
		"setting migration phase to QUIESCE",
		"setting migration phase to IMPORT",
		"setting migration phase to VALIDATION",
		"setting migration phase to LOGTRANSFER",
		"successful, transferring logs to target controller (0 sent)",
		`activated here, migrated from controller "src"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("target's log lacks %q; it has:\n%s", want, text)
		}
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Message, "setting migration phase") &&
			(r.Module != "juju.worker.migrationmaster."+m.UUID[:6] || len(r.Labels) != 1 || r.Labels[0] != "migration") {
			t.Fatalf("migration record %+v", r)
		}
	}
	// The source no longer has the model, nor its log.
	conn, res = openLog(t, src, "/model/"+m.UUID+"/log", "user-admin", "secret", nil)
	wantItemError(t, "source log after migration", res.Error, jujuapi.CodeModelNotFound, fmt.Sprintf("unknown model: %q", m.UUID))
}

// A model's log survives a restart of the controller; the log of a model
// that is gone does not.
func TestModelLogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c, stop := runController(t, dir)
	admin := mustLogin(t, c, "/api", "admin", "secret")
	m := createModel(t, admin, "kept", "admin")
	c.modelEvent(m.UUID, logWarning, "juju.test", "before the restart")
	orphan := "0c3f5e5a-1b2c-4d5e-8f90-123456789abc"
	c.modelEvent(orphan, logInfo, "juju.test", "a model that is not here")
	stop()
	c = startController(t, dir)
	conn, res := openLog(t, c, "/model/"+m.UUID+"/log", "user-admin", "secret", url.Values{"replay": {"true"}, "noTail": {"true"}, "level": {"WARNING"}})
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	recs, _ := readRecords(t, conn, -1)
	if got := fmt.Sprint(logMessages(recs)); got != "[before the restart]" {
		t.Fatalf("after restart: %s", got)
	}
	stored, _ := c.logs.Stored()
	if !slices.Contains(stored, m.UUID) || slices.Contains(stored, orphan) {
		t.Fatalf("logs kept: %v, want %s's and not the orphan's", stored, m.UUID)
	}
}

// A migration carries what Juju's does besides the model's log: its
// constraints, blocks, annotations and cloud credential.
func TestMigrationCarriesModelState(t *testing.T) {
	src := startController(t, t.TempDir(), named("src"))
	tgt := startController(t, t.TempDir(), named("dst"))
	admin := mustLogin(t, src, "/api", "admin", "secret")
	tgtAdmin := mustLogin(t, tgt, "/api", "admin", "secret")
	addUser(t, admin, "bob", "bobpw")
	addUser(t, tgtAdmin, "bob", "bobpw")
	grantCloud(t, src, "bob", "add-model")
	bob := mustLogin(t, src, "/api", "bob", "bobpw")
	const tag = "cloudcred-localhost_bob_travel"
	if res, err := updateCredential(t, bob, tag, "interactive", map[string]string{"trust-password": "s3cret"}, false); err != nil || res.Results[0].Error != nil {
		t.Fatalf("credential: %v %+v", err, res)
	}
	var m params.ModelInfo
	call(t, bob, "ModelManager", 10, "CreateModel", params.ModelCreateArgs{Name: "travel", OwnerTag: "user-bob", CloudRegion: "r1", CloudCredentialTag: tag}, &m)
	mc := mustLogin(t, src, "/model/"+m.UUID+"/api", "bob", "bobpw")
	call(t, mc, "ModelConfig", 3, "SetModelConstraints", params.SetConstraints{Constraints: params.Constraints{Mem: ptr(uint64(2048))}}, nil)
	deployApp(t, mc, "pg", 1)
	var set params.ErrorResults
	call(t, mc, "Annotations", 2, "Set", params.AnnotationsSet{Annotations: []params.EntityAnnotations{{EntityTag: "application-pg", Annotations: map[string]string{"k": "v"}}}}, &set)
	if e := switchBlock(t, mc, "SwitchBlockOn", params.BlockDestroy, "precious"); e != nil {
		t.Fatal(e)
	}
	if _, e := initiate(t, admin, m.UUID, targetInfo(tgt)); e != nil {
		t.Fatal(e)
	}
	waitRedirect(t, src, m.UUID)

	tc := mustLogin(t, tgt, "/model/"+m.UUID+"/api", "bob", "bobpw")
	var cons params.GetConstraintsResults
	call(t, tc, "ModelConfig", 3, "GetModelConstraints", nil, &cons)
	if cons.Constraints.Mem == nil || *cons.Constraints.Mem != 2048 {
		t.Fatalf("constraints on the target: %+v", cons)
	}
	var blocks params.BlockResults
	call(t, tc, "Block", 2, "List", nil, &blocks)
	if len(blocks.Results) != 1 || blocks.Results[0].Result.Message != "precious" {
		t.Fatalf("blocks on the target: %+v", blocks)
	}
	var ann params.AnnotationsGetResults
	call(t, tc, "Annotations", 2, "Get", params.Entities{Entities: []params.Entity{{Tag: "application-pg"}}}, &ann)
	if ann.Results[0].Annotations["k"] != "v" {
		t.Fatalf("annotations on the target: %+v", ann)
	}
	tbob := mustLogin(t, tgt, "/api", "bob", "bobpw")
	var contents params.CredentialContentResults
	call(t, tbob, "Cloud", 7, "CredentialContents", params.CloudCredentialArgs{IncludeSecrets: true}, &contents)
	if len(contents.Results) != 1 || contents.Results[0].Result.Content.Attributes["trust-password"] != "s3cret" ||
		len(contents.Results[0].Result.Models) != 1 || contents.Results[0].Result.Models[0].Model != "travel" {
		t.Fatalf("credential on the target: %+v", contents)
	}
}
