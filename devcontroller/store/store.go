package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta   = []byte("meta")
	bucketUsers  = []byte("users")
	bucketModels = []byte("models")
	// bucketRedirects holds a Redirect per model that migrated away.
	bucketRedirects = []byte("redirects")
	// bucketCredentials holds the users' cloud credentials, by id.
	bucketCredentials = []byte("credentials")
	// bucketSecretBackends holds the secret backends, by id.
	bucketSecretBackends = []byte("secret-backends")
	// bucketDeletedUsers holds a DeletedUser per removed user, by name.
	bucketDeletedUsers = []byte("deleted-users")
	keyMeta            = []byte("meta")
)

// Errors callers map to protocol errors.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
)

// Store is a controller's persistent state. It is safe for concurrent use;
// writes are serialised.
type Store struct {
	db  *bolt.DB
	wmu sync.Mutex // serialises writers, so read-check-write is atomic

	mu     sync.RWMutex // guards the maps and meta pointer below
	meta   *Meta
	users  map[string]*User
	models map[string]*Model
	// redirects maps a migrated model's UUID to where it went.
	redirects map[string]*Redirect
	// credentials maps a credential id ("cloud/owner/name") to it.
	credentials map[string]*Credential
	// secretBackends maps a secret backend's id to it.
	secretBackends map[string]*SecretBackend
	// deletedUsers maps the name of a removed user to its record.
	deletedUsers map[string]*DeletedUser

	// onChange, when set, is told the UUID of every model document
	// committed or removed, under the write lock: it must not block nor
	// call back into the store's writers.
	onChange func(uuid string)
}

// OnModelChange registers fn to be told the UUID of each model document
// created, changed or removed, right after the change is visible. fn runs
// with the store's write lock held: it must be quick (e.g. mark the model
// and signal a goroutine) and must not write to the store. Register it
// before the store is shared.
func (s *Store) OnModelChange(fn func(uuid string)) { s.onChange = fn }

func (s *Store) changed(uuid string) {
	if s.onChange != nil {
		s.onChange(uuid)
	}
}

