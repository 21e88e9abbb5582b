package devcontroller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Agents.
//
// Every machine and unit of a model has an agent, as in Juju. A
// development controller simulates the agents of the models it hosts
// inside its own process, each with two real API connections (WebSocket
// over TLS, as a Juju agent's): one to /model/<uuid>/api and one to /api,
// both logged in with Admin(3).Login as the agent's entity (auth-tag
// machine-N or unit-app-N) and its password. The controller generates each
// agent's password when it adds the machine or unit and keeps it in the
// model document (it is what the agent's agent.conf would hold); a model's
// export carries them, so that a migration target knows its new agents.
//
// Lifecycle: when serving starts, and whenever a model document changes
// (store.OnModelChange), the controller reconciles the agents it runs with
// the machines and units of its models: new entities get an agent, removed
// ones (destroyed applications, dying or removed models) lose it. Agents
// connect through a queue served by a few workers, so a controller with
// thousands of agents answers at once and connects them in the background.
// An agent costs its two connections (two client read goroutines here, two
// server sessions on the controller it is connected to) and nothing else:
// one sweep goroutine per controller pings every agent connection each
// minute (a Juju agent pings every minute, and an idle connection is
// closed) and reconnects agents whose connections broke.
//
// Agent logins: an agent may log in only as an entity of the model it
// connects to (on /api: of some model of the controller), with that
// entity's password; it gets the Pinger facade and nothing else. As in
// Juju, every login with a non-user tag first takes a token from the
// agent login bucket (see ratelimit.go and controllerconfig.go) and is
// refused with "try again" when there is none; the agent retries with a
// jittered backoff (100ms doubling to 1s), on the same connection. The
// agents a controller runs for its own models connect to itself with a
// per-process secret header and are not limited: the bucket is about
// agents arriving from elsewhere, as after a migration (Juju limits
// reconnecting agents after a controller restart too; here those are
// in-process and not modelled).
//
// Migration: in VALIDATION the source moves each agent of the model to
// the target (migration.go): the agent closes its connections to the
// source, connects to the target's addresses with the target's CA and its
// own credentials, through the target's bucket, and reports once both
// connections are logged in. VALIDATION completes when every agent has
// reported, or fails after migration-agent-wait-time, naming how many did
// not; on abort the agents come back to the source. Once the target
// activates the model it runs the model's agents itself; the source keeps
// its agents connected to the target until the model is reaped, then stops
// them, so that the agents stay connected throughout.
//
// GET /dev/agents (devagents.go) tells how many agents of each model are
// connected to a controller.

// Agent timing.
const (
	agentConnectWorkers = 16
	agentMoveWorkers    = 64
	agentPingInterval   = time.Minute
	agentSweepInterval  = 5 * time.Second
	agentCallTimeout    = 30 * time.Second
	agentRetryMin       = 100 * time.Millisecond
	agentRetryMax       = time.Second
	agentShutdownWait   = 3 * time.Second
	// agentHomeFailures is how many failed attempts (other than "try
	// again") a queued connect makes before leaving the agent to the next
	// sweep.
	agentHomeFailures = 3
)

// localAgentHeader carries the controller's per-process secret on the
// connections of the agents it runs for its own models.
const localAgentHeader = "X-Devcontroller-Local-Agent"

// The two connections of an agent.
const (
	agentConnModel = iota // /model/<uuid>/api
	agentConnAPI          // /api
)

// agentKey names an agent: its model and entity tag.
type agentKey struct{ model, tag string }

// agentDest is where agents connect: their own controller or a migration
// target.
type agentDest struct {
	controllerUUID string
	addrs          []string
	tls            *tls.Config
	header         http.Header // the local-agent secret, for this controller
	local          bool
}

// agent is one simulated agent.
type agent struct {
	key      agentKey
	password string

	mu       sync.Mutex
	gen      uint64     // bumped by every instruction (move, return, stop)
	dest     *agentDest // where the agent should be connected
	at       *agentDest // where conns are connected
	conns    []*jujuapi.Client
	inflight int  // connects running
	queued   bool // a connect is queued
	stopped  bool
	lastPing time.Time
}

