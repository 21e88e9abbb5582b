package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/db"
)

// Event is one audit record: a login attempt or a call that changes
// state. It never holds a secret.
type Event struct {
	Time     time.Time
	Identity string // who (or, for a failed login, who the caller claimed to be)
	Remote   string // the source address
	Model    string // the model's UUID, if any
	Facade   string
	Method   string
	Result   string // ok, refused, error, throttled, or an error code
	Error    string // the error's message, if any
	Duration time.Duration
}

// The audit writer's bounds.
const (
	auditQueueSize    = 8192                   // events waiting for the writer
	auditBatchSize    = 256                    // events per INSERT at most
	auditReplayBatch  = 1000                   // spooled events per INSERT at most
	auditFlushEvery   = 200 * time.Millisecond // the longest an event waits to be written
	auditWriteTimeout = 5 * time.Second        // one INSERT
	auditPurgeEvery   = time.Hour
	auditPurgeBatch   = 5000
	auditDropLogEvery = 10 * time.Second // at most one log line per drop reason this often
)

// auditRetryBackoff are the waits before each retry of a batch the
// database cannot take, when there is no spool; after the last, the batch
// is dropped.
var auditRetryBackoff = []time.Duration{250 * time.Millisecond, time.Second, 3 * time.Second}

// With a spool, the waits between attempts while the database cannot take
// events double from auditProbeMin to auditProbeMax.
var auditProbeMin, auditProbeMax = 250 * time.Millisecond, 2 * time.Second

// DefaultRetention is how long audit events are kept by default.
const DefaultRetention = 90 * 24 * time.Hour

// Why events are dropped: the values of jimm_audit_dropped_total's reason.
const (
	dropQueueFull    = "queue-full"    // the writer fell behind
	dropRejected     = "rejected"      // the database refused the event for what it holds, alone
	dropSpoolFull    = "spool-full"    // the database was unavailable and the spool at its bound
	dropSpoolError   = "spool-error"   // the database was unavailable and the spool could not be written
	dropUnavailable  = "unavailable"   // the database was unavailable and there is no spool
	dropSpoolCorrupt = "spool-corrupt" // a line of the spool could not be read back
)

// writer stores a batch of rows: all of them or none. An error wrapping
// db.ErrAuditRejected means the rows' values are refused; any other, that
// the database cannot take rows for now. *db.DB is one.
type writer interface {
	AddAuditEvents(ctx context.Context, rows []db.AuditEvent) error
}

// Option configures a Log.
type Option func(*Log)

// WithSpool makes the log keep the events the database cannot take (it is
// unreachable, restarting, read-only) in a file in dir (SpoolFile), at most
// maxBytes of it (DefaultSpoolMaxBytes when zero or negative), and write
// them, in order, once it can. A spool a previous run left is written
// first. Without a spool such events are retried for a few seconds and
// then dropped.
func WithSpool(dir string, maxBytes int64) Option {
	return func(l *Log) { l.spoolDir, l.spoolMax = dir, maxBytes }
}

// Log queues audit events and writes them to the database in batches, off
// the request path: a caller never waits on the database.
//
// Nothing is lost to a bad value or to an outage: values are bounded
// before the write (see auditRow); a batch the database rejects for what
// it holds is split in halves until the rows at fault are alone, and only
// those are dropped; while the database cannot take events they go to the
// spool (see WithSpool) and are replayed when it can. What is dropped all
// the same (past the queue's or the spool's bound) is counted in
// jimm_audit_dropped_total and logged, at most once every 10 s per reason.
type Log struct {
	db       *db.DB
	w        writer
	log      *slog.Logger
	queue    chan Event
	stop     chan struct{} // closed to make the writer flush and return
	done     chan struct{} // closed when the writer has returned
	spoolDir string
	spoolMax int64

	// The writer's state, owned by Run.
	sp       *spool // nil without a spool
	dbDown   bool   // the last write found the database unavailable
	backoff  time.Duration
	retryAt  time.Time // no write is tried before, while dbDown
	replayed int       // events replayed since the spool was last empty

	dropMu     sync.Mutex
	dropLogged map[string]time.Time
	dropCount  map[string]int // dropped since last logged

	written     prometheus.Counter
	dropped     *prometheus.CounterVec
	batchDur    prometheus.Histogram
	purged      prometheus.Counter
	spooled     prometheus.Counter
	replayedCtr prometheus.Counter
	spoolEvents prometheus.Gauge
	spoolBytes  prometheus.Gauge

	failedWrites atomic.Int64 // write attempts the database refused
}

