package devcontroller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/modellog"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// A migration carries the model's log as Juju's does: in LOGTRANSFER the
// source asks the target for the time of the newest record it already
// has (MigrationTarget.LatestLogTime), then streams the newer records to
// the target's /migrate/logtransfer endpoint (a WebSocket: a first
// ErrorResult frame from the target, then one params.LogRecord per frame
// from the source), which adds them to the model's log there. The source's
// log goes with the model at REAP. So the target's log shows the model's
// history and its migration up to LOGTRANSFER; the rest (the target's
// own) follows.

// migrationModelHeader names the model of a log transfer, as Juju's
// params.MigrationModelHTTPHeader does.
const migrationModelHeader = "X-Juju-Migration-Model-UUID"

// serveLogTransfer is the target's /migrate/logtransfer: superusers only,
// for a model being imported (or just activated) here.
func (c *Controller) serveLogTransfer(w http.ResponseWriter, r *http.Request) {
	conn, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{MaxFrameSize: c.cfg.Conn.MaxFrameSize, IdleTimeout: c.cfg.Conn.IdleTimeout})
	if err != nil {
		c.log.Debug("rejected log transfer connection", "err", err)
		return
	}
	if !c.conns.Add() {
		conn.CloseWith(jujuapi.CloseGoingAway, "controller shutting down")
		return
	}
	go func() {
		defer c.conns.Done()
		defer conn.Close()
		st := &logStream{conn: conn}
		uuid := r.Header.Get(migrationModelHeader)
		if err := c.authorizeLogTransfer(r, uuid); err != nil {
			c.log.Info("log transfer refused", "uuid", uuid, "remote", r.RemoteAddr, "err", err)
			st.sendResult(err)
			return
		}
		if err := st.sendResult(nil); err != nil {
			return
		}
		n, err := c.receiveLogs(conn, uuid)
		c.log.Info("migrated model log received", "uuid", uuid, "records", n, "err", err)
	}()
}

func (c *Controller) authorizeLogTransfer(r *http.Request, uuid string) error {
	who, err := c.httpAuthenticate(r, uuid)
	if err != nil {
		return err
	}
	if who.user == "" || !(&session{ctl: c, user: who.user, loggedIn: true}).isSuperuser() {
		return fmt.Errorf("authorization failed: %w", jujuapi.ErrPerm)
	}
	if _, ok := c.store.Model(uuid); !ok || uuid == "" {
		return jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
	}
	return nil
}

// receiveLogs adds the records sent to the model's log until the source
// closes the stream, and returns how many came.
func (c *Controller) receiveLogs(conn *jujuapi.Conn, uuid string) (int, error) {
	n := 0
	for {
		fr, err := conn.NextFrame()
		if err != nil {
			if jujuapi.IsClosed(err) {
				return n, nil
			}
			return n, err
		}
		var lr params.LogRecord
		err = json.Unmarshal(fr.Bytes(), &lr)
		fr.Release()
		if err != nil {
			return n, fmt.Errorf("log record %d of model %s: %w", n+1, uuid, err)
		}
		c.appendLog(uuid, modellog.Record{
			Time: lr.Time.UTC(), Entity: lr.Entity, Module: lr.Module, Location: lr.Location,
			Level: lr.Level, Message: lr.Message, Labels: lr.Labels,
		})
		c.noteTransferred(uuid, lr.Time)
		n++
	}
}

// noteTransferred records the time of the newest transferred record of a
// model, for LatestLogTime (in memory: a transfer the target forgets is
// sent again whole).
func (c *Controller) noteTransferred(uuid string, t time.Time) {
	for {
		cur, loaded := c.transferred.LoadOrStore(uuid, t)
		if !loaded || !t.After(cur.(time.Time)) || c.transferred.CompareAndSwap(uuid, cur, t) {
			return
		}
	}
}

// latestTransferred is LatestLogTime's answer: the newest transferred
// record's time, or zero.
func (c *Controller) latestTransferred(uuid string) time.Time {
	if v, ok := c.transferred.Load(uuid); ok {
		return v.(time.Time).UTC()
	}
	return time.Time{}
}

