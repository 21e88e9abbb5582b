package jimmctl

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// queryBroker answers POST /v1/query-models with answer for the
// expressions it knows, and as the broker refuses one that does not
// compile otherwise; it records the expressions asked.
func queryBroker(t *testing.T, answers map[string]restapi.QueryModelsResult) *[]string {
	t.Helper()
	var asked []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != restapi.PathQueryModels {
			writeError(w, http.StatusNotFound, restapi.CodeNotFound, "no %s %s", r.Method, r.URL.Path)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw" {
			writeError(w, http.StatusUnauthorized, restapi.CodeUnauthorized, "bad credentials")
			return
		}
		var req restapi.QueryModelsRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "query models: expected JSON")
			return
		}
		asked = append(asked, req.Query)
		res, ok := answers[req.Query]
		if !ok {
			writeError(w, http.StatusBadRequest, restapi.CodeBadRequest, "bad jq expression: unexpected EOF (at byte 14)")
			return
		}
		writeJSON(w, http.StatusOK, res)
	}))
	t.Cleanup(srv.Close)
	isolate(t)
	t.Setenv(EnvURL, srv.URL)
	t.Setenv(EnvCACert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	t.Setenv(EnvUser, "admin")
	t.Setenv(EnvPassword, "pw")
	return &asked
}

func TestQueryModels(t *testing.T) {
	const expr = `.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key`
	result := restapi.QueryModelsResult{Models: map[string]restapi.ModelQueryResult{
		"u-3": {Name: "zeta", Owner: "admin", Controller: "ctl-1", Outputs: []any{"db", "db2"}},
		"u-1": {Name: "alpha", Owner: "bob", Controller: "ctl-2", Outputs: []any{map[string]any{"a": "<b>", "n": 1.0}}},
		"u-2": {Name: "alpha", Owner: "admin", Controller: "ctl-2", Outputs: []any{}},
		"u-4": {Name: "mid", Owner: "admin", Controller: "ctl-3", Outputs: []any{}, Error: "controller ctl-3 did not answer within 10s"},
	}, Omitted: 2}
	asked := queryBroker(t, map[string]restapi.QueryModelsResult{expr: result, ".none": {Models: map[string]restapi.ModelQueryResult{
		"u-1": {Name: "alpha", Owner: "bob", Outputs: []any{}},
	}}, ".empty": {Models: map[string]restapi.ModelQueryResult{}}})

	t.Run("tabular", func(t *testing.T) {
		stdout, stderr, err := run(t, "", "query-models", expr)
		if err != nil {
			t.Fatalf("query-models: %v\n%s", err, stderr)
		}
		want := `alpha (u-1):
  {"a":"<b>","n":1}
mid (u-4):
  error: controller ctl-3 did not answer within 10s
zeta (u-3):
  "db"
  "db2"
`
		if stdout != want {
			t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
		}
		wantErr := "WARNING 1 of 4 models could not be queried, or not fully: see their errors\n" +
			"WARNING 2 more models were not queried: a query covers at most 4 models\n"
		if stderr != wantErr {
			t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
		}
		if got := (*asked)[len(*asked)-1]; got != expr {
			t.Errorf("the broker was asked %q, want %q", got, expr)
		}
	})
	t.Run("json", func(t *testing.T) {
		stdout, _, err := run(t, "", "query-models", "--format", "json", expr)
		if err != nil {
			t.Fatal(err)
		}
		var got restapi.QueryModelsResult
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("decode: %v\n%s", err, stdout)
		}
		if !reflect.DeepEqual(got, result) {
			t.Errorf("json output decodes to %+v, want %+v", got, result)
		}
	})
	t.Run("yaml", func(t *testing.T) {
		stdout, _, err := run(t, "", "query-models", "--format", "yaml", expr)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Models map[string]struct {
				Name    string `yaml:"name"`
				Outputs []any  `yaml:"outputs"`
				Error   string `yaml:"error"`
			} `yaml:"models"`
			Omitted int `yaml:"omitted"`
		}
		if err := yaml.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("decode: %v\n%s", err, stdout)
		}
		if len(got.Models) != 4 || got.Omitted != 2 || !reflect.DeepEqual(got.Models["u-3"].Outputs, []any{"db", "db2"}) ||
			got.Models["u-4"].Error != "controller ctl-3 did not answer within 10s" {
			t.Errorf("yaml output: %+v\n%s", got, stdout)
		}
	})
	t.Run("no output", func(t *testing.T) {
		stdout, stderr, err := run(t, "", "query-models", ".none")
		if err != nil || stdout != "" || stderr != "No output from any of the 1 models queried.\n" {
			t.Errorf("got %v, stdout %q, stderr %q", err, stdout, stderr)
		}
		stdout, stderr, err = run(t, "", "query-models", ".empty")
		if err != nil || stdout != "" || stderr != "No models to query.\n" {
			t.Errorf("got %v, stdout %q, stderr %q", err, stdout, stderr)
		}
	})
	t.Run("invalid expression", func(t *testing.T) {
		stdout, stderr, err := run(t, "", "query-models", ".applications[")
		if err == nil || stdout != "" || !strings.Contains(stderr, "ERROR query models: bad jq expression: unexpected EOF (at byte 14)") {
			t.Errorf("got %v, stdout %q, stderr %q; want a failure with the broker's message", err, stdout, stderr)
		}
	})
	t.Run("arguments", func(t *testing.T) {
		n := len(*asked)
		if _, stderr, err := run(t, "", "query-models"); err == nil || !strings.Contains(stderr, "query-models takes <jq-expression>") {
			t.Errorf("no expression: %v %q", err, stderr)
		}
		if _, stderr, err := run(t, "", "query-models", "  "); err == nil || !strings.Contains(stderr, "empty jq expression") {
			t.Errorf("a blank expression: %v %q", err, stderr)
		}
		if len(*asked) != n {
			t.Errorf("the broker was asked %q", (*asked)[n:])
		}
	})
}