// New makes the audit log and registers its metrics on reg.
func New(d *db.DB, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) *Log {
	l := &Log{
		db: d, log: logger,
		queue:      make(chan Event, auditQueueSize),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		dropLogged: map[string]time.Time{},
		dropCount:  map[string]int{},
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_written_total", Help: "Audit events written to the database.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_audit_dropped_total", Help: "Audit events dropped, by reason (queue-full: the writer fell behind; rejected: the database refused the event for what it holds; " +
				"spool-full: the database was unavailable and the spool at its bound; spool-error: the database was unavailable and the spool could not be written; " +
				"unavailable: the database was unavailable and there is no spool; spool-corrupt: a spooled event could not be read back).",
		}, []string{"reason"}),
		batchDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_audit_batch_duration_seconds", Help: "Time to write one batch of audit events (to the database or the spool), splits and retries included.", Buckets: prometheus.ExponentialBucketsRange(10e-6, 10, 16),
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_purged_total", Help: "Audit events deleted after the retention period.",
		}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_spooled_total", Help: "Audit events written to the local spool because the database could not take them.",
		}),
		replayedCtr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_replayed_total", Help: "Spooled audit events written to the database.",
		}),
		spoolEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jimm_audit_spool_events", Help: "Audit events in the local spool waiting for the database.",
		}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jimm_audit_spool_bytes", Help: "Size of the local audit spool file.",
		}),
	}
	if d != nil {
		l.w = d
	}
	for _, o := range opts {
		o(l)
	}
	for _, r := range []string{dropQueueFull, dropRejected, dropSpoolFull, dropSpoolError, dropUnavailable, dropSpoolCorrupt} {
		l.dropped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(l.written, l.dropped, l.batchDur, l.purged, l.spooled, l.replayedCtr, l.spoolEvents, l.spoolBytes)
	}
	return l
}

// Add queues ev without waiting, or drops (and counts) it when the queue
// is full. A nil Log ignores events.
func (l *Log) Add(ev Event) {
	if l == nil {
		return
	}
	// Bounded before it waits in the queue: anyone can claim a user name of
	// any size on a failed login, and a full queue of them must stay small.
	ev.Identity, ev.Remote, ev.Model = bound(ev.Identity, auditFieldMax), bound(ev.Remote, auditFieldMax), bound(ev.Model, auditFieldMax)
	ev.Facade, ev.Method, ev.Result = bound(ev.Facade, auditFieldMax), bound(ev.Method, auditFieldMax), bound(ev.Result, auditFieldMax)
	if len(ev.Error) > auditScanMax {
		ev.Error = ev.Error[:auditScanMax] // scrubbed and cut further at the write
	}
	select {
	case l.queue <- ev:
	default:
		l.drop(dropQueueFull, 1)
	}
}