// live reports whether the agent has both connections up. a.mu held.
func (a *agent) live() bool {
	if len(a.conns) != 2 {
		return false
	}
	for _, cl := range a.conns {
		if cl.Err() != nil {
			return false
		}
	}
	return true
}

// queuedConnect asks a worker to connect an agent to its destination, as
// instruction gen (a fresh agent's is 0) asked.
type queuedConnect struct {
	a   *agent
	gen uint64
}

// agentHost runs a controller's agents.
type agentHost struct {
	c    *Controller
	home *agentDest

	mu      sync.Mutex
	byModel map[string]map[string]*agent // model → tag → agent
	dirty   map[string]bool
	queue   []queuedConnect
	ctx     context.Context // serving context; nil before start

	reconcileC chan struct{} // signals dirty models
	queueC     chan struct{} // signals queued connects
	wg         sync.WaitGroup
	closers    sync.WaitGroup // asynchronous connection closes
}

func newAgentHost(c *Controller) *agentHost {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CACertPEM())
	return &agentHost{
		c: c,
		home: &agentDest{
			controllerUUID: c.UUID(), addrs: c.addrs, local: true,
			tls:    &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
			header: http.Header{localAgentHeader: []string{c.localSecret}},
		},
		byModel:    map[string]map[string]*agent{},
		dirty:      map[string]bool{},
		reconcileC: make(chan struct{}, 1),
		queueC:     make(chan struct{}, 1),
	}
}

// targetDest is where a migration target's agents connect.
func targetDest(t store.MigrationTarget) (*agentDest, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(t.CACert)) {
		return nil, fmt.Errorf("the target's CA certificate is not a PEM certificate")
	}
	return &agentDest{
		controllerUUID: t.ControllerUUID, addrs: t.Addrs,
		tls: &tls.Config{RootCAs: pool, ServerName: "juju-apiserver"},
	}, nil
}

// modelChanged is the store's change hook: it marks the model for the
// reconcile loop. It must not block.
func (h *agentHost) modelChanged(uuid string) {
	h.mu.Lock()
	h.dirty[uuid] = true
	h.mu.Unlock()
	select {
	case h.reconcileC <- struct{}{}:
	default:
	}
}

// start runs the host's goroutines until ctx ends, beginning with every
// model of the controller.
func (h *agentHost) start(ctx context.Context) {
	h.mu.Lock()
	h.ctx = ctx
	h.mu.Unlock()
	for _, m := range h.c.store.Models() {
		h.modelChanged(m.UUID)
	}
	h.wg.Add(2 + agentConnectWorkers)
	go func() { defer h.wg.Done(); h.reconcileLoop(ctx) }()
	go func() { defer h.wg.Done(); h.sweepLoop(ctx) }()
	for range agentConnectWorkers {
		go func() { defer h.wg.Done(); h.connectWorker(ctx) }()
	}
}

// shutdown waits for the host's goroutines (their context has ended),
// then stops every agent, closing its connections.
func (h *agentHost) shutdown() {
	h.wg.Wait()
	h.mu.Lock()
	var all []*agent
	for _, tags := range h.byModel {
		for _, a := range tags {
			all = append(all, a)
		}
	}
	h.byModel = map[string]map[string]*agent{}
	h.queue = nil
	h.mu.Unlock()
	var conns []*jujuapi.Client
	for _, a := range all {
		conns = append(conns, a.stop()...)
	}
	h.closeConns(conns)
	// Closing says goodbye to each peer; a peer that does not answer
	// (a hung migration target) must not hold the shutdown for long.
	closed := make(chan struct{})
	go func() { h.closers.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(agentShutdownWait):
		h.c.log.Warn("agent connections still closing at shutdown", "after", agentShutdownWait)
	}
}

// stop stops the agent and returns its connections, for the caller to
// close.
func (a *agent) stop() []*jujuapi.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	a.gen++
	conns := a.conns
	a.conns, a.at = nil, nil
	return conns
}

