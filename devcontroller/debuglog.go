package devcontroller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/modellog"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The debug-log endpoint, /model/<uuid>/log (and /log for the controller
// model), as Juju 3.5 serves it: a WebSocket whose first text frame is a
// params.ErrorResult ("{}" when all is well, else the error and a close),
// then one params.LogMessage per frame, each frame ending in a newline as
// Juju's are. Credentials come in HTTP basic auth (a user's tag and
// password, or an agent's); a user needs read access to the model.
//
// Query parameters, as Juju reads them:
//
//	replay=true            start from the first record kept
//	backlog=N              else start from the last N matching records
//	                       (at most 10000); without either, all records
//	maxLines=N             end after N records
//	noTail=true            end after the records there are now
//	level=L                TRACE, DEBUG, INFO, WARNING or ERROR and above
//	startTime=T            records from T on (RFC 3339)
//	includeEntity=E, excludeEntity=E   tags, "*" matching any run of
//	                       characters (unit-mysql-*), repeatable
//	includeModule=M, excludeModule=M   modules and their submodules
//	includeLabel=L, excludeLabel=L     labels
//
// A follower is woken as records are added; the stream ends when the
// model goes, the client goes, the controller stops, or after 24 hours
// (Juju's default max-debug-log-duration).

// maxBacklog is Juju's bound on backlog.
const maxBacklog = 10000

// maxDebugLogDuration ends a stream after the time Juju's controller
// config max-debug-log-duration gives by default.
const maxDebugLogDuration = 24 * time.Hour

// logLevels orders Juju's (loggo's) levels.
var logLevels = map[string]int{logTrace: 1, logDebug: 2, logInfo: 3, logWarning: 4, logError: 5, logCritical: 6}

// parseLogLevel reads a level as loggo.ParseLevel does: any case, WARN
// for WARNING.
func parseLogLevel(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "WARN" {
		s = logWarning
	}
	_, ok := logLevels[s]
	return s, ok
}

// logQuery is a parsed debug-log request.
type logQuery struct {
	startTime                    time.Time
	maxLines, backlog            uint64
	replay, noTail               bool
	level                        string
	includeEntity, excludeEntity *regexp.Regexp
	includeModule, excludeModule *regexp.Regexp
	includeLabel, excludeLabel   []string
}

func readLogQuery(q url.Values) (*logQuery, error) {
	p := &logQuery{includeLabel: q["includeLabel"], excludeLabel: q["excludeLabel"]}
	uintParam := func(name string) (uint64, error) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s value %q is not a valid unsigned number", name, v)
		}
		return n, nil
	}
	boolParam := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s value %q is not a valid boolean", name, v)
		}
		return b, nil
	}
	var err error
	if p.maxLines, err = uintParam("maxLines"); err != nil {
		return nil, err
	}
	if p.replay, err = boolParam("replay"); err != nil {
		return nil, err
	}
	if p.noTail, err = boolParam("noTail"); err != nil {
		return nil, err
	}
	if p.backlog, err = uintParam("backlog"); err != nil {
		return nil, err
	}
	if v := q.Get("level"); v != "" {
		level, ok := parseLogLevel(v)
		if !ok || level == logCritical {
			return nil, fmt.Errorf("level value %q is not one of %q, %q, %q, %q, %q", v, logTrace, logDebug, logInfo, logWarning, logError)
		}
		p.level = level
	}
	if v := q.Get("startTime"); v != "" {
		if p.startTime, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("start time %q is not a valid time in RFC3339 format", v)
		}
	}
	p.includeEntity, p.excludeEntity = entityPattern(q["includeEntity"]), entityPattern(q["excludeEntity"])
	p.includeModule, p.excludeModule = modulePattern(q["includeModule"]), modulePattern(q["excludeModule"])
	if p.replay {
		p.backlog = 0
	}
	return p, nil
}

// entityPattern matches the entities named, "*" matching anything, as
// Juju's log tailer does; nil for none.
func entityPattern(entities []string) *regexp.Regexp {
	if len(entities) == 0 {
		return nil
	}
	parts := make([]string, len(entities))
	for i, e := range entities {
		parts[i] = strings.ReplaceAll(regexp.QuoteMeta(e), regexp.QuoteMeta("*"), ".*")
	}
	return regexp.MustCompile(`^(` + strings.Join(parts, "|") + `)$`)
}