// ready is always ready to receive from.
var ready = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Run writes queued events until Close, in batches of up to
// auditBatchSize or every auditFlushEvery, whichever comes first. With a
// spool, it first opens it, and replays it whenever it holds events and
// the database takes them.
func (l *Log) Run() {
	defer close(l.done)
	l.openSpool()
	defer l.closeSpool()
	tick := time.NewTicker(auditFlushEvery)
	defer tick.Stop()
	batch := make([]db.AuditEvent, 0, auditBatchSize)
	flush := func() {
		if len(batch) > 0 {
			l.flush(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	add := func(ev Event) {
		batch = append(batch, auditRow(ev))
		if len(batch) == auditBatchSize {
			flush()
		}
	}
	for {
		var replay <-chan struct{}
		if l.sp != nil && l.sp.pending > 0 && !time.Now().Before(l.retryAt) {
			replay = ready // interleaved with taking events off the queue
		}
		select {
		case ev := <-l.queue:
			add(ev)
		case <-tick.C:
			flush()
		case <-replay:
			l.replay()
		case <-l.stop:
			for len(l.queue) > 0 { // the only reader: this never blocks
				add(<-l.queue)
			}
			flush()
			return
		}
	}
}

// flush writes one batch: to the spool when it holds older events (they
// go first) or the database was just found unavailable, else to the
// database, and what the database cannot take to the spool.
func (l *Log) flush(rows []db.AuditEvent) {
	start := time.Now()
	defer func() { l.batchDur.Observe(time.Since(start).Seconds()) }()
	if l.sp == nil {
		l.writeRetrying(rows)
		return
	}
	if l.sp.pending > 0 || (l.dbDown && start.Before(l.retryAt)) {
		l.toSpool(rows)
		return
	}
	_, rest, err := l.store(rows)
	if len(rest) > 0 {
		l.unavailable(err)
		l.toSpool(rest)
		return
	}
	l.available()
}

// store writes rows in order. A batch the database rejects for what it
// holds is split in halves, recursively, so that only the rows at fault
// are dropped (and counted). When the database cannot take rows at all, it
// returns those not written (always the last ones of rows) and why.
func (l *Log) store(rows []db.AuditEvent) (written int, rest []db.AuditEvent, err error) {
	if l.w == nil {
		return 0, rows, errors.New("no audit database")
	}
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	err = l.w.AddAuditEvents(ctx, rows)
	cancel()
	if err == nil {
		l.written.Add(float64(len(rows)))
		return len(rows), nil, nil
	}
	l.failedWrites.Add(1)
	if !errors.Is(err, db.ErrAuditRejected) {
		return 0, rows, err
	}
	if len(rows) == 1 {
		r := rows[0]
		l.drop(dropRejected, 1, "facade", r.Facade, "method", r.Method, "identity", bound(r.Identity, 64), "err", err)
		return 0, nil, nil
	}
	half := len(rows) / 2
	n, rest, err := l.store(rows[:half])
	if len(rest) > 0 {
		return n, rows[half-len(rest):], err
	}
	m, rest, err := l.store(rows[half:])
	return n + m, rest, err
}

// writeRetrying is flush without a spool: a batch the database cannot
// take is retried with backoff, and then dropped. While the log is
// closing it makes one attempt more at most.
func (l *Log) writeRetrying(rows []db.AuditEvent) {
	for attempt := 0; ; attempt++ {
		var err error
		_, rows, err = l.store(rows)
		if len(rows) == 0 {
			l.available()
			return
		}
		if attempt == len(auditRetryBackoff) || (attempt > 0 && l.closing()) {
			l.drop(dropUnavailable, len(rows), "attempts", attempt+1, "err", err)
			return
		}
		select {
		case <-time.After(auditRetryBackoff[attempt]):
		case <-l.stop:
		}
	}
}

// toSpool appends rows to the spool; what does not fit is dropped.
func (l *Log) toSpool(rows []db.AuditEvent) {
	n, err := l.sp.append(rows)
	l.spooled.Add(float64(n))
	switch {
	case err != nil && n == len(rows): // written, not synced
		l.log.Warn("audit spool not synced to disk", "err", err)
	case err != nil:
		l.drop(dropSpoolError, len(rows)-n, "err", err)
	case n < len(rows):
		l.drop(dropSpoolFull, len(rows)-n, "spool", l.sp.path, "max-bytes", l.sp.max)
	}
	l.spoolGauges()
}

// replay writes the oldest spooled events to the database.
func (l *Log) replay() {
	recs, err := l.sp.read(auditReplayBatch)
	if err != nil && len(recs) == 0 {
		l.log.Warn("cannot read the audit spool", "err", err)
		l.unavailable(err) // wait before reading again
		return
	}
	if len(recs) == 0 { // nothing readable left: only unreadable lines
		l.drop(dropSpoolCorrupt, l.sp.pending, "spool", l.sp.path)
		if err := l.sp.reset(); err != nil {
			l.log.Warn("cannot empty the audit spool", "err", err)
		}
		l.spoolGauges()
		return
	}
	rows := make([]db.AuditEvent, len(recs))
	for i, r := range recs {
		rows[i] = r.row
	}
	start := time.Now()
	written, rest, err := l.store(rows)
	l.batchDur.Observe(time.Since(start).Seconds())
	l.replayedCtr.Add(float64(written))
	l.replayed += written
	if done := len(recs) - len(rest); done > 0 {
		if err := l.sp.commit(recs[:done]); err != nil {
			l.log.Warn("cannot record what the audit spool replayed; a restart may write some events twice", "err", err)
		}
	}
	if len(rest) > 0 {
		l.unavailable(err)
	} else {
		l.available()
	}
	if l.sp.pending == 0 {
		l.log.Info("replayed the audit spool", "events", l.replayed)
		l.replayed = 0
	}
	l.spoolGauges()
}

// unavailable records that the database could not take events: no write
// is tried again before a backoff.
func (l *Log) unavailable(err error) {
	if !l.dbDown {
		if l.sp != nil {
			l.log.Warn("the database cannot take audit events; keeping them in the spool until it can", "spool", l.sp.path, "err", err)
		} else {
			l.log.Warn("the database cannot take audit events", "err", err)
		}
	}
	l.dbDown = true
	l.backoff = min(max(2*l.backoff, auditProbeMin), auditProbeMax)
	l.retryAt = time.Now().Add(l.backoff)
}

// available records that the database took events.
func (l *Log) available() {
	if l.dbDown {
		pending := 0
		if l.sp != nil {
			pending = l.sp.pending
		}
		l.log.Info("the database takes audit events again", "spooled", pending)
	}
	l.dbDown, l.backoff, l.retryAt = false, 0, time.Time{}
}

// drop counts n dropped events and logs it, at most once every
// auditDropLogEvery per reason (with the count since the last line).
func (l *Log) drop(reason string, n int, attrs ...any) {
	if n <= 0 {
		return
	}
	l.dropped.WithLabelValues(reason).Add(float64(n))
	l.dropMu.Lock()
	l.dropCount[reason] += n
	now := time.Now()
	if now.Sub(l.dropLogged[reason]) < auditDropLogEvery {
		l.dropMu.Unlock()
		return
	}
	count := l.dropCount[reason]
	l.dropLogged[reason], l.dropCount[reason] = now, 0
	l.dropMu.Unlock()
	l.log.Warn("dropped audit events", append([]any{"reason", reason, "events", count}, attrs...)...)
}

func (l *Log) openSpool() {
	if l.spoolDir == "" {
		return
	}
	sp, corrupt, err := openSpool(l.spoolDir, l.spoolMax)
	if err != nil {
		l.log.Error("cannot open the audit spool: events the database cannot take will be dropped", "err", err)
		return
	}
	l.sp = sp
	l.drop(dropSpoolCorrupt, corrupt, "spool", sp.path)
	if sp.pending > 0 {
		l.log.Info("replaying audit events a previous run spooled", "spool", sp.path, "events", sp.pending)
	}
	l.spoolGauges()
}

func (l *Log) closeSpool() {
	if l.sp == nil {
		return
	}
	if l.sp.pending > 0 {
		l.log.Warn("audit events left in the spool for the next start", "spool", l.sp.path, "events", l.sp.pending)
	}
	if err := l.sp.close(); err != nil {
		l.log.Warn("cannot close the audit spool", "err", err)
	}
}

func (l *Log) spoolGauges() {
	l.spoolEvents.Set(float64(l.sp.pending))
	l.spoolBytes.Set(float64(l.sp.size))
}

func (l *Log) closing() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// Close makes the writer write what is queued (to the database, or to the
// spool when the database cannot take it or the spool holds older events)
// and waits for it, at most until ctx ends. Events added afterwards are
// not written.
func (l *Log) Close(ctx context.Context) {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	select {
	case <-l.done:
	case <-ctx.Done():
	}
}

// Purge deletes, now and then every auditPurgeEvery until ctx ends, the
// events older than retention. Replicas purging together only repeat each
// other's deletes.
func (l *Log) Purge(ctx context.Context, retention time.Duration) {
	if retention <= 0 {
		return // kept forever
	}
	tick := time.NewTicker(auditPurgeEvery)
	defer tick.Stop()
	for {
		n, err := l.db.PurgeAuditEvents(ctx, time.Now().Add(-retention), auditPurgeBatch)
		l.purged.Add(float64(n))
		if err != nil && ctx.Err() == nil {
			l.log.Warn("cannot purge old audit events", "retention", retention, "purged", n, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
