package store

import (
	"context"
	"fmt"
	"sort"
)

// Credential returns a credential by id ("cloud/owner/name").
func (s *Store) Credential(id string) (*Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.credentials[id]
	return c, ok
}

// Credentials returns every credential, sorted by cloud, owner and name.
func (s *Store) Credentials() []*Credential {
	s.mu.RLock()
	out := make([]*Credential, 0, len(s.credentials))
	for _, c := range s.credentials {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// UpdateCredential applies fn to a copy of the credential with id
// (a new Credential with only its id fields set when there is none) and
// commits it. fn is told whether the credential existed.
func (s *Store) UpdateCredential(ctx context.Context, cloud, owner, name string, fn func(c *Credential, exists bool) error) (*Credential, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	id := CredentialID(cloud, owner, name)
	next := &Credential{Cloud: cloud, Owner: owner, Name: name}
	cur, exists := s.Credential(id)
	if exists {
		var err error
		if next, err = clone(cur); err != nil {
			return nil, err
		}
	}
	if err := fn(next, exists); err != nil {
		return nil, err
	}
	if next.ID() != id {
		return nil, fmt.Errorf("credential %q: its cloud, owner or name changed", id)
	}
	if err := s.commit(ctx, bucketCredentials, id, next); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.credentials[id] = next
	s.mu.Unlock()
	return next, nil
}

// DeleteCredential removes a credential and, in the same transaction,
// clears it from every model that uses it (as Juju does when a credential
// is revoked). It returns the UUIDs of those models.
func (s *Store) DeleteCredential(ctx context.Context, id string) ([]string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.Credential(id)
	if !ok {
		return nil, fmt.Errorf("credential %q: %w", id, ErrNotFound)
	}
	writes := []write{{bucketCredentials, id, nil}}
	changed := map[string]*Model{}
	tagID := cur.TagID()
	for _, m := range s.Models() {
		if m.Credential != tagID {
			continue
		}
		next, err := clone(m)
		if err != nil {
			return nil, err
		}
		next.Credential = ""
		changed[m.UUID] = next
		writes = append(writes, write{bucketModels, m.UUID, next})
	}
	if err := s.commitAll(ctx, writes...); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.credentials, id)
	for uuid, m := range changed {
		s.models[uuid] = m
	}
	s.mu.Unlock()
	uuids := make([]string, 0, len(changed))
	for uuid := range changed {
		s.changed(uuid)
		uuids = append(uuids, uuid)
	}
	sort.Strings(uuids)
	return uuids, nil
}
