package dbfault_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// closedDBError is a real database error: a query on a closed database
// (unavailable).
func closedDBError(t *testing.T) error {
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = d.ModelByUUID(t.Context(), "m")
	if !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("query on a closed database: %v, want ErrUnavailable", err)
	}
	return err
}

// statementError is a real database error that is not an outage.
func statementError(t *testing.T) error {
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Exec("SELECT * FROM no_such_table").Error
	var e *db.Error
	if !errors.As(err, &e) || errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("a bad statement: %v, want a database error that is not an outage", err)
	}
	return err
}

func TestForClient(t *testing.T) {
	plain := jujuapi.NotFoundf("model %q", "m")
	other := errors.New("controller said no")
	for _, tc := range []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string // "": the error unchanged
		isUnav   bool
	}{
		{"nil", nil, "", "", false},
		{"a Juju error", plain, jujuapi.CodeNotFound, "", false},
		{"not the database's", other, "", "", false},
		{"not found in the database", fmt.Errorf("look up model m: %w", db.ErrNotFound), "", "", false},
		{"an outage", fmt.Errorf("look up model m: %w", closedDBError(t)), jujuapi.CodeTryAgain, dbfault.UnavailableMessage, true},
		{"another database failure", fmt.Errorf("list models: %w", statementError(t)), "", dbfault.InternalMessage, false},
		{"already mapped, wrapped", fmt.Errorf("log in: %w", dbfault.Unavailable(nil)), jujuapi.CodeTryAgain, "log in: " + dbfault.UnavailableMessage, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dbfault.ForClient(tc.err, nil)
			if tc.wantMsg == "" {
				if got != tc.err {
					t.Fatalf("ForClient(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			wire := jujuapi.AsError(got)
			if wire.Code != tc.wantCode || wire.Message != tc.wantMsg {
				t.Fatalf("on the wire: %q (code %q), want %q (code %q)", wire.Message, wire.Code, tc.wantMsg, tc.wantCode)
			}
			if errors.Is(got, db.ErrUnavailable) != tc.isUnav {
				t.Fatalf("errors.Is(ErrUnavailable) = %v, want %v", !tc.isUnav, tc.isUnav)
			}
			if strings.Contains(wire.Message, "no_such_table") || strings.Contains(wire.Message, "sql:") {
				t.Fatalf("the client is shown the driver's words: %q", wire.Message)
			}
			if jujuapi.HTTPStatus(wire.Code) != map[bool]int{true: 503, false: 500}[tc.isUnav] {
				t.Fatalf("HTTP status %d", jujuapi.HTTPStatus(wire.Code))
			}
		})
	}
	// Per item of a bulk result.
	if e := dbfault.AsError(closedDBError(t), nil); e.Code != jujuapi.CodeTryAgain || e.Message != dbfault.UnavailableMessage {
		t.Fatalf("AsError of an outage: %+v", e)
	}
	if dbfault.AsError(nil, nil) != nil {
		t.Fatal("AsError(nil) is not nil")
	}
}
