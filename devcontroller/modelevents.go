package devcontroller

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/modellog"
)

// Model log levels, as Juju (loggo) names them.
const (
	logTrace    = "TRACE"
	logDebug    = "DEBUG"
	logInfo     = "INFO"
	logWarning  = "WARNING"
	logError    = "ERROR"
	logCritical = "CRITICAL"
)

// controllerAgent is the entity the controller's own workers log as in a
// model's log: the controller machine's agent, as in Juju.
const controllerAgent = "machine-0"

// migrationLabel labels a migration's records, as Juju's migrationmaster
// does.
const migrationLabel = "migration"

// modelEvent adds a line from the controller's workers to a model's log.
func (c *Controller) modelEvent(uuid, level, module, format string, args ...any) {
	c.appendLog(uuid, modellog.Record{
		Entity: controllerAgent, Module: module, Location: caller(2), Level: level,
		Message: fmt.Sprintf(format, args...),
	})
}

// entityLog adds a line from one of a model's agents (entity is its tag)
// to the model's log.
func (c *Controller) entityLog(uuid, entity, level, module, format string, args ...any) {
	c.appendLog(uuid, modellog.Record{
		Entity: entity, Module: module, Location: caller(2), Level: level,
		Message: fmt.Sprintf(format, args...),
	})
}

// appendLog adds records to a model's log. A log that cannot be written
// fails nothing but is reported in the controller's own log.
func (c *Controller) appendLog(uuid string, recs ...modellog.Record) {
	now := time.Now().UTC()
	for i := range recs {
		if recs[i].Time.IsZero() {
			recs[i].Time = now
		}
	}
	if err := c.logs.Append(uuid, recs...); err != nil && !errors.Is(err, modellog.ErrRemoved) {
		c.log.Warn("cannot write model log", "uuid", uuid, "err", err)
	}
}

// caller is the file:line of the code skip frames up, as Juju records a
// log line's location.
func caller(skip int) string {
	_, file, line, ok := runtime.Caller(skip)
	if !ok {
		return ""
	}
	return filepath.Base(file) + ":" + strconv.Itoa(line)
}
