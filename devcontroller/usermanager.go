package devcontroller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The UserManager facade (version 3): the controller's local users. As in
// Juju, only superusers add and remove users; users see and change
// themselves, superusers anyone; adding, removing and password changes
// are refused while the controller model blocks changes.

func (s *session) userInfo(_ context.Context, p params.UserInfoRequest) (params.UserInfoResults, error) {
	var names []string
	if len(p.Entities) == 0 {
		for _, u := range s.ctl.store.Users() {
			if s.isSuperuser() || u.Name == s.identity() {
				names = append(names, u.Name)
			}
		}
	}
	out := params.UserInfoResults{Results: []params.UserInfoResult{}}
	for _, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		if err != nil {
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(err)})
			continue
		}
		names = append(names, t.ID)
	}
	for _, name := range names {
		u, ok := s.ctl.store.User(name)
		switch {
		case name != s.identity() && !s.isSuperuser():
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(jujuapi.ErrPerm)})
		case !ok && name == s.identity():
			// A token user the controller has no record of: describe it
			// from the token.
			out.Results = append(out.Results, params.UserInfoResult{Result: &params.UserInfo{
				Username: name, DisplayName: s.ctl.displayName(name), Access: s.controllerAccess(),
				LastConnection: s.ctl.lastConnection(name),
			}})
		case !ok:
			out.Results = append(out.Results, params.UserInfoResult{Error: paramsError(jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", name))})
		case u.Disabled && !p.IncludeDisabled && len(p.Entities) == 0:
		default:
			out.Results = append(out.Results, params.UserInfoResult{Result: &params.UserInfo{
				Username: u.Name, DisplayName: u.DisplayName, Access: u.Access, CreatedBy: u.CreatedBy,
				DateCreated: u.CreatedAt, LastConnection: s.ctl.lastConnection(u.Name), Disabled: u.Disabled,
			}})
		}
	}
	return out, nil
}

