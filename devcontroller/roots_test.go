package devcontroller

import (
	"slices"
	"testing"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// juju35 is the table's facades by name.
func juju35() map[string][]int {
	m := map[string][]int{}
	for _, f := range jujuapi.Juju35.Facades() {
		m[f.Name] = f.Versions
	}
	return m
}

// checkVersions reports each facade of got whose versions are not those a
// Juju 3.5 controller serves.
func checkVersions(t *testing.T, where string, got []jujuapi.FacadeVersions) {
	t.Helper()
	want := juju35()
	if len(got) == 0 {
		t.Errorf("%s: no facades", where)
	}
	for _, f := range got {
		w, ok := want[f.Name]
		switch {
		case !ok:
			t.Errorf("%s: facade %s %v is not in jujuapi.Juju35", where, f.Name, f.Versions)
		case !slices.Equal(f.Versions, w):
			t.Errorf("%s: facade %s at versions %v, Juju 3.5 serves %v", where, f.Name, f.Versions, w)
		}
	}
}

// TestRootsServeJuju35Versions: each root offers every facade it serves at
// exactly the versions of jujuapi.Juju35.
func TestRootsServeJuju35Versions(t *testing.T) {
	ctl, mdl, agt := buildRoots()
	checkVersions(t, "controller root", ctl.Versions())
	checkVersions(t, "model root", mdl.Versions())
	checkVersions(t, "agent root", agt.Versions())
}

// TestLoginListsJuju35Versions: what a client is told at login, on /api and
// on a model connection, is the Juju 3.5 versions.
func TestLoginListsJuju35Versions(t *testing.T) {
	c := startController(t, t.TempDir())
	admin, res, err := login(t, c, "/api", "admin", "secret")
	if err != nil {
		t.Fatal(err)
	}
	checkVersions(t, "login on /api", fromParams(res.Facades))
	m := createModel(t, admin, "m", "admin")
	_, res, err = login(t, c, "/model/"+m.UUID+"/api", "admin", "secret")
	if err != nil {
		t.Fatal(err)
	}
	checkVersions(t, "login on a model connection", fromParams(res.Facades))
}

func fromParams(fs []params.FacadeVersions) []jujuapi.FacadeVersions {
	out := make([]jujuapi.FacadeVersions, len(fs))
	for i, f := range fs {
		out[i] = jujuapi.FacadeVersions{Name: f.Name, Versions: f.Versions}
	}
	return out
}
