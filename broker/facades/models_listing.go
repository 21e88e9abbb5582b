package facades

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The model listings (ListModels, ListModelSummaries) of a broker with
// many models: one query streams the rows the caller may see, and each
// row is encoded into the response as it is read, with no model,
// summary or map kept per row. The bytes are those json.Marshal writes
// for params.UserModelList and params.ModelSummaryResults.

// roomFor makes room in b for one more model, doubling its capacity when
// it runs short: a listing of 100,000 summaries (60 MB) is copied about
// once as it grows, where append's smaller steps for large slices would
// copy it several times over.
func roomFor(b []byte) []byte {
	const most = 4 << 10 // more than any one model takes, bar giant names
	if cap(b)-len(b) < most {
		b = slices.Grow(b, cap(b))
	}
	return b
}

// appendUserModel appends m as a params.UserModel (whatever the access).
func appendUserModel(b []byte, m *db.ListedModel, _ string) ([]byte, error) {
	b = append(b, `{"model":{"name":`...)
	b = appendJSONString(b, m.Name)
	b = append(b, `,"uuid":`...)
	b = appendJSONString(b, m.UUID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, m.Type)
	b = append(b, `,"owner-tag":`...)
	b = appendTag(b, "user-", m.Owner)
	return append(b, `},"last-connection":null}`...), nil
}

// appendSummaryResult appends m, to which the caller has access, as a
// params.ModelSummaryResult as the broker shows it: the broker is the
// controller. It fails only on a time json.Marshal cannot write.
func (a *API) appendSummaryResult(b []byte, m *db.ListedModel, access string) ([]byte, error) {
	b = append(b, `{"result":{"name":`...)
	b = appendJSONString(b, m.Name)
	b = append(b, `,"uuid":`...)
	b = appendJSONString(b, m.UUID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, m.Type)
	b = append(b, `,"controller-uuid":`...)
	b = appendJSONString(b, a.brokerUUID)
	b = append(b, `,"is-controller":false`...)
	if m.CloudType != "" {
		b = append(b, `,"provider-type":`...)
		b = appendJSONString(b, m.CloudType)
	}
	b = append(b, `,"cloud-tag":`...)
	b = appendTag(b, "cloud-", m.Cloud)
	if m.Region != "" {
		b = append(b, `,"cloud-region":`...)
		b = appendJSONString(b, m.Region)
	}
	b = append(b, `,"owner-tag":`...)
	b = appendTag(b, "user-", m.Owner)
	b = append(b, `,"life":`...)
	b = appendJSONString(b, m.Life)
	status := "available"
	if m.Life != db.LifeAlive {
		status = "destroying"
	}
	b = append(b, `,"status":{"status":"`...)
	b = append(b, status...)
	b = append(b, `","info":"","since":`...)
	b, err := appendTime(b, m.UpdatedAt)
	if err != nil {
		return b, fmt.Errorf("encode the summary of model %s: %w", m.UUID, err)
	}
	b = append(b, `},"user-access":`...)
	b = appendJSONString(b, access)
	b = append(b, `,"last-connection":null,"counts":[{"entity":"`...)
	b = append(b, params.Machines...)
	b = append(b, `","count":`...)
	b = strconv.AppendInt(b, m.MachineCount, 10)
	b = append(b, `},{"entity":"`...)
	b = append(b, params.Cores...)
	b = append(b, `","count":`...)
	b = strconv.AppendInt(b, m.CoreCount, 10)
	b = append(b, `},{"entity":"`...)
	b = append(b, params.Units...)
	b = append(b, `","count":`...)
	b = strconv.AppendInt(b, m.UnitCount, 10)
	b = append(b, `}],"sla":{"level":"unsupported","owner":`...)
	b = appendJSONString(b, m.Owner)
	b = append(b, `},"agent-version":`...)
	b = appendJSONString(b, m.AgentVersion)
	return append(b, `}}`...), nil
}

// appendTag appends the tag prefix+id as a JSON string.
func appendTag(b []byte, prefix, id string) []byte {
	if !plainJSON(id) {
		return appendJSONString(b, prefix+id)
	}
	b = append(b, '"')
	b = append(b, prefix...)
	b = append(b, id...)
	return append(b, '"')
}

// appendJSONString appends s as json.Marshal writes it: quoted, as it is
// when it holds nothing to escape, else escaped by json.Marshal itself.
func appendJSONString(b []byte, s string) []byte {
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// plainJSON says whether s is printable ASCII that json.Marshal writes
// unescaped (it escapes quotes, backslashes, control characters and, for
// HTML, <, > and &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendTime appends t as json.Marshal writes a *time.Time, or fails as
// it does for a year outside RFC 3339's range.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"'))
	return append(b, '"'), err
}