// closeConns closes connections in the background, a few at a time.
func (h *agentHost) closeConns(conns []*jujuapi.Client) {
	if len(conns) == 0 {
		return
	}
	h.closers.Add(1)
	go func() {
		defer h.closers.Done()
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		for _, cl := range conns {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				cl.Close()
			}()
		}
		wg.Wait()
	}()
}

func (h *agentHost) reconcileLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.reconcileC:
		}
		h.mu.Lock()
		dirty := h.dirty
		h.dirty = map[string]bool{}
		h.mu.Unlock()
		for _, uuid := range sortedKeys(dirty) {
			h.reconcile(uuid)
		}
	}
}

// desiredAgents returns the agents a controller runs for a model, tag →
// password, and whether missing ones are to be started. A model being
// imported has none yet; a dying or removed one none any more; a model
// past SUCCESS of a migration away keeps the agents it has (connected to
// the target) until it is reaped, and starts no new ones.
func desiredAgents(m *store.Model, ok bool) (map[string]string, bool) {
	if !ok || m.Life != store.LifeAlive || m.MigrationMode == store.MigrationModeImporting {
		return nil, false
	}
	want := make(map[string]string, len(m.Machines)+countUnits(m))
	for id, mc := range m.Machines {
		if mc.AgentPassword != "" {
			want[jujuapi.MachineTag(id).String()] = mc.AgentPassword
		}
	}
	for _, app := range m.Applications {
		for name, u := range app.Units {
			if u.AgentPassword != "" {
				want[jujuapi.UnitTag(name).String()] = u.AgentPassword
			}
		}
	}
	create := !(m.MigrationMode == store.MigrationModeExporting && m.Migration != nil && pastSuccess(m.Migration.Phase))
	return want, create
}

// pastSuccess reports whether a migration is committed to completing.
func pastSuccess(phase string) bool {
	switch phase {
	case phaseSuccess, phaseLogTransfer, phaseReap, phaseDone:
		return true
	}
	return false
}

// reconcile starts and stops the agents of one model to match its
// document.
func (h *agentHost) reconcile(uuid string) {
	m, ok := h.c.store.Model(uuid)
	want, create := desiredAgents(m, ok)
	var stopped []*agent
	var started []*agent
	h.mu.Lock()
	cur := h.byModel[uuid]
	for tag, a := range cur {
		if pw, keep := want[tag]; !keep || pw != a.password {
			stopped = append(stopped, a)
			delete(cur, tag)
		}
	}
	if create {
		for tag, pw := range want {
			if cur[tag] != nil {
				continue
			}
			if cur == nil {
				cur = map[string]*agent{}
				h.byModel[uuid] = cur
			}
			a := &agent{key: agentKey{uuid, tag}, password: pw, dest: h.home}
			cur[tag] = a
			started = append(started, a)
		}
	}
	if len(cur) == 0 {
		delete(h.byModel, uuid)
	}
	sort.Slice(started, func(i, j int) bool { return started[i].key.tag < started[j].key.tag })
	for _, a := range started {
		a.queued = true
		h.queue = append(h.queue, queuedConnect{a: a})
	}
	h.mu.Unlock()
	if len(started) > 0 {
		h.signalQueue()
	}
	var conns []*jujuapi.Client
	for _, a := range stopped {
		conns = append(conns, a.stop()...)
	}
	h.closeConns(conns)
	if len(started) > 0 || len(stopped) > 0 {
		name := uuid
		if ok {
			name = m.Name
		}
		h.c.log.Info("agents", "model", name, "uuid", uuid, "started", len(started), "stopped", len(stopped), "running", len(want))
	}
}

func (h *agentHost) signalQueue() {
	select {
	case h.queueC <- struct{}{}:
	default:
	}
}

// enqueue asks the workers to connect a to its destination.
func (h *agentHost) enqueue(a *agent, gen uint64) {
	h.mu.Lock()
	h.queue = append(h.queue, queuedConnect{a: a, gen: gen})
	h.mu.Unlock()
	h.signalQueue()
}

