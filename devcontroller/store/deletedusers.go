package store

import "time"

// DeletedUser records a local user that was removed. Juju keeps a removed
// user as "permanently deleted": the name still refers to a user that no
// longer exists, and a model arriving by migration cannot be given to it.
// Adding a user of that name again clears the record.
type DeletedUser struct {
	Name      string    `json:"name"`
	DeletedAt time.Time `json:"deleted-at"`
}

// DeletedUser returns the record of a removed user, if the user was
// removed and not added again.
func (s *Store) DeletedUser(name string) (*DeletedUser, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.deletedUsers[name]
	return u, ok
}
