package audit

import (
	"bytes"
	"net"
	"strings"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ChangesState reports whether a call of facade.method may change state,
// and so is audited. It knows the read-only calls by name; anything else,
// unknown calls included, is taken to change state. It does not allocate:
// it runs for every relayed response.
func ChangesState(facade, method string) bool {
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

// Result is an audit event's result for a call's error, and its message:
// ok, its error code, or "error" for an error without one.
func Result(err error) (result, msg string) {
	if err == nil {
		return "ok", ""
	}
	if code := jujuapi.ErrorCode(err); code != "" {
		return code, err.Error()
	}
	return "error", err.Error()
}

// BulkResult is the result of a bulk call: the first failed operation's,
// when one failed, else result and msg.
func BulkResult(r params.ErrorResults, result, msg string) (string, string) {
	for _, one := range r.Results {
		if one.Error != nil {
			if one.Error.Code != "" {
				return one.Error.Code, one.Error.Message
			}
			return "error", one.Error.Message
		}
	}
	return result, msg
}

// ModelNamed returns the UUID of the first model tag in a call's
// parameters, or "". Only the tag is read, never anything else.
func ModelNamed(raw []byte) string {
	prefix := []byte(`"model-`)
	for {
		i := bytes.Index(raw, prefix)
		if i < 0 {
			return ""
		}
		raw = raw[i+len(prefix):]
		if end := bytes.IndexByte(raw, '"'); end == 36 && isUUID(raw[:end]) {
			return string(raw[:end])
		}
	}
}

// isUUID reports whether b looks like a UUID: 36 hex digits and dashes.
func isUUID(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return len(b) == 36
}

// Source is the address part of a remote "host:port": where a call came
// from, as events (and the login throttle) name it.
func Source(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