// modulePattern matches the modules named and their submodules; nil for
// none.
func modulePattern(modules []string) *regexp.Regexp {
	if len(modules) == 0 {
		return nil
	}
	parts := make([]string, len(modules))
	for i, m := range modules {
		parts[i] = regexp.QuoteMeta(m)
	}
	return regexp.MustCompile(`^(` + strings.Join(parts, "|") + `)(\..+)?$`)
}

// match reports whether a record passes the request's filters.
func (p *logQuery) match(r modellog.Record) bool {
	switch {
	case !p.startTime.IsZero() && r.Time.Before(p.startTime):
	case p.level != "" && logLevels[r.Level] < logLevels[p.level]:
	case p.includeEntity != nil && !p.includeEntity.MatchString(r.Entity):
	case p.excludeEntity != nil && p.excludeEntity.MatchString(r.Entity):
	case p.includeModule != nil && !p.includeModule.MatchString(r.Module):
	case p.excludeModule != nil && p.excludeModule.MatchString(r.Module):
	case len(p.includeLabel) > 0 && !slices.ContainsFunc(r.Labels, func(l string) bool { return slices.Contains(p.includeLabel, l) }):
	case len(p.excludeLabel) > 0 && slices.ContainsFunc(r.Labels, func(l string) bool { return slices.Contains(p.excludeLabel, l) }):
	default:
		return true
	}
	return false
}

// logStream is one debug-log connection.
type logStream struct {
	conn *jujuapi.Conn
}

// sendResult writes the initial frame: {} or the error; after an error
// the stream is closed.
func (s *logStream) sendResult(err error) error {
	body, merr := json.Marshal(params.ErrorResult{Error: paramsError(err)})
	if merr != nil {
		return merr
	}
	if werr := s.conn.WriteFrame(append(body, '\n')); werr != nil {
		return werr
	}
	if err != nil {
		return s.conn.CloseWith(jujuapi.CloseNormal, "")
	}
	return nil
}

func (s *logStream) send(r modellog.Record) error {
	msg := params.LogMessage{
		Entity: r.Entity, Timestamp: r.Time, Severity: r.Level, Module: r.Module,
		Location: r.Location, Message: r.Message, Labels: r.Labels,
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.conn.WriteFrame(append(body, '\n'))
}

// serveDebugLog serves /model/<uuid>/log, or /log for the controller
// model (uuid "").
func (c *Controller) serveDebugLog(w http.ResponseWriter, r *http.Request, uuid string) {
	// As in Juju, the request is upgraded first and refusals come in the
	// first frame.
	conn, err := jujuapi.Upgrade(w, r, jujuapi.ConnOptions{MaxFrameSize: c.cfg.Conn.MaxFrameSize, IdleTimeout: -1})
	if err != nil {
		c.log.Debug("rejected debug-log connection", "err", err)
		return
	}
	if !c.conns.Add() {
		conn.CloseWith(jujuapi.CloseGoingAway, "controller shutting down")
		return
	}
	go func() {
		defer c.conns.Done()
		defer conn.Close()
		if uuid == "" {
			uuid = c.UUID()
		}
		st := &logStream{conn: conn}
		q, err := c.authorizeDebugLog(r, uuid)
		if err != nil {
			c.log.Info("debug-log refused", "uuid", uuid, "remote", r.RemoteAddr, "err", err)
			st.sendResult(err)
			return
		}
		if err := c.streamLog(c.serveCtx, st, uuid, q); err != nil && !jujuapi.IsClosed(err) {
			c.log.Debug("debug-log stream ended", "uuid", uuid, "err", err)
		}
	}()
}

// authorizeDebugLog authenticates a debug-log request, checks the
// caller's access to the model, and reads its query.
func (c *Controller) authorizeDebugLog(r *http.Request, uuid string) (*logQuery, error) {
	who, err := c.httpAuthenticate(r, uuid)
	if err != nil {
		return nil, err
	}
	if err := who.canRead(uuid); err != nil {
		return nil, err
	}
	return readLogQuery(r.URL.Query())
}

// streamLog sends the records asked for, then follows the log unless told
// not to.
func (c *Controller) streamLog(ctx context.Context, st *logStream, uuid string, q *logQuery) error {
	f, err := c.logs.Follow(uuid)
	if err != nil {
		return st.sendResult(err)
	}
	recs, changed, err := f.Next()
	if err != nil {
		return st.sendResult(jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid))
	}
	if q.backlog > maxBacklog {
		// Juju's tailer stops here, after the first frame.
		if err := st.sendResult(nil); err != nil {
			return err
		}
		return fmt.Errorf("too many lines requested (%d) maximum is %d", q.backlog, maxBacklog)
	}
	if err := st.sendResult(nil); err != nil {
		return err
	}
	// The client sends nothing; reading tells when it goes away.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			fr, err := st.conn.NextFrame()
			if err != nil {
				return
			}
			fr.Release()
		}
	}()
	timeout := time.NewTimer(maxDebugLogDuration)
	defer timeout.Stop()
	var sent uint64
	first := filterRecords(recs, q)
	if q.backlog > 0 && uint64(len(first)) > q.backlog {
		first = first[uint64(len(first))-q.backlog:]
	}
	batch := first
	for {
		for _, r := range batch {
			if err := st.send(r); err != nil {
				return err
			}
			sent++
			if q.maxLines > 0 && sent == q.maxLines {
				return st.conn.CloseWith(jujuapi.CloseNormal, "")
			}
		}
		if q.noTail {
			return st.conn.CloseWith(jujuapi.CloseNormal, "")
		}
		select {
		case <-ctx.Done():
			return st.conn.CloseWith(jujuapi.CloseGoingAway, "controller shutting down")
		case <-gone:
			return nil
		case <-timeout.C:
			return st.conn.CloseWith(jujuapi.CloseNormal, "")
		case <-changed:
		}
		recs, changed, err = f.Next()
		if errors.Is(err, modellog.ErrRemoved) {
			return st.conn.CloseWith(jujuapi.CloseNormal, "model removed")
		}
		if err != nil {
			return err
		}
		batch = filterRecords(recs, q)
	}
}

