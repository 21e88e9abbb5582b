package audit

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/db"
)

// The bounds of an audit row's values, in bytes, the truncation mark
// included. The indexed columns (identity, model, method) must stay well
// under PostgreSQL's limit of an index row (about 2.7 kB): a value past it
// makes the whole INSERT fail. Whoever calls can choose what goes in a
// field (a failed login's user name), so every field is bounded.
const (
	auditFieldMax = 255  // identity, remote, model, facade, method, result
	auditErrorMax = 2048 // error
	// auditScanMax bounds what the secret patterns are run over.
	auditScanMax = 64 << 10
)

// truncMark ends a value that was cut to its bound.
const truncMark = "…[truncated]"

// auditRow is the database row of ev: every value valid UTF-8 without NUL
// (which PostgreSQL refuses), bounded, and the error scrubbed.
func auditRow(ev Event) db.AuditEvent {
	return db.AuditEvent{
		Time:           ev.Time.UTC().Round(time.Microsecond),
		Identity:       bound(ev.Identity, auditFieldMax),
		Remote:         bound(ev.Remote, auditFieldMax),
		Model:          bound(ev.Model, auditFieldMax),
		Facade:         bound(ev.Facade, auditFieldMax),
		Method:         bound(ev.Method, auditFieldMax),
		Result:         bound(ev.Result, auditFieldMax),
		Error:          scrub(ev.Error),
		DurationMicros: ev.Duration.Microseconds(),
	}
}

// bound makes s valid UTF-8 without NUL bytes and at most limit bytes long:
// a longer value is cut on a character boundary and ends with truncMark.
func bound(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= limit {
		return s
	}
	cut := limit - len(truncMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncMark
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

// scrub redacts what looks like a secret in an error message and bounds
// it to auditErrorMax bytes. Events carry no call parameters at all; this
// is a second line for messages that echo what a caller sent. Secrets are
// redacted before the cut, so that none is cut in half past recognition.
func scrub(msg string) string {
	if msg == "" {
		return ""
	}
	msg = bound(msg, auditScanMax)
	for _, re := range secretPatterns {
		if re.NumSubexp() > 0 {
			msg = re.ReplaceAllString(msg, "${1}[redacted]")
		} else {
			msg = re.ReplaceAllString(msg, "[redacted]")
		}
	}
	return bound(msg, auditErrorMax)
}
