package routing

import (
	"context"
	"errors"
	"time"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// checkTimeout bounds one route check.
const checkTimeout = 10 * time.Second

// Flip points a model at target in one transaction, ending the migration
// migrationID (when not 0) as succeeded in the same transaction, and tells
// every replica. A model already on target (its route was healed while its
// migration was followed) is not flipped again: only the migration ends.
//
// While the database is unavailable it tries again (flipping is
// idempotent), at most for DBWait, then answers "try again".
func (t *Table) Flip(ctx context.Context, uuid string, target *db.Controller, migrationID int64) error {
	var from string
	err := t.waitDB(ctx, "flip the route of model "+uuid, func(ctx context.Context) (err error) {
		from, err = t.db.FlipRoute(ctx, uuid, target.ID, migrationID, t.clock.Now().UTC())
		return err
	})
	if err != nil {
		return err
	}
	// This replica knows at once; the others when the notification comes.
	t.Forget(uuid)
	if from == target.Name {
		return nil
	}
	t.routeFlips.Inc()
	t.log.Info("route flipped", "model", uuid, "from", from, "to", target.Name)
	return nil
}

// Heal moves a model's route to the controller a redirect (a controller's
// "redirection required" error) names, and returns that controller's
// name. It fails with "try again" when the redirect names no controller,
// or one the broker does not know; and when the database stays
// unavailable (it waits for it, at most DBWait), with "database
// unavailable; try again", never with "does not know".
func (t *Table) Heal(ctx context.Context, m *db.Model, redirect error) (string, error) {
	var info params.RedirectErrorInfo
	var je *jujuapi.Error
	if !errors.As(redirect, &je) || je.UnmarshalInfo(&info) != nil || info.ControllerTag == "" {
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved, and its controller did not say where", m.Name)
	}
	tag, err := jujuapi.ParseControllerTag(info.ControllerTag)
	if err != nil {
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved to a controller the broker cannot name", m.Name)
	}
	var target *db.Controller
	err = t.waitDB(ctx, "look up controller "+tag.ID, func(ctx context.Context) (err error) {
		target, err = t.db.ControllerByUUID(ctx, tag.ID)
		return err
	})
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return "", err
	}
	if err != nil {
		t.log.Warn("model moved to a controller the broker does not know", "model", m.UUID, "controller-uuid", tag.ID, "alias", info.ControllerAlias, "err", err)
		return "", jujuapi.Errorf(jujuapi.CodeTryAgain, "model %q moved to a controller this broker does not know; an administrator must register it", m.Name)
	}
	if err := t.Flip(ctx, m.UUID, target, 0); err != nil {
		return "", err
	}
	t.redirects.Inc()
	t.Forget(m.UUID)
	return target.Name, nil
}

// Check asks a model's controller whether it still hosts the model, and
// heals the route when it answers with a redirect. The proxy calls it
// when a relayed call finds the model gone from its controller, so that
// the route flips at once rather than at the next poll, or at all when
// the model moved outside the broker. Callers for one model share one
// check, and all wait for its end.
func (t *Table) Check(ctx context.Context, uuid string) {
	t.checks.Do(uuid, func() (any, error) {
		t.checkOnce(ctx, uuid)
		return nil, nil
	})
}

func (t *Table) checkOnce(ctx context.Context, uuid string) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	m, err := t.Route(ctx, uuid)
	if err != nil {
		return
	}
	c, err := t.pool.Get(ctx, m.Controller.Name)
	if err != nil {
		return
	}
	_, err = c.ModelInfo(ctx, uuid)
	if jujuapi.ErrorCode(err) != jujuapi.CodeRedirect {
		return
	}
	if to, err := t.Heal(ctx, m, err); err != nil {
		t.log.Warn("a model left its controller and the broker cannot follow it", "model", uuid, "err", err)
	} else {
		t.log.Info("followed a model that left its controller", "model", uuid, "from", m.Controller.Name, "to", to)
	}
}

// OnController runs fn with the shared admin connection to the controller
// hosting m. A controller that answers that the model has moved (a
// redirect) or is not there may be an old route's: a migration flipped it
// a moment ago, or moved the model outside the broker. The table then
// reads the route again (healing it from a redirect) and, when the model
// is elsewhere now, runs fn once more there. It returns fn's last error.
// m is not changed: routes are shared, read-only values.
func (t *Table) OnController(ctx context.Context, m *db.Model, fn func(c *controllers.Client) error) error {
	c, err := t.Controller(ctx, m)
	if err != nil {
		return err
	}
	err = fn(c)
	now, err := t.whereNow(ctx, m, err)
	if now == nil {
		return err
	}
	if c, err = t.Controller(ctx, now); err != nil {
		return err
	}
	return fn(c)
}

// whereNow reads, after m's controller answered a call with err, where
// the model is now: the route to run the call again on, or nil and the
// error to return. A redirect is healed; a "not found" may be an old
// route's. While the database is unavailable (after waiting for it) the
// error is "try again": the controller's "not found" may only mean that
// the model moved.
func (t *Table) whereNow(ctx context.Context, m *db.Model, err error) (*db.Model, error) {
	switch jujuapi.ErrorCode(err) {
	case jujuapi.CodeRedirect:
		if _, herr := t.Heal(ctx, m, err); herr != nil {
			if errors.Is(herr, db.ErrUnavailable) {
				return nil, herr
			}
			return nil, err
		}
	case jujuapi.CodeNotFound, jujuapi.CodeModelNotFound:
	default:
		return nil, err
	}
	t.Forget(m.UUID)
	now, rerr := t.Route(ctx, m.UUID)
	if errors.Is(rerr, db.ErrUnavailable) {
		return nil, rerr
	}
	if rerr != nil || now.ControllerID == m.ControllerID {
		return nil, err
	}
	return now, nil
}