func (h *agentHost) connectWorker(ctx context.Context) {
	for {
		h.mu.Lock()
		var q queuedConnect
		ok := len(h.queue) > 0
		if ok {
			q = h.queue[0]
			h.queue[0] = queuedConnect{}
			h.queue = h.queue[1:]
		}
		more := len(h.queue) > 0
		h.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-h.queueC:
			}
			continue
		}
		if more {
			h.signalQueue() // wake another worker
		}
		a := q.a
		a.mu.Lock()
		a.queued = false
		gen, dest := a.gen, a.dest
		a.mu.Unlock()
		if q.gen != gen {
			continue // a later instruction superseded this one
		}
		if err := h.connect(ctx, a, gen, dest, agentHomeFailures); err != nil && !errors.Is(err, errStaleAgent) && ctx.Err() == nil {
			h.c.log.Debug("agent cannot connect; the sweep will retry", "model", a.key.model, "agent", a.key.tag, "err", err)
		}
	}
}

// errStaleAgent ends a connect that a later instruction superseded.
var errStaleAgent = errors.New("agent instruction superseded")

// connect connects a (for instruction gen) to d: it closes the agent's
// current connections, then opens and logs in its two new ones. With
// maxFailures > 0 it gives up after that many failed attempts other than
// "try again"; with 0 it tries until ctx ends.
func (h *agentHost) connect(ctx context.Context, a *agent, gen uint64, d *agentDest, maxFailures int) error {
	a.mu.Lock()
	if a.stopped || a.gen != gen {
		a.mu.Unlock()
		return errStaleAgent
	}
	if a.at == d && a.live() {
		a.mu.Unlock()
		return nil // already there
	}
	old := a.conns
	a.conns, a.at = nil, nil
	a.inflight++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.inflight--
		a.mu.Unlock()
	}()
	for _, cl := range old {
		cl.Close()
	}
	conns := make([]*jujuapi.Client, 0, 2)
	for _, path := range []string{"/model/" + a.key.model + "/api", "/api"} {
		cl, err := h.login(ctx, a, gen, d, path, maxFailures)
		if err != nil {
			for _, cl := range conns {
				cl.Close()
			}
			return err
		}
		conns = append(conns, cl)
	}
	a.mu.Lock()
	if a.stopped || a.gen != gen || a.conns != nil {
		a.mu.Unlock()
		for _, cl := range conns {
			cl.Close()
		}
		return errStaleAgent
	}
	a.conns, a.at, a.lastPing = conns, d, time.Now()
	a.mu.Unlock()
	return nil
}

// current reports whether instruction gen is still a's latest.
func (a *agent) current(gen uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.stopped && a.gen == gen
}

// login opens one connection of a to d and logs it in, retrying: after
// "try again" on the same connection, after other failures on a new one.
func (h *agentHost) login(ctx context.Context, a *agent, gen uint64, d *agentDest, path string, maxFailures int) (*jujuapi.Client, error) {
	backoff := agentRetryMin
	failures := 0
	var cl *jujuapi.Client
	for {
		if !a.current(gen) {
			if cl != nil {
				cl.Close()
			}
			return nil, errStaleAgent
		}
		var err error
		if cl == nil {
			cl, err = h.dial(ctx, d, path)
		}
		if err == nil {
			err = h.loginOnce(ctx, cl, a, d)
			if err == nil {
				return cl, nil
			}
			if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain || cl.Err() != nil {
				cl.Close()
				cl = nil
			}
		}
		if ctx.Err() != nil {
			if cl != nil {
				cl.Close()
			}
			return nil, ctx.Err()
		}
		if jujuapi.ErrorCode(err) != jujuapi.CodeTryAgain {
			failures++
			if maxFailures > 0 && failures >= maxFailures {
				return nil, err
			}
		}
		// Full jitter over the upper half keeps retries from moving in step.
		sleep(ctx, backoff/2+rand.N(backoff/2+1))
		backoff = min(2*backoff, agentRetryMax)
	}
}