// Open opens (creating if needed) the state file at path and loads it.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	s := &Store{db: db, users: map[string]*User{}, models: map[string]*Model{}, redirects: map[string]*Redirect{},
		credentials: map[string]*Credential{}, secretBackends: map[string]*SecretBackend{}, deletedUsers: map[string]*DeletedUser{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketUsers, bucketModels, bucketRedirects, bucketCredentials, bucketSecretBackends, bucketDeletedUsers} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if raw := tx.Bucket(bucketMeta).Get(keyMeta); raw != nil {
			s.meta = new(Meta)
			if err := json.Unmarshal(raw, s.meta); err != nil {
				return fmt.Errorf("decode controller identity: %w", err)
			}
		}
		if err := loadAll(tx.Bucket(bucketUsers), s.users); err != nil {
			return fmt.Errorf("load users: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketModels), s.models); err != nil {
			return fmt.Errorf("load models: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketRedirects), s.redirects); err != nil {
			return fmt.Errorf("load redirects: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketCredentials), s.credentials); err != nil {
			return fmt.Errorf("load credentials: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketSecretBackends), s.secretBackends); err != nil {
			return fmt.Errorf("load secret backends: %w", err)
		}
		if err := loadAll(tx.Bucket(bucketDeletedUsers), s.deletedUsers); err != nil {
			return fmt.Errorf("load deleted users: %w", err)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load state file %s: %w", path, err)
	}
	return s, nil
}

func loadAll[T any](b *bolt.Bucket, into map[string]*T) error {
	return b.ForEach(func(k, v []byte) error {
		doc := new(T)
		if err := json.Unmarshal(v, doc); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		into[string(k)] = doc
		return nil
	})
}

// Close closes the state file.
func (s *Store) Close() error { return s.db.Close() }

// write is one document to put (or delete, when doc is nil).
type write struct {
	bucket []byte
	key    string
	doc    any
}

// commit writes one document (or deletes it when doc is nil) in its own
// transaction.
func (s *Store) commit(ctx context.Context, bucket []byte, key string, doc any) error {
	return s.commitAll(ctx, write{bucket, key, doc})
}

// commitAll applies several writes in one transaction: all or none.
func (s *Store) commitAll(ctx context.Context, writes ...write) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raws := make([][]byte, len(writes))
	for i, w := range writes {
		if w.doc == nil {
			continue
		}
		raw, err := json.Marshal(w.doc)
		if err != nil {
			return fmt.Errorf("encode %s %q: %w", w.bucket, w.key, err)
		}
		raws[i] = raw
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, w := range writes {
			b := tx.Bucket(w.bucket)
			var err error
			if raws[i] == nil {
				err = b.Delete([]byte(w.key))
			} else {
				err = b.Put([]byte(w.key), raws[i])
			}
			if err != nil {
				return fmt.Errorf("%s %q: %w", w.bucket, w.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// clone deep-copies a document through its JSON form, which is exactly what
// is persisted.
func clone[T any](doc *T) (*T, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	out := new(T)
	return out, json.Unmarshal(raw, out)
}

// Meta returns the controller's identity, or nil before InitMeta.
func (s *Store) Meta() *Meta {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta
}

// UpdateMeta applies fn to a copy of the identity (a zero Meta the first
// time) and commits it.
func (s *Store) UpdateMeta(ctx context.Context, fn func(m *Meta) error) (*Meta, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	next := &Meta{}
	if cur := s.Meta(); cur != nil {
		var err error
		if next, err = clone(cur); err != nil {
			return nil, err
		}
	}
	if err := fn(next); err != nil {
		return nil, err
	}
	if err := s.commit(ctx, bucketMeta, string(keyMeta), next); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.meta = next
	s.mu.Unlock()
	return next, nil
}

// User returns a user by name.
func (s *Store) User(name string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	return u, ok
}

// Users returns every user, sorted by name.
func (s *Store) Users() []*User {
	s.mu.RLock()
	out := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UpdateUser applies fn to a copy of the named user and commits it. When
// the user does not exist, fn gets a new User with only Name set if create
// is true, and the call fails with ErrNotFound otherwise. Creating a user
// that was deleted clears its DeletedUser record, in the same transaction.
func (s *Store) UpdateUser(ctx context.Context, name string, create bool, fn func(u *User) error) (*User, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	next := &User{Name: name}
	if cur, ok := s.User(name); ok {
		var err error
		if next, err = clone(cur); err != nil {
			return nil, err
		}
	} else if !create {
		return nil, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err := fn(next); err != nil {
		return nil, err
	}
	writes := []write{{bucketUsers, name, next}}
	_, wasDeleted := s.DeletedUser(name)
	if wasDeleted {
		writes = append(writes, write{bucketDeletedUsers, name, nil})
	}
	if err := s.commitAll(ctx, writes...); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.users[name] = next
	delete(s.deletedUsers, name)
	s.mu.Unlock()
	return next, nil
}

// Model returns a model by UUID.
func (s *Store) Model(uuid string) (*Model, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.models[uuid]
	return m, ok
}

// Models returns every model, sorted by owner then name.
func (s *Store) Models() []*Model {
	s.mu.RLock()
	out := make([]*Model, 0, len(s.models))
	for _, m := range s.models {
		out = append(out, m)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Owner != out[j].Owner {
			return out[i].Owner < out[j].Owner
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// CreateModel commits a new model. It fails with ErrAlreadyExists when the
// UUID is taken or the owner already has a model of that name.
func (s *Store) CreateModel(ctx context.Context, m *Model) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	_, taken := s.models[m.UUID]
	for _, other := range s.models {
		if other.Owner == m.Owner && other.Name == m.Name {
			taken = true
		}
	}
	s.mu.RUnlock()
	if taken {
		return fmt.Errorf("model %q owned by %q: %w", m.Name, m.Owner, ErrAlreadyExists)
	}
	return s.putModel(ctx, m)
}

// putModel commits a copy of m as its model's document, makes it visible
// and reports the change; the caller holds wmu and has checked conflicts.
func (s *Store) putModel(ctx context.Context, m *Model) error {
	doc, err := clone(m)
	if err != nil {
		return err
	}
	if err := s.commit(ctx, bucketModels, m.UUID, doc); err != nil {
		return err
	}
	s.mu.Lock()
	s.models[m.UUID] = doc
	s.mu.Unlock()
	s.changed(m.UUID)
	return nil
}

// UpdateModel applies fn to a copy of the model and commits it; if fn fails
// nothing changes. It returns the committed model.
func (s *Store) UpdateModel(ctx context.Context, uuid string, fn func(m *Model) error) (*Model, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.Model(uuid)
	if !ok {
		return nil, fmt.Errorf("model %q: %w", uuid, ErrNotFound)
	}
	next, err := clone(cur)
	if err != nil {
		return nil, err
	}
	if err := fn(next); err != nil {
		return nil, err
	}
	if err := s.commit(ctx, bucketModels, uuid, next); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.models[uuid] = next
	s.mu.Unlock()
	s.changed(uuid)
	return next, nil
}

// DeleteModel removes a model.
func (s *Store) DeleteModel(ctx context.Context, uuid string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.Model(uuid); !ok {
		return fmt.Errorf("model %q: %w", uuid, ErrNotFound)
	}
	if err := s.commit(ctx, bucketModels, uuid, nil); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.models, uuid)
	s.mu.Unlock()
	s.changed(uuid)
	return nil
}

// ErrNotImporting is returned when a model that must be importing is not.
var ErrNotImporting = errors.New("model is not importing")

// PutImportingModel commits a model arriving by migration (MigrationMode
// must be MigrationModeImporting). An importing model with the same UUID is
// replaced, so that an import can be retried; any other model with that
// UUID, or another model of the same owner and name, fails it with
// ErrAlreadyExists.
func (s *Store) PutImportingModel(ctx context.Context, m *Model) error {
	if m.MigrationMode != MigrationModeImporting {
		return fmt.Errorf("model %q: %w", m.UUID, ErrNotImporting)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	var conflict error
	if cur, ok := s.models[m.UUID]; ok && cur.MigrationMode != MigrationModeImporting {
		conflict = fmt.Errorf("model %q: %w", m.UUID, ErrAlreadyExists)
	}
	for _, other := range s.models {
		if other.UUID != m.UUID && other.Owner == m.Owner && other.Name == m.Name {
			conflict = fmt.Errorf("model %q owned by %q: %w", m.Name, m.Owner, ErrAlreadyExists)
		}
	}
	s.mu.RUnlock()
	if conflict != nil {
		return conflict
	}
	return s.putModel(ctx, m)
}

// ActivateModel applies fn to a copy of an importing model and commits it
// together with the removal of any redirect for its UUID (a model that
// comes back is no longer elsewhere). fn must make the model normal.
func (s *Store) ActivateModel(ctx context.Context, uuid string, fn func(m *Model) error) (*Model, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.Model(uuid)
	if !ok {
		return nil, fmt.Errorf("model %q: %w", uuid, ErrNotFound)
	}
	if cur.MigrationMode != MigrationModeImporting {
		return nil, fmt.Errorf("model %q: %w", uuid, ErrNotImporting)
	}
	next, err := clone(cur)
	if err != nil {
		return nil, err
	}
	if err := fn(next); err != nil {
		return nil, err
	}
	if err := s.commitAll(ctx, write{bucketModels, uuid, next}, write{bucketRedirects, uuid, nil}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.models[uuid] = next
	delete(s.redirects, uuid)
	s.mu.Unlock()
	s.changed(uuid)
	return next, nil
}

// ReapModel removes a model that migrated away and records where it went,
// in one transaction. check sees the model first and may refuse.
func (s *Store) ReapModel(ctx context.Context, uuid string, check func(m *Model) error, r *Redirect) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.Model(uuid)
	if !ok {
		return fmt.Errorf("model %q: %w", uuid, ErrNotFound)
	}
	if err := check(cur); err != nil {
		return err
	}
	doc, err := clone(r)
	if err != nil {
		return err
	}
	doc.ModelUUID = uuid
	if err := s.commitAll(ctx, write{bucketModels, uuid, nil}, write{bucketRedirects, uuid, doc}); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.models, uuid)
	s.redirects[uuid] = doc
	s.mu.Unlock()
	s.changed(uuid)
	return nil
}

// Redirect returns where a model that migrated away went.
func (s *Store) Redirect(uuid string) (*Redirect, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.redirects[uuid]
	return r, ok
}

// DeleteImportingModel removes a model that was being imported; it fails
// with ErrNotImporting for any other model and ErrNotFound when there is
// none.
func (s *Store) DeleteImportingModel(ctx context.Context, uuid string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, ok := s.Model(uuid)
	if !ok {
		return fmt.Errorf("model %q: %w", uuid, ErrNotFound)
	}
	if cur.MigrationMode != MigrationModeImporting {
		return fmt.Errorf("model %q: %w", uuid, ErrNotImporting)
	}
	if err := s.commit(ctx, bucketModels, uuid, nil); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.models, uuid)
	s.mu.Unlock()
	s.changed(uuid)
	return nil
}

// DeleteUser removes a user and, in the same transaction, records it as
// deleted (see DeletedUser), as Juju keeps a removed user.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.User(name); !ok {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	tomb := &DeletedUser{Name: name, DeletedAt: time.Now().UTC()}
	if err := s.commitAll(ctx, write{bucketUsers, name, nil}, write{bucketDeletedUsers, name, tomb}); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.users, name)
	s.deletedUsers[name] = tomb
	s.mu.Unlock()
	return nil
}
