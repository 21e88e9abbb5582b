package charm_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/testcharms"
)

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	data, err := testcharms.Zip(files)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const meta = "name: x\nsummary: s\ndescription: d\n"

func TestReadDemo(t *testing.T) {
	data, err := testcharms.Pack(testcharms.Demo)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := charm.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Meta.Name != "demo" || ch.Revision != 0 || len(ch.Bases) != 1 || ch.Bases[0].Channel != "22.04" {
		t.Errorf("demo: %+v", ch)
	}
	if want := (charm.Relation{Name: "backend", Role: "requirer", Interface: "http", Optional: true, Limit: 1, Scope: "global"}); ch.Meta.Requires["backend"] != want {
		t.Errorf("backend: %+v", ch.Meta.Requires["backend"])
	}
	if want := map[string]any{"greeting": "hello", "port": int64(8080), "verbose": false}; !reflect.DeepEqual(ch.DefaultSettings(), want) {
		t.Errorf("defaults %#v, want %#v", ch.DefaultSettings(), want)
	}
	var names []string
	for _, ep := range ch.Meta.Endpoints() {
		names = append(names, ep.Role+":"+ep.Name)
	}
	if want := []string{"requirer:backend", "provider:juju-info", "provider:website"}; !slices.Equal(names, want) {
		t.Errorf("endpoints %v, want %v", names, want)
	}
	if !slices.Equal(ch.Meta.BindingNames(), []string{"backend", "website"}) {
		t.Errorf("binding names %v", ch.Meta.BindingNames())
	}
	// Kept as JSON (in the state file), the defaults keep their types.
	raw, _ := json.Marshal(ch)
	var back charm.Charm
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back.DefaultSettings(), ch.DefaultSettings()) {
		t.Errorf("round trip: %v %#v", err, back.DefaultSettings())
	}
	a, _ := charm.OpenArchive(bytes.NewReader(data), int64(len(data)))
	if !a.HasHooksOrDispatch() || !slices.Contains(a.Files(), "dispatch") {
		t.Errorf("files %v", a.Files())
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		raw   []byte
		want  string
	}{
		{"not a zip", nil, []byte("hello"), "cannot open charm archive: zip: not a valid zip file"},
		{"no metadata", map[string]string{"config.yaml": "options: {}"}, nil, "invalid charm archive: missing metadata.yaml"},
		{"two roots", map[string]string{"a/metadata.yaml": meta, "b/metadata.yaml": meta}, nil, "invalid charm archive: ambiguous root directory"},
		{"no name", map[string]string{"metadata.yaml": "summary: s\ndescription: d\n"}, nil, "invalid charm archive: metadata: name: expected string, got nothing"},
		{"relation without interface", map[string]string{"metadata.yaml": meta + "provides:\n  web:\n    limit: 1\n"}, nil, "invalid charm archive: metadata: provides.web.interface: expected string, got nothing"},
		{"bad scope", map[string]string{"metadata.yaml": meta + "requires:\n  web:\n    interface: http\n    scope: galaxy\n"}, nil, `invalid charm archive: metadata: requires.web.scope: expected "global" or "container", got string("galaxy")`},
		{"unknown option type", map[string]string{"metadata.yaml": meta, "config.yaml": "options:\n  a:\n    type: colour\n"}, nil, `invalid charm archive: invalid config: option "a" has unknown type "colour"`},
		{"empty config", map[string]string{"metadata.yaml": meta, "config.yaml": "{}"}, nil, "invalid charm archive: invalid config: empty configuration"},
		{"bad revision", map[string]string{"metadata.yaml": meta, "revision": "three"}, nil, "invalid charm archive: invalid revision file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				data = zipOf(t, tc.files)
			}
			_, err := charm.Read(bytes.NewReader(data), int64(len(data)))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	// A charm in a directory of the archive is read from there.
	data := zipOf(t, map[string]string{"top/metadata.yaml": meta, "top/revision": "4", "top/deep/metadata.yaml": "name: other\n"})
	ch, err := charm.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil || ch.Meta.Name != "x" || ch.Revision != 4 {
		t.Errorf("nested: %+v %v", ch, err)
	}
}

func TestSettings(t *testing.T) {
	data, _ := testcharms.Pack(testcharms.Demo)
	ch, _ := charm.Read(bytes.NewReader(data), int64(len(data)))
	for _, tc := range []struct {
		name, value string
		want        any
		err         string
	}{
		{"port", "9000", int64(9000), ""},
		{"port", "high", nil, `option "port" expected int, got "high"`},
		{"verbose", "true", true, ""},
		{"greeting", "", "", ""},
		{"colour", "red", nil, `unknown option "colour"`},
	} {
		got, err := ch.ParseSetting(tc.name, tc.value)
		if (err == nil && tc.err != "") || (err != nil && err.Error() != tc.err) || (err == nil && got != tc.want) {
			t.Errorf("ParseSetting(%s, %q) = %#v, %v; want %#v, %q", tc.name, tc.value, got, err, tc.want, tc.err)
		}
	}
	if _, err := ch.ValidateSetting("verbose", 3); err == nil || err.Error() != `option "verbose" expected boolean, got 3` {
		t.Errorf("ValidateSetting: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want charm.URL
		err  string
	}{
		{"local:jammy/demo-0", charm.URL{Schema: "local", Series: "jammy", Name: "demo", Revision: 0}, ""},
		{"local:demo", charm.URL{Schema: "local", Name: "demo", Revision: -1}, ""},
		{"ch:amd64/jammy/postgresql-12", charm.URL{Schema: "ch", Architecture: "amd64", Series: "jammy", Name: "postgresql", Revision: 12}, ""},
		{"postgresql", charm.URL{Schema: "ch", Name: "postgresql", Revision: -1}, ""},
		{"ch:my-app-2", charm.URL{Schema: "ch", Name: "my-app", Revision: 2}, ""},
		{"cs:demo", charm.URL{}, `cannot parse URL "cs:demo": schema "cs" not valid`},
		{"local:a/b/c", charm.URL{}, `charm or bundle URL has invalid form: "local:a/b/c"`},
		{"local:Demo-1", charm.URL{}, `cannot parse name and/or revision in URL "local:Demo-1": name "Demo" not valid`},
		{"", charm.URL{}, `cannot parse name and/or revision in URL "": name "" not valid`},
	} {
		got, err := charm.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseURL(%q): %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || *got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if tc.in != "postgresql" && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}
