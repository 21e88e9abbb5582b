package broker

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jimmbroker/jimm/db"
)

// auditEvent is one audit record: a login attempt or a call that changes
// state. It never holds a secret.
type auditEvent struct {
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

// audit records ev without waiting: it is queued for the audit writer,
// and dropped (and counted) when the queue is full.
func (s *Server) audit(ev auditEvent) {
	if s.auditLog == nil {
		return
	}
	s.auditLog.add(ev)
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

// DefaultAuditRetention is how long audit events are kept by default.
const DefaultAuditRetention = 90 * 24 * time.Hour

// auditLog queues audit events and writes them to the database in
// batches, off the request path: a caller never waits on the database.
type auditLog struct {
	db    *db.DB
	log   *slog.Logger
	queue chan auditEvent
	stop  chan struct{} // closed to make the writer flush and return
	done  chan struct{} // closed when the writer has returned

	written  prometheus.Counter
	dropped  *prometheus.CounterVec
	batchDur prometheus.Histogram
	purged   prometheus.Counter
}

// newAuditLog makes the audit log and registers its metrics on reg.
func newAuditLog(d *db.DB, logger *slog.Logger, reg prometheus.Registerer) *auditLog {
	l := &auditLog{
		db: d, log: logger,
		queue: make(chan auditEvent, auditQueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jimm_audit_written_total", Help: "Audit events written to the database.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jimm_audit_dropped_total", Help: "Audit events dropped, by reason (queue-full: the writer fell behind; write-failed: the database refused a batch after retries).",
		}, []string{"reason"}),
		batchDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jimm_audit_batch_duration_seconds", Help: "Time to write one batch of audit events, retries included.", Buckets: rpcBuckets,
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

// add queues ev, or drops it when the queue is full.
func (l *auditLog) add(ev auditEvent) {
	select {
	case l.queue <- ev:
	default:
		l.dropped.WithLabelValues("queue-full").Inc()
	}
}

// run writes queued events until Close, in batches of up to
// auditBatchSize or every auditFlushEvery, whichever comes first.
func (l *auditLog) run() {
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
	add := func(ev auditEvent) {
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
func (l *auditLog) write(batch []db.AuditEvent) {
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

func (l *auditLog) closing() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// closeAudit writes the queued audit events, waiting a few seconds at most.
func (s *Server) closeAudit() {
	if s.auditLog == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*auditWriteTimeout)
	defer cancel()
	s.auditLog.Close(ctx)
}

// Close makes the writer write what is queued and waits for it, at most
// until ctx ends. Events added afterwards are not written.
func (l *auditLog) Close(ctx context.Context) {
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

// purge deletes, now and then every auditPurgeEvery until ctx ends, the
// events older than retention. Replicas purging together only repeat each
// other's deletes.
func (l *auditLog) purge(ctx context.Context, retention time.Duration) {
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

// auditRow is the database row of ev, scrubbed.
func auditRow(ev auditEvent) db.AuditEvent {
	return db.AuditEvent{
		Time:           ev.Time.UTC().Round(time.Microsecond),
		Identity:       ev.Identity,
		Remote:         ev.Remote,
		Model:          ev.Model,
		Facade:         ev.Facade,
		Method:         ev.Method,
		Result:         ev.Result,
		Error:          scrub(ev.Error),
		DurationMicros: ev.Duration.Microseconds(),
	}
}

// secretPatterns find what looks like a secret in free text (an error
// message): a key named like a secret and its value, a bearer token, a
// JWT, a broker session token.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)((?:password|passwd|secret|token|credentials?|api[-_]?key|authorization)["']?\s*[:=]\s*["']?(?:(?:bearer|basic)\s+)?)[^\s"',;&}]+`),
	regexp.MustCompile(`(?i)(bearer\s+|basic\s+)[A-Za-z0-9._~+/=-]+`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`jimm_[a-z]{2,8}_[A-Za-z0-9_-]{16,}`), // the broker's own tokens, e.g. jimm_st_...
}

// scrub bounds an error message and redacts what looks like a secret in
// it. Events carry no call parameters at all; this is a second line for
// messages that echo what a caller sent.
func scrub(msg string) string {
	if msg == "" {
		return ""
	}
	if len(msg) > auditErrorMax {
		cut := auditErrorMax
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	for _, re := range secretPatterns {
		if re.NumSubexp() > 0 {
			msg = re.ReplaceAllString(msg, "${1}[redacted]")
		} else {
			msg = re.ReplaceAllString(msg, "[redacted]")
		}
	}
	return msg
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// changesState reports whether a call of facade.method may change state,
// and so is audited. It knows the read-only calls by name; anything else,
// unknown calls included, is taken to change state. It does not allocate:
// it runs for every relayed response.
func changesState(facade, method string) bool {
	switch method {
	case "Ping", "Stop", // a watcher's Stop ends the caller's own watcher only
		"ModelInfo", "ModelGet", "ModelStatus", "ModelSummaries", "ModelUserInfo",
		"Clouds", "Cloud", "CloudInfo", "ControllerVersion", "ControllerConfig",
		"IdentityProviderURL", "UserInfo", "ApplicationsInfo", "UnitsInfo", "MachinesInfo",
		"CharmInfo", "MongoVersion", "AgentVersion", "Sequences", "FacadeVersions":
		return false
	}
	for _, prefix := range readOnlyPrefixes {
		if strings.HasPrefix(method, prefix) {
			return false
		}
	}
	return true
}

// readOnlyPrefixes start the names of read-only calls.
var readOnlyPrefixes = [...]string{"Get", "List", "Show", "Watch", "Next", "Status", "FullStatus", "Find", "Read", "Info"}
