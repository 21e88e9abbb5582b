package store

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestSecretBackendsAndDeletedUsersSurviveReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSecretBackend(ctx, &SecretBackend{ID: "b1", Name: "vault", BackendType: "vault", Config: map[string]any{"endpoint": "https://v"}}); err != nil {
		t.Fatal(err)
	}
	for _, dup := range []*SecretBackend{{ID: "b1", Name: "other"}, {ID: "b2", Name: "vault"}} {
		if err := s.CreateSecretBackend(ctx, dup); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("create %+v: got %v, want ErrAlreadyExists", dup, err)
		}
	}
	if err := s.CreateSecretBackend(ctx, &SecretBackend{ID: "b2", Name: "kube", BackendType: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSecretBackend(ctx, "b2", func(b *SecretBackend) error { b.Name = "vault"; return nil }); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("rename onto another backend: got %v, want ErrAlreadyExists", err)
	}
	if _, err := s.UpdateSecretBackend(ctx, "b2", func(b *SecretBackend) error { b.Name = "kube2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecretBackend(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecretBackend(ctx, "b1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: got %v, want ErrNotFound", err)
	}
	for _, name := range []string{"alice", "bob"} {
		if _, err := s.UpdateUser(ctx, name, true, func(*User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// Adding bob again clears his record.
	if _, err := s.UpdateUser(ctx, "bob", true, func(*User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if bs := s.SecretBackends(); len(bs) != 1 || bs[0].ID != "b2" || bs[0].Name != "kube2" {
		t.Errorf("backends after reopen: %+v", bs)
	}
	if b, ok := s.SecretBackendByName("kube2"); !ok || b.ID != "b2" {
		t.Errorf("kube2 by name: %+v %v", b, ok)
	}
	if d, ok := s.DeletedUser("alice"); !ok || d.DeletedAt.IsZero() {
		t.Errorf("alice is not recorded as deleted after reopen: %+v", d)
	}
	if _, ok := s.DeletedUser("bob"); ok {
		t.Error("bob, added again, is still recorded as deleted")
	}
	if _, ok := s.User("bob"); !ok {
		t.Error("bob is gone after reopen")
	}
}
