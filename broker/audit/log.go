package audit

import (
	"context"
	"log/slog"
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
	auditFlushEvery   = 200 * time.Millisecond // the longest an event waits to be written
	auditWriteTimeout = 5 * time.Second        // one INSERT
	auditPurgeEvery   = time.Hour
	auditPurgeBatch   = 5000
	auditErrorMax     = 512 // bytes of an error message kept
)

// auditRetryBackoff are the waits before each retry of a failed batch
// (a database restarting); after the last, the batch is dropped.
var auditRetryBackoff = []time.Duration{250 * time.Millisecond, time.Second, 3 * time.Second}

// DefaultRetention is how long audit events are kept by default.
const DefaultRetention = 90 * 24 * time.Hour

// Log queues audit events and writes them to the database in
// batches, off the request path: a caller never waits on the database.
type Log struct {
	db    *db.DB
	log   *slog.Logger
	queue chan Event
	stop  chan struct{} // closed to make the writer flush and return
	done  chan struct{} // closed when the writer has returned

	written  prometheus.Counter
	dropped  *prometheus.CounterVec
	batchDur prometheus.Histogram
	purged   prometheus.Counter

	failedWrites atomic.Int64 // write attempts the database refused
}

// New makes the audit log and registers its metrics on reg.
func New(d *db.DB, logger *slog.Logger, reg prometheus.Registerer) *Log {
	l := &Log{
		db: d, log: logger,
		queue: make(chan Event, auditQueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_written_total", Help: "Audit events written to the database.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_audit_dropped_total", Help: "Audit events dropped, by reason (queue-full: the writer fell behind; write-failed: the database refused a batch after retries).",
		}, []string{"reason"}),
		batchDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_audit_batch_duration_seconds", Help: "Time to write one batch of audit events, retries included.", Buckets: prometheus.ExponentialBucketsRange(10e-6, 10, 16),
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_purged_total", Help: "Audit events deleted after the retention period.",
		}),
	}
	l.dropped.WithLabelValues("queue-full")
	l.dropped.WithLabelValues("write-failed")
	if reg != nil {
		reg.MustRegister(l.written, l.dropped, l.batchDur, l.purged)
	}
	return l
}

// Add queues ev without waiting, or drops (and counts) it when the queue
// is full. A nil Log ignores events.
func (l *Log) Add(ev Event) {
	if l == nil {
		return
	}
	select {
	case l.queue <- ev:
	default:
		l.dropped.WithLabelValues("queue-full").Inc()
	}
}

// Run writes queued events until Close, in batches of up to
// auditBatchSize or every auditFlushEvery, whichever comes first.
func (l *Log) Run() {
	defer close(l.done)
	tick := time.NewTicker(auditFlushEvery)
	defer tick.Stop()
	batch := make([]db.AuditEvent, 0, auditBatchSize)
	flush := func() {
		if len(batch) > 0 {
			l.write(batch)
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
		select {
		case ev := <-l.queue:
			add(ev)
		case <-tick.C:
			flush()
		case <-l.stop:
			for len(l.queue) > 0 { // the only reader: this never blocks
				add(<-l.queue)
			}
			flush()
			return
		}
	}
}

// write stores one batch, retrying with backoff; a batch the database
// still refuses is dropped, counted and logged. While the log is closing
// it makes one attempt more at most.
func (l *Log) write(batch []db.AuditEvent) {
	start := time.Now()
	defer func() { l.batchDur.Observe(time.Since(start).Seconds()) }()
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
		err := l.db.AddAuditEvents(ctx, batch)
		cancel()
		if err == nil {
			l.written.Add(float64(len(batch)))
			return
		}
		l.failedWrites.Add(1)
		if attempt == len(auditRetryBackoff) || (attempt > 0 && l.closing()) {
			l.dropped.WithLabelValues("write-failed").Add(float64(len(batch)))
			l.log.Warn("dropped a batch of audit events the database refused", "events", len(batch), "attempts", attempt+1, "err", err)
			return
		}
		select {
		case <-time.After(auditRetryBackoff[attempt]):
		case <-l.stop:
		}
	}
}

func (l *Log) closing() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// Close makes the writer write what is queued and waits for it, at most
// until ctx ends. Events added afterwards are not written.
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
