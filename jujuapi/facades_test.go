package jujuapi_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
)

// TestJuju35HighestVersions: the highest version of each facade is the one
// a Juju 3.5 client calls (it picks the highest both sides list), as seen
// on the wire from the 3.5.4 CLI and Go client.
func TestJuju35HighestVersions(t *testing.T) {
	for facade, want := range map[string]int{
		"Admin":           3,
		"Pinger":          1,
		"ModelManager":    10,
		"Cloud":           7,
		"Controller":      11,
		"UserManager":     3,
		"ModelConfig":     3,
		"Client":          7,
		"MigrationTarget": 3,
	} {
		vs := jujuapi.Juju35.Versions(facade)
		if len(vs) == 0 || vs[len(vs)-1] != want {
			t.Errorf("Juju35.Versions(%q) = %v, want the highest to be %d", facade, vs, want)
		}
	}
}

// TestJuju35Shape: every facade lists at least one version, each positive,
// ascending and without repeats, and Facades agrees with Versions.
func TestJuju35Shape(t *testing.T) {
	all := jujuapi.Juju35.Facades()
	if len(all) == 0 {
		t.Fatal("Juju35 lists no facade")
	}
	for i, f := range all {
		if i > 0 && all[i-1].Name >= f.Name {
			t.Errorf("Facades not sorted by name: %q before %q", all[i-1].Name, f.Name)
		}
		if len(f.Versions) == 0 {
			t.Errorf("facade %q lists no version", f.Name)
		}
		for j, v := range f.Versions {
			if v <= 0 || (j > 0 && f.Versions[j-1] >= v) {
				t.Errorf("facade %q versions %v: want positive, ascending, no repeats", f.Name, f.Versions)
				break
			}
		}
		if got := jujuapi.Juju35.Versions(f.Name); !slices.Equal(got, f.Versions) {
			t.Errorf("Versions(%q) = %v, Facades lists %v", f.Name, got, f.Versions)
		}
	}
}

// A 3.5 controller serves Admin 3 only; Admin 4 is the broker's.
func TestJuju35AdminIsThreeOnly(t *testing.T) {
	if got := jujuapi.Juju35.Versions("Admin"); !slices.Equal(got, []int{3}) {
		t.Errorf("Juju35 Admin versions = %v, want [3]", got)
	}
	if slices.Contains(jujuapi.Juju35.Versions("Admin"), jujuapi.AdminSessionLoginVersion) {
		t.Errorf("Juju35 lists Admin %d, which a 3.5 controller does not serve", jujuapi.AdminSessionLoginVersion)
	}
}

// What Versions and Facades return is the caller's: changing it leaves
// the table as it was.
func TestFacadeTableReturnsCopies(t *testing.T) {
	vs := jujuapi.Juju35.Versions("ModelManager")
	want := slices.Clone(vs)
	vs[0] = 99
	if got := jujuapi.Juju35.Versions("ModelManager"); !slices.Equal(got, want) {
		t.Errorf("after changing a returned slice, Versions = %v, want %v", got, want)
	}
	all := jujuapi.Juju35.Facades()
	all[0].Versions[0] = 99
	if got := jujuapi.Juju35.Facades(); got[0].Versions[0] == 99 {
		t.Errorf("after changing Facades' result, Facades()[0] = %v", got[0])
	}
}

// A facade the table does not list is a panic that names it and the
// table, so a typo fails at startup.
func TestFacadeTableUnknownFacadePanics(t *testing.T) {
	defer func() {
		p := recover()
		msg := fmt.Sprint(p)
		if p == nil || !strings.Contains(msg, `"ModelManger"`) || !strings.Contains(msg, "Juju 3.5") {
			t.Errorf("Versions of a misspelt facade: recovered %v, want a panic naming the facade and the table", p)
		}
	}()
	jujuapi.Juju35.Versions("ModelManger")
	t.Error("Versions of a misspelt facade returned")
}

// A registry built from the table offers exactly the table's versions.
func TestRegistryFromFacadeTable(t *testing.T) {
	var r jujuapi.Registry[struct{}]
	noop := jujuapi.NoParams(func(struct{}, context.Context) (struct{}, error) { return struct{}{}, nil })
	for _, f := range jujuapi.Juju35.Facades() {
		r.Register(f.Name, jujuapi.Juju35.Versions(f.Name), "Noop", noop)
	}
	if got, want := r.Versions(), jujuapi.Juju35.Facades(); !reflect.DeepEqual(got, want) {
		t.Errorf("registry versions = %v, want %v", got, want)
	}
}