// transferLogs is the source's LOGTRANSFER: the model's records newer than
// the target's latest go to the target.
func (r *migrationRun) transferLogs(ctx context.Context, mig *store.Migration) error {
	r.status(ctx, "successful, transferring logs to target controller (0 sent)")
	var latest time.Time
	err := r.withTarget(ctx, targetCallTimeout, func(ctx context.Context, tc *jujuapi.Client) error {
		return tc.Call(ctx, "MigrationTarget", 3, "LatestLogTime", params.ModelArgs{ModelTag: jujuapi.ModelTag(r.uuid).String()}, &latest)
	})
	if err != nil {
		return fmt.Errorf("getting log start time: %w", err)
	}
	f, err := r.c.logs.Follow(r.uuid)
	if err != nil {
		return fmt.Errorf("opening source log stream: %w", err)
	}
	recs, _, err := f.Next()
	if err != nil {
		return fmt.Errorf("opening source log stream: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, targetImportTimeout)
	defer cancel()
	conn, err := r.c.openLogTransfer(tctx, mig.Target, r.uuid)
	if err != nil {
		return fmt.Errorf("opening target log stream: %w", err)
	}
	defer conn.Close()
	sent := 0
	for _, rec := range recs {
		if !latest.IsZero() && !rec.Time.After(latest) {
			continue
		}
		body, err := json.Marshal(params.LogRecord{
			Time: rec.Time, Module: rec.Module, Location: rec.Location, Level: rec.Level,
			Message: rec.Message, Entity: rec.Entity, Labels: rec.Labels,
		})
		if err != nil {
			return err
		}
		if err := conn.WriteFrame(body); err != nil {
			return fmt.Errorf("sending logs to target: %w", err)
		}
		sent++
	}
	if err := conn.CloseWith(jujuapi.CloseNormal, ""); err != nil {
		return fmt.Errorf("closing target log stream: %w", err)
	}
	r.status(ctx, fmt.Sprintf("successful, transferred logs to target controller (%d sent)", sent))
	return nil
}

// openLogTransfer opens the target's /migrate/logtransfer for a model and
// reads its first frame.
func (c *Controller) openLogTransfer(ctx context.Context, t store.MigrationTarget, uuid string) (*jujuapi.Conn, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(t.CACert)) {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "the target's CA certificate is not a PEM certificate")
	}
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(t.AuthTag+":"+t.Password)))
	h.Set(migrationModelHeader, uuid)
	var errs []error
	for _, addr := range t.Addrs {
		u := url.URL{Scheme: "wss", Host: addr, Path: "/migrate/logtransfer"}
		conn, err := jujuapi.Dial(ctx, u.String(), jujuapi.DialOptions{
			ConnOptions: c.cfg.Conn, Header: h,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fr, err := conn.NextFrame()
		if err != nil {
			conn.Close()
			return nil, err
		}
		var res params.ErrorResult
		err = json.Unmarshal(fr.Bytes(), &res)
		fr.Release()
		if err != nil || res.Error != nil {
			conn.Close()
			if err == nil {
				err = res.Error
			}
			return nil, fmt.Errorf("target refused the log transfer: %v", err)
		}
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

// status sets the migration's status message (committing it), which the
// model's log records too.
func (r *migrationRun) status(ctx context.Context, msg string) {
	if _, err := r.update(ctx, func(m *store.Model, mig *store.Migration) { r.setStatus(m, mig, msg) }); err != nil {
		r.log.Warn("cannot record migration status", "status", msg, "err", err)
	}
}

// migrationModule is the module the migration master of a model logs as:
// Juju's, with the model's short UUID.
func migrationModule(uuid string) string {
	return "juju.worker.migrationmaster." + shortUUID(uuid)
}

// shortUUID is a model's short id, as Juju's ModelTag.ShortId gives it.
func shortUUID(uuid string) string {
	if len(uuid) > 6 {
		uuid = uuid[:6]
	}
	return strings.ToLower(uuid)
}
