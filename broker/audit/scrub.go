package audit

import (
	"regexp"
	"time"

	"github.com/jimmbroker/jimm/db"
)

// auditRow is the database row of ev, scrubbed.
func auditRow(ev Event) db.AuditEvent {
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
