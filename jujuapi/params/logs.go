package params

import "time"

// LogMessage is one record of a model's log as the debug-log endpoint
// (/model/<uuid>/log) sends it, one per WebSocket frame after the initial
// ErrorResult frame.
type LogMessage struct {
	// Entity is the tag of the agent that logged it, e.g. "machine-0".
	Entity string `json:"tag"`
	// Timestamp is when it was logged.
	Timestamp time.Time `json:"ts"`
	// Severity is TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL.
	Severity string `json:"sev"`
	// Module is the logger's module, e.g. "juju.worker.migrationmaster".
	Module string `json:"mod"`
	// Location is the source file and line, e.g. "worker.go:42".
	Location string `json:"loc"`
	// Message is the text.
	Message string `json:"msg"`
	// Labels holds the record's labels; Juju always sends the key.
	Labels []string `json:"lab"`
}

// LogRecord is one record an agent sends to the logsink endpoint; the
// keys are single letters to keep the stream small.
type LogRecord struct {
	// Time is when it was logged.
	Time time.Time `json:"t"`
	// Module is the logger's module.
	Module string `json:"m"`
	// Location is the source file and line.
	Location string `json:"l"`
	// Level is the severity, e.g. "INFO".
	Level string `json:"v"`
	// Message is the text.
	Message string `json:"x"`
	// Entity is the tag of the agent, if not the connection's own.
	Entity string `json:"e,omitempty"`
	// Labels holds the record's labels.
	Labels []string `json:"c,omitempty"`
}