// validUserName is Juju's rule for local user names.
var validUserName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.+-]*[a-zA-Z0-9]$|^[a-zA-Z0-9]$`)

func (s *session) addUser(ctx context.Context, p params.AddUsers) (params.AddUserResults, error) {
	var out params.AddUserResults
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	if len(p.Users) == 0 {
		return out, nil
	}
	out.Results = make([]params.AddUserResult, len(p.Users))
	if !s.isSuperuser() {
		return out, jujuapi.ErrPerm
	}
	for i, a := range p.Users {
		secret, err := s.addOneUser(ctx, a)
		if err != nil {
			out.Results[i].Error = paramsError(fmt.Errorf("failed to create user: %w", err))
			continue
		}
		out.Results[i] = params.AddUserResult{Tag: jujuapi.UserTag(a.Username).String(), SecretKey: secret}
	}
	return out, nil
}

// addOneUser adds a local user with a password, or without one and with a
// registration key (returned), as Juju does.
func (s *session) addOneUser(ctx context.Context, a params.AddUser) ([]byte, error) {
	if !validUserName.MatchString(a.Username) {
		return nil, fmt.Errorf("invalid user name %q", a.Username)
	}
	var hash string
	var secret []byte
	if a.Password != "" {
		var err error
		if hash, err = hashPassword(a.Password); err != nil {
			return nil, err
		}
	} else {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	_, err := s.ctl.store.UpdateUser(ctx, a.Username, true, func(u *store.User) error {
		if !u.CreatedAt.IsZero() {
			return jujuapi.Errorf(jujuapi.CodeAlreadyExists, "user %s already exists", a.Username)
		}
		u.DisplayName, u.PasswordHash, u.SecretKey, u.Access = a.DisplayName, hash, secret, store.AccessLogin
		u.CreatedBy, u.CreatedAt = s.identity(), time.Now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.ctl.log.Info("user added", "user", a.Username, "by", s.identity())
	return secret, nil
}

// removeUser answers UserManager.RemoveUser: superusers remove local
// users, never the controller's owner. A removed user stays known as
// permanently deleted (store.DeletedUser) until added again.
func (s *session) removeUser(ctx context.Context, p params.Entities) (params.ErrorResults, error) {
	var out params.ErrorResults
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	out.Results = make([]params.ErrorResult, len(p.Entities))
	if !s.isSuperuser() {
		return out, jujuapi.ErrPerm
	}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseUserTag(e.Tag)
		switch {
		case err != nil:
		case t.ID == adminUser:
			err = fmt.Errorf("cannot delete controller owner %q", t.ID)
		default:
			err = s.ctl.store.DeleteUser(ctx, t.ID)
			if _, deleted := s.ctl.store.DeletedUser(t.ID); deleted && errors.Is(err, store.ErrNotFound) {
				// Juju's words, which the juju CLI recognises.
				err = fmt.Errorf("failed to delete user %q: user %q is permanently deleted", t.ID, t.ID)
			} else if errors.Is(err, store.ErrNotFound) {
				err = jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", t.ID)
			} else if err != nil {
				err = fmt.Errorf("failed to delete user %q: %w", t.ID, err)
			} else {
				s.ctl.log.Info("user removed", "user", t.ID, "by", s.identity())
			}
		}
		out.Results[i].Error = paramsError(err)
	}
	return out, nil
}

// setPassword answers UserManager.SetPassword: users change their own
// password, superusers anyone's.
func (s *session) setPassword(ctx context.Context, p params.EntityPasswords) (params.ErrorResults, error) {
	var out params.ErrorResults
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	out.Results = make([]params.ErrorResult, len(p.Changes))
	for i, ch := range p.Changes {
		out.Results[i].Error = paramsError(s.setOnePassword(ctx, ch))
	}
	return out, nil
}

func (s *session) setOnePassword(ctx context.Context, ch params.EntityPassword) error {
	t, err := jujuapi.ParseUserTag(ch.Tag)
	if err != nil {
		return err
	}
	if _, ok := s.ctl.store.User(t.ID); !ok {
		return jujuapi.Errorf(jujuapi.CodeUserNotFound, "user %q not found", t.ID)
	}
	if t.ID != s.identity() && !s.isSuperuser() {
		return jujuapi.ErrPerm
	}
	if ch.Password == "" {
		return fmt.Errorf("cannot use an empty password")
	}
	hash, err := hashPassword(ch.Password)
	if err != nil {
		return err
	}
	_, err = s.ctl.store.UpdateUser(ctx, t.ID, false, func(u *store.User) error {
		u.PasswordHash, u.SecretKey = hash, nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to set password: %w", err)
	}
	s.ctl.log.Info("user password changed", "user", t.ID, "by", s.identity())
	return nil
}

// modelUserInfo answers UserManager.ModelUserInfo: the users of each
// model, for callers with read access to it.
func (s *session) modelUserInfo(_ context.Context, p params.Entities) (params.ModelUserInfoResults, error) {
	out := params.ModelUserInfoResults{Results: []params.ModelUserInfoResult{}}
	for _, e := range p.Entities {
		m, err := s.modelFromTag(e.Tag, store.AccessRead)
		if err != nil {
			if t, terr := jujuapi.ParseModelTag(e.Tag); terr == nil && jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
				if _, exists := s.ctl.model(t.ID); exists == nil {
					// As Juju answers for a model the caller may not read.
					err = jujuapi.ErrPerm
				}
			}
			return params.ModelUserInfoResults{}, err
		}
		for _, name := range sortedKeys(m.Users) {
			if _, ok := s.ctl.store.User(name); !ok && !isExternal(name) {
				continue // removed since
			}
			out.Results = append(out.Results, params.ModelUserInfoResult{Result: &params.ModelUserInfo{
				ModelTag: jujuapi.ModelTag(m.UUID).String(), UserName: name, DisplayName: s.ctl.displayName(name),
				LastConnection: s.ctl.lastConnection(name), Access: params.UserAccessPermission(m.Users[name]),
			}})
		}
	}
	return out, nil
}