// dial opens a connection to d, trying each address in turn.
func (h *agentHost) dial(ctx context.Context, d *agentDest, path string) (*jujuapi.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, agentCallTimeout)
	defer cancel()
	var errs []error
	for _, addr := range d.addrs {
		conn, err := jujuapi.Dial(ctx, "wss://"+addr+path, jujuapi.DialOptions{
			ConnOptions: h.c.cfg.Conn, TLSConfig: d.tls, Header: d.header,
		})
		if err == nil {
			return jujuapi.NewClient(conn), nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (h *agentHost) loginOnce(ctx context.Context, cl *jujuapi.Client, a *agent, d *agentDest) error {
	ctx, cancel := context.WithTimeout(ctx, agentCallTimeout)
	defer cancel()
	var res params.LoginResult
	err := cl.Call(ctx, "Admin", 3, "Login", params.LoginRequest{
		AuthTag: a.key.tag, Credentials: a.password, ClientVersion: h.c.cfg.AgentVersion,
	}, &res)
	if err != nil {
		return err
	}
	if want := jujuapi.ControllerTag(d.controllerUUID).String(); res.ControllerTag != want {
		return fmt.Errorf("agent %s logged in to %s, not %s", a.key.tag, res.ControllerTag, want)
	}
	return nil
}

// sweepLoop pings live agent connections every agentPingInterval and
// reconnects agents whose connections broke.
func (h *agentHost) sweepLoop(ctx context.Context) {
	every, pingEvery := h.sweepIntervals()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.sweep(ctx, pingEvery)
	}
}

// sweepIntervals keeps pings well within the connections' idle timeout.
func (h *agentHost) sweepIntervals() (sweep, ping time.Duration) {
	ping = agentPingInterval
	if idle := h.c.cfg.Conn.IdleTimeout; idle > 0 && idle/3 < ping {
		ping = max(idle/3, 10*time.Millisecond)
	}
	return min(agentSweepInterval, ping), ping
}

func (h *agentHost) sweep(ctx context.Context, pingEvery time.Duration) {
	now := time.Now()
	var toPing []*jujuapi.Client
	var reconnect []queuedConnect
	for _, a := range h.allAgents() {
		a.mu.Lock()
		switch {
		case a.stopped || a.inflight > 0 || a.queued:
		case !a.live():
			a.queued = true
			reconnect = append(reconnect, queuedConnect{a: a, gen: a.gen})
		case now.Sub(a.lastPing) >= pingEvery:
			a.lastPing = now
			toPing = append(toPing, a.conns...)
		}
		a.mu.Unlock()
	}
	if len(reconnect) > 0 {
		h.mu.Lock()
		h.queue = append(h.queue, reconnect...)
		h.mu.Unlock()
		h.signalQueue()
	}
	sem := make(chan struct{}, agentConnectWorkers)
	var wg sync.WaitGroup
	for _, cl := range toPing {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, agentCallTimeout)
			defer cancel()
			if err := cl.Call(pctx, "Pinger", 1, "Ping", nil, nil); err != nil && ctx.Err() == nil {
				cl.Close() // the next sweep reconnects the agent
			}
		}()
	}
	wg.Wait()
}

func (h *agentHost) allAgents() []*agent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*agent
	for _, tags := range h.byModel {
		for _, a := range tags {
			out = append(out, a)
		}
	}
	return out
}

func (h *agentHost) modelAgents(uuid string) []*agent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*agent, 0, len(h.byModel[uuid]))
	for _, a := range h.byModel[uuid] {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.tag < out[j].key.tag })
	return out
}

