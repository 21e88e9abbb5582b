package store

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// SecretBackend is a secret backend of the controller (what Juju's
// add-secret-backend adds): a place outside the controller where models
// may keep secret content. Its Config is kept as the client gave it and
// may hold secrets (a vault token): never log it whole (LogValue leaves it
// out).
type SecretBackend struct {
	// ID is the backend's id, unique on the controller; Juju's model
	// export names a model's backend by it.
	ID string `json:"id"`
	// Name is unique on the controller too; models name their backend by
	// it (model config secret-backend).
	Name        string `json:"name"`
	BackendType string `json:"backend-type"`
	// TokenRotateInterval, when set, is how often the backend's access
	// token would be rotated.
	TokenRotateInterval *time.Duration `json:"token-rotate-interval,omitempty"`
	Config              map[string]any `json:"config,omitempty"`
	CreatedAt           time.Time      `json:"created-at"`
	UpdatedAt           time.Time      `json:"updated-at"`
}

// LogValue keeps the config (secrets) out of logs.
func (b *SecretBackend) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", b.ID), slog.String("name", b.Name), slog.String("type", b.BackendType))
}

// SecretBackend returns a secret backend by id.
func (s *Store) SecretBackend(id string) (*SecretBackend, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.secretBackends[id]
	return b, ok
}

// SecretBackendByName returns a secret backend by name.
func (s *Store) SecretBackendByName(name string) (*SecretBackend, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.secretBackends {
		if b.Name == name {
			return b, true
		}
	}
	return nil, false
}

// SecretBackends returns every secret backend, sorted by id.
func (s *Store) SecretBackends() []*SecretBackend {
	s.mu.RLock()
	out := make([]*SecretBackend, 0, len(s.secretBackends))
	for _, b := range s.secretBackends {
		out = append(out, b)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CreateSecretBackend adds b, which the store then owns. It fails with
// ErrAlreadyExists when a backend has b's id or b's name.
func (s *Store) CreateSecretBackend(ctx context.Context, b *SecretBackend) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if b.ID == "" || b.Name == "" {
		return fmt.Errorf("secret backend %q (id %q): a backend needs an id and a name", b.Name, b.ID)
	}
	if _, ok := s.SecretBackend(b.ID); ok {
		return fmt.Errorf("secret backend with id %q: %w", b.ID, ErrAlreadyExists)
	}
	if _, ok := s.SecretBackendByName(b.Name); ok {
		return fmt.Errorf("secret backend %q: %w", b.Name, ErrAlreadyExists)
	}
	if err := s.commit(ctx, bucketSecretBackends, b.ID, b); err != nil {
		return err
	}
	s.mu.Lock()
	s.secretBackends[b.ID] = b
	s.mu.Unlock()
	return nil
}

// UpdateSecretBackend applies fn to a copy of the backend with id and
// commits it. It fails with ErrNotFound when there is no such backend and
// with ErrAlreadyExists when fn renames it to the name of another; fn may
// not change the id.
func (s *Store) UpdateSecretBackend(ctx context.Context, id string, fn func(b *SecretBackend) error) (*SecretBackend, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.SecretBackend(id)
	if !ok {
		return nil, fmt.Errorf("secret backend with id %q: %w", id, ErrNotFound)
	}
	next, err := clone(cur)
	if err != nil {
		return nil, err
	}
	if err := fn(next); err != nil {
		return nil, err
	}
	if next.ID != id {
		return nil, fmt.Errorf("secret backend %q: its id cannot change", cur.Name)
	}
	if other, ok := s.SecretBackendByName(next.Name); ok && other.ID != id {
		return nil, fmt.Errorf("secret backend %q: %w", next.Name, ErrAlreadyExists)
	}
	if err := s.commit(ctx, bucketSecretBackends, id, next); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.secretBackends[id] = next
	s.mu.Unlock()
	return next, nil
}

// DeleteSecretBackend removes the backend with id; ErrNotFound when there
// is none.
func (s *Store) DeleteSecretBackend(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.SecretBackend(id); !ok {
		return fmt.Errorf("secret backend with id %q: %w", id, ErrNotFound)
	}
	if err := s.commit(ctx, bucketSecretBackends, id, nil); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.secretBackends, id)
	s.mu.Unlock()
	return nil
}
