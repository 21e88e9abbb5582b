package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Signing keys rotate on a schedule kept in the database, which every
// replica follows:
//
//   - a new key is created (and published in the JWKS) KeyPrepublish
//     before it starts signing, so that a controller meeting its kid finds
//     it on its first refetch. For that, pre-publication must be longer
//     than the controllers' JWKS refetch cooldown (a second for the
//     development controller); the JWKS may be cached for half of it;
//   - when it starts signing, the key before it retires;
//   - a retired key stays published until every token it signed has
//     expired (its retirement plus the longer of ControllerTokenTTL and
//     SessionTTL, and a margin), then it is deleted.
//
// One replica at a time changes the schedule (db.ChangeSigningKeys) and
// tells the others (db.KeysChannel), which reload.

// keyGrace is how long a retired key stays published after its last
// tokens expired, for clock skew between broker and controllers.
const keyGrace = time.Second

func keyAAD(kid string) string { return "signing-key/" + kid }

// Keys is the broker's signing key set. As an http.Handler it serves the
// JWKS controllers fetch to verify the broker's tokens.
func (s *Service) Keys() *authz.KeySet { return s.keys }

// Issuer is the "iss" of the tokens the broker signs.
func (s *Service) Issuer() string { return s.issuer() }

// LoadKeys brings the key schedule up to date (creating the first key when
// there is none) and loads the keys.
func (s *Service) LoadKeys(ctx context.Context) error {
	if err := s.rotateKeys(ctx); err != nil {
		return err
	}
	return s.ReloadKeys(ctx)
}

// ReloadKeys replaces the keys in use with the database's: call it when
// another replica changed them. Reloads are serialised, so that an older
// read never replaces a newer one.
func (s *Service) ReloadKeys(ctx context.Context) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	rows, err := s.db.SigningKeys(ctx)
	if err != nil {
		return err
	}
	keys := make([]*authz.SigningKey, 0, len(rows))
	for _, row := range rows {
		der, err := s.cipher.Open(row.PrivateKey, keyAAD(row.KID))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		k, err := authz.ParseSigningKey(row.KID, row.Algorithm, der, row.CreatedAt)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", row.KID, err)
		}
		if row.ActivateAt != nil {
			k.ActivateAt = *row.ActivateAt
		}
		if row.RetireAt != nil {
			k.RetireAt = *row.RetireAt
		}
		keys = append(keys, k)
	}
	if s.keys == nil {
		s.keys = authz.NewKeySet(keys...)
		// A verifier honouring the cache lifetime must still see a new
		// key before it signs.
		s.keys.CacheFor = min(time.Minute, s.cfg.KeyPrepublish/2)
	} else {
		s.keys.Replace(keys)
	}
	return nil
}

// rotationStep is what the key schedule needs at now, given the keys
// there are (oldest first): the keys whose tokens have all expired go;
// when the newest key's time is nearly up (or there is none), the next key
// is due to sign from next, and the newest retires then.
func rotationStep(keys []db.SigningKey, now time.Time, rotation, prepublish, tokenTTL time.Duration) (c db.KeyChanges, next *time.Time) {
	for _, k := range keys {
		if k.RetireAt != nil && k.RetireAt.Add(tokenTTL+keyGrace).Before(now) {
			c.Delete = append(c.Delete, k.KID)
		}
	}
	if len(keys) == 0 {
		return c, &now
	}
	newest := keys[len(keys)-1]
	active := newest.CreatedAt
	if newest.ActivateAt != nil {
		active = *newest.ActivateAt
	}
	if now.Before(active.Add(rotation - prepublish)) {
		return c, nil
	}
	at := active.Add(rotation)
	if earliest := now.Add(prepublish); at.Before(earliest) {
		at = earliest // behind schedule (the brokers were down): still pre-publish
	}
	if newest.RetireAt == nil || newest.RetireAt.After(at) {
		c.RetireKID, c.RetireAt = newest.KID, at
	}
	return c, &at
}

// rotateKeys brings the schedule up to date, telling every replica when it
// changed anything.
func (s *Service) rotateKeys(ctx context.Context) error {
	now := s.clock.Now().UTC()
	// A retired key stays until the last token it signed has expired:
	// controller tokens and session tokens alike.
	ttl := max(s.cfg.ControllerTokenTTL, s.cfg.SessionTTL)
	var added *db.SigningKey
	_, err := s.db.ChangeSigningKeys(ctx, func(keys []db.SigningKey) (db.KeyChanges, error) {
		c, next := rotationStep(keys, now, s.cfg.KeyRotation, s.cfg.KeyPrepublish, ttl)
		added = nil
		if next == nil {
			return c, nil
		}
		k, err := authz.GenerateSigningKey(now)
		if err != nil {
			return c, err
		}
		der, err := k.MarshalPrivate()
		if err != nil {
			return c, err
		}
		sealed, err := s.cipher.Seal(der, keyAAD(k.ID))
		if err != nil {
			return c, err
		}
		c.Add = &db.SigningKey{KID: k.ID, Algorithm: k.Algorithm, PrivateKey: sealed, ActivateAt: next}
		added = c.Add
		return c, nil
	})
	if err == nil && added != nil {
		s.log.Info("new signing key published", "kid", added.KID, "signs-from", added.ActivateAt.Format(time.RFC3339))
	}
	return err
}

// RunKeyRotation keeps the schedule up to date and the keys loaded until
// ctx ends.
func (s *Service) RunKeyRotation(ctx context.Context) {
	tick := min(max(s.cfg.KeyPrepublish/4, 100*time.Millisecond), time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(tick):
		}
		if err := s.rotateKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot rotate signing keys", "err", err)
		}
		if err := s.ReloadKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot reload signing keys", "err", err)
		}
	}
}

// ControllerToken signs the token the broker presents to the controller
// hosting model m when it logs in there for id: its audience is that
// controller, and it carries exactly the caller's access: modelAccess to
// the model, to its controller (superuser only for broker
// administrators), and to its cloud. No token is signed for a caller
// whose session has ended or whose identity is disabled (see checkLive).
func (s *Service) ControllerToken(ctx context.Context, id *Identity, m *db.Model, modelAccess string) (string, error) {
	if err := s.checkLive(ctx, id); err != nil {
		return "", err
	}
	cloudAccess, err := s.CloudAccess(ctx, id, m.Cloud)
	if err != nil {
		return "", err
	}
	claims := map[string]string{
		jujuapi.ControllerTag(m.Controller.UUID).String(): id.ControllerAccess(),
		jujuapi.ModelTag(m.UUID).String():                 modelAccess,
	}
	if cloudAccess != "" {
		claims[jujuapi.CloudTag(m.Cloud).String()] = cloudAccess
	}
	token, err := s.keys.Mint(s.clock.Now(), authz.TokenClaims{
		Subject: id.UserTag(), Audience: m.Controller.UUID, Access: claims, TTL: s.cfg.ControllerTokenTTL, Issuer: s.issuer(),
	})
	if err != nil {
		return "", fmt.Errorf("sign a token for controller %q: %w", m.Controller.Name, err)
	}
	return token, nil
}