// moveModel moves the agents of a model to d and waits until each has
// reported (logged in both connections there) or ctx ends. It returns how
// many reported, of how many. Agents that have not reported when ctx ends
// are left unconnected; returnModel brings them back.
func (h *agentHost) moveModel(ctx context.Context, uuid string, d *agentDest) (reported, total int) {
	agents := h.modelAgents(uuid)
	gens := make([]uint64, len(agents))
	for i, a := range agents {
		a.mu.Lock()
		a.gen++
		a.dest = d
		gens[i] = a.gen
		a.mu.Unlock()
	}
	var n atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(agentMoveWorkers, len(agents)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := h.connect(ctx, agents[i], gens[i], d, 0); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	for i := range agents {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return int(n.Load()), len(agents)
}

// returnModel sends the agents of a model back to this controller.
func (h *agentHost) returnModel(uuid string) int {
	agents := h.modelAgents(uuid)
	for _, a := range agents {
		a.mu.Lock()
		if a.dest == h.home && a.at == h.home {
			a.mu.Unlock()
			continue
		}
		a.gen++
		a.dest = h.home
		gen := a.gen
		a.queued = true
		a.mu.Unlock()
		h.enqueue(a, gen)
	}
	return len(agents)
}

// agentPlaces counts the agents this controller runs for a model by where
// they are connected: here, elsewhere (a migration target), or nowhere
// (connecting).
type agentPlaces struct {
	Here      int `json:"here"`
	Elsewhere int `json:"elsewhere"`
	Nowhere   int `json:"nowhere"`
}

func (h *agentHost) places(uuid string) agentPlaces {
	var p agentPlaces
	for _, a := range h.modelAgents(uuid) {
		a.mu.Lock()
		switch {
		case !a.live():
			p.Nowhere++
		case a.at == h.home:
			p.Here++
		default:
			p.Elsewhere++
		}
		a.mu.Unlock()
	}
	return p
}

// agentSessions counts the logged-in agent connections of a controller,
// by agent and kind.
type agentSessions struct {
	mu sync.Mutex
	n  map[agentKey]*[2]int
}

func (s *agentSessions) add(k agentKey, kind, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[agentKey]*[2]int{}
	}
	c := s.n[k]
	if c == nil {
		c = new([2]int)
		s.n[k] = c
	}
	c[kind] += delta
	if c[0] <= 0 && c[1] <= 0 {
		delete(s.n, k)
	}
}

// agentCount is what a controller sees of one model's agents.
type agentCount struct {
	// Connected counts the agents with both connections logged in here.
	Connected int `json:"connected"`
	// Connections counts their logged-in connections.
	Connections int `json:"connections"`
}

// count returns, by model, the agents connected to this controller.
func (s *agentSessions) count() map[string]agentCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]agentCount{}
	for k, c := range s.n {
		ac := out[k.model]
		ac.Connections += c[0] + c[1]
		if c[0] > 0 && c[1] > 0 {
			ac.Connected++
		}
		out[k.model] = ac
	}
	return out
}

// connectedAgents is how many agents of a model have both connections
// logged in to this controller.
func (c *Controller) connectedAgents(uuid string) int {
	return c.agentSessions.count()[uuid].Connected
}

// ensureAgentPasswords gives every machine and unit an agent password,
// for state written before agents were simulated.
func (c *Controller) ensureAgentPasswords(ctx context.Context) error {
	for _, m := range c.store.Models() {
		if m.MigrationMode == store.MigrationModeImporting || !lacksAgentPasswords(m) {
			continue
		}
		if _, err := c.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
			fillAgentPasswords(m)
			return nil
		}); err != nil {
			return fmt.Errorf("controller %q: agent passwords of model %q: %w", c.cfg.Name, m.Name, err)
		}
	}
	return nil
}

func lacksAgentPasswords(m *store.Model) bool {
	for _, mc := range m.Machines {
		if mc.AgentPassword == "" {
			return true
		}
	}
	for _, app := range m.Applications {
		for _, u := range app.Units {
			if u.AgentPassword == "" {
				return true
			}
		}
	}
	return false
}

// fillAgentPasswords sets a password for every agent that has none, in a
// document being written.
func fillAgentPasswords(m *store.Model) {
	for _, mc := range m.Machines {
		if mc.AgentPassword == "" {
			mc.AgentPassword = randomPassword()
		}
	}
	for _, app := range m.Applications {
		for _, u := range app.Units {
			if u.AgentPassword == "" {
				u.AgentPassword = randomPassword()
			}
		}
	}
}