func filterRecords(recs []modellog.Record, q *logQuery) []modellog.Record {
	out := recs[:0:0]
	for _, r := range recs {
		if q.match(r) {
			out = append(out, r)
		}
	}
	return out
}

// httpCaller is who an HTTP request (basic auth) comes from.
type httpCaller struct {
	c     *Controller
	user  string // a user's name, or ""
	agent string // an agent's tag, or ""
	model string // an agent's model
}

// httpAuthenticate checks a request's basic auth credentials, as Juju's
// HTTP authenticator does: a local user's tag and password, or the tag
// and password of an agent of the model.
func (c *Controller) httpAuthenticate(r *http.Request, uuid string) (*httpCaller, error) {
	fail := func(err error) (*httpCaller, error) {
		return nil, fmt.Errorf("authentication failed: %w", err)
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fail(jujuapi.Errorf(jujuapi.CodeNoCreds, "no credentials provided"))
	}
	scheme, payload, _ := strings.Cut(h, " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	tag, password, ok := strings.Cut(string(raw), ":")
	if scheme != "Basic" || err != nil || !ok {
		return fail(jujuapi.Errorf(jujuapi.CodeNotValid, "request format not valid"))
	}
	t, err := jujuapi.ParseTag(tag)
	if err != nil {
		return fail(err)
	}
	switch t.Kind {
	case jujuapi.KindUser:
		u, ok := c.store.User(t.ID)
		if !ok || u.Disabled || u.PasswordHash == "" || !checkPassword(u.PasswordHash, password) {
			return fail(jujuapi.ErrBadCreds)
		}
		c.lastLogin.Store(t.ID, time.Now().UTC())
		return &httpCaller{c: c, user: t.ID}, nil
	case jujuapi.KindMachine, jujuapi.KindUnit:
		m, ok := c.store.Model(uuid)
		if !ok || agentPassword(m, t) == "" || !passwordsEqual(agentPassword(m, t), password) {
			return fail(jujuapi.ErrBadCreds)
		}
		return &httpCaller{c: c, agent: t.String(), model: uuid}, nil
	}
	return fail(jujuapi.ErrBadCreds)
}

// canRead checks the caller's read access to a model that is here.
func (h *httpCaller) canRead(uuid string) error {
	m, err := h.c.model(uuid)
	if err != nil {
		return jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
	}
	if h.agent != "" {
		return nil // an agent of the model, checked when authenticated
	}
	s := &session{ctl: h.c, user: h.user, loggedIn: true}
	if s.modelAccess(m) == "" {
		return fmt.Errorf("authorization failed: %w", jujuapi.ErrPerm)
	}
	return nil
}
