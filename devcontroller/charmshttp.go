package devcontroller

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The model's charms HTTP endpoints, as Juju 3.5 serves them:
//
//	POST /model/<uuid>/charms?series=S&schema=local&revision=N[&name=X&arch=A]
//	    the archive (Content-Type: application/zip) → {"charm-url": URL}
//	    and the header Juju-Curl: URL (Juju's "legacy" upload, which the
//	    3.5 client falls back to)
//	PUT /model-<uuid>/charms/<name>-<first 7 hex of the archive's sha256>
//	    with the header Juju-Curl: the URL asked for, the archive as the
//	    body → the same answer (the "S3" upload the 3.5 client tries first)
//	GET /model/<uuid>/charms?url=URL[&file=F|&icon=1]
//	    no file: the charm's files {"files": [...]}; file=*: the archive;
//	    else the file's content
//	GET /model-<uuid>/charms/<name>-<sha7>: the archive
//
// Credentials come in HTTP basic auth, a user's tag and password (or, for
// GET, an agent's of the model). A failed authentication is a 401 with a
// text body "authentication failed: …", a refused one a 403 with
// "authorization failed: …", as Juju's HTTP handlers answer; other errors
// are a JSON params.CharmsResponse {"error","error-code"} whose message
// starts "cannot upload charm: " or "cannot retrieve charm: ", with the
// HTTP status Juju gives the code (400 bad request, 404 not found...).
// An upload needs write access to the model (Juju 3.5 lets any user of
// the controller upload and checks access when the charm is deployed);
// archives larger than the controller's max-charm-size are refused.

// charmsRequest is one request to the charms endpoints.
type charmsRequest struct {
	c      *Controller
	w      http.ResponseWriter
	r      *http.Request
	model  string
	object string // the S3 form's <name>-<sha7>, "" for the legacy form
}

// serveModelCharms serves /model/<uuid>/charms.
func (c *Controller) serveModelCharms(w http.ResponseWriter, r *http.Request) {
	(&charmsRequest{c: c, w: w, r: r, model: r.PathValue("uuid")}).serve()
}

// serveCharmObjects serves /model-<uuid>/charms/<object>; other paths
// under / are not found.
func (c *Controller) serveCharmObjects(w http.ResponseWriter, r *http.Request) {
	bucket, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	uuid, isModel := strings.CutPrefix(bucket, "model-")
	object, isCharms := strings.CutPrefix(rest, "charms/")
	if !isModel || !isCharms || object == "" || strings.Contains(object, "/") {
		http.NotFound(w, r)
		return
	}
	(&charmsRequest{c: c, w: w, r: r, model: uuid, object: object}).serve()
}

func (q *charmsRequest) serve() {
	q.c.log.Debug("charms request", "method", q.r.Method, "path", q.r.URL.Path, "query", q.r.URL.RawQuery,
		"content-type", q.r.Header.Get("Content-Type"), "juju-curl", q.r.Header.Get("Juju-Curl"), "remote", q.r.RemoteAddr)
	switch {
	case q.r.Method == http.MethodGet:
		q.serveGet()
	case q.r.Method == http.MethodPost && q.object == "", q.r.Method == http.MethodPut && q.object != "":
		q.serveUpload()
	default:
		http.Error(q.w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	}
}

// fail answers an error as Juju's charms handler does: a CharmsResponse
// whose message is prefixed with what was being done.
func (q *charmsRequest) fail(doing string, err error) {
	e := jujuapi.AsError(err)
	status := jujuapi.HTTPStatus(e.Code)
	if status == http.StatusInternalServerError {
		q.c.log.Warn("charms endpoint error", "model", q.model, "method", q.r.Method, "err", err)
	}
	q.reply(status, nil, params.CharmsResponse{Error: doing + ": " + e.Message, ErrorCode: e.Code, ErrorInfo: e.Info})
}

func (q *charmsRequest) reply(status int, headers map[string]string, body any) {
	raw, err := json.Marshal(body)
	if err != nil {
		http.Error(q.w, "cannot encode response", http.StatusInternalServerError)
		return
	}
	for k, v := range headers {
		q.w.Header().Set(k, v)
	}
	if status == http.StatusUnauthorized {
		q.w.Header().Set("WWW-Authenticate", `Basic realm="juju"`)
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	q.w.WriteHeader(status)
	q.w.Write(raw)
}

// authenticate checks the request's credentials; on failure it has
// answered. users says whether only users may make the request.
func (q *charmsRequest) authenticate(usersOnly bool) (*httpCaller, bool) {
	who, err := q.c.httpAuthenticate(q.r, q.model)
	if err != nil {
		q.c.log.Info("charms request refused", "model", q.model, "remote", q.r.RemoteAddr, "err", err)
		q.w.Header().Set("WWW-Authenticate", `Basic realm="juju"`)
		http.Error(q.w, err.Error(), http.StatusUnauthorized)
		return nil, false
	}
	if usersOnly && who.user == "" {
		kind, _, _ := strings.Cut(who.agent, "-")
		http.Error(q.w, fmt.Sprintf("authorization failed: tag kind %s not valid", kind), http.StatusForbidden)
		return nil, false
	}
	return who, true
}

func (q *charmsRequest) serveUpload() {
	const doing = "cannot upload charm"
	who, ok := q.authenticate(true)
	if !ok {
		return
	}
	if err := who.canWrite(q.model); err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeModelNotFound {
			q.fail(doing, err)
			return
		}
		q.c.log.Info("charm upload refused", "model", q.model, "user", who.user, "err", err)
		http.Error(q.w, err.Error(), http.StatusForbidden)
		return
	}
	if ct := q.r.Header.Get("Content-Type"); ct != "application/zip" {
		q.fail(doing, jujuapi.Errorf(jujuapi.CodeBadRequest, "expected Content-Type: application/zip, got: %v", ct))
		return
	}
	up, err := q.readUpload()
	if err != nil {
		q.fail(doing, err)
		return
	}
	url, err := q.c.addLocalCharm(q.r.Context(), q.model, *up)
	if err != nil {
		q.fail(doing, err)
		return
	}
	q.c.log.Info("charm uploaded", "model", q.model, "url", url, "user", who.user, "bytes", len(up.data))
	q.reply(http.StatusOK, map[string]string{"Juju-Curl": url}, params.CharmsResponse{CharmURL: url})
}

// readUpload reads and checks the request's archive and the URL it is to
// be stored under.
func (q *charmsRequest) readUpload() (*charmUpload, error) {
	limit := q.c.cfg.MaxCharmSize
	if q.r.ContentLength > limit {
		return nil, charmTooLarge(q.r.ContentLength, limit)
	}
	var up charmUpload
	query := q.r.URL.Query()
	if q.object == "" {
		schema := query.Get("schema")
		if schema == "" {
			schema = charm.SchemaLocal
		}
		if schema != charm.SchemaLocal {
			return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "charms may only be uploaded during model migration import")
		}
		up.url = charm.URL{Schema: schema, Architecture: query.Get("arch"), Series: query.Get("series"), Name: query.Get("name"), Revision: -1}
		if s := query.Get("revision"); s != "" {
			rev, err := strconv.Atoi(s)
			if err != nil {
				return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "revision: %v", err)
			}
			up.url.Revision = rev
		}
	} else {
		i := strings.LastIndexByte(q.object, '-')
		if i < 0 {
			return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "%q is not a valid charm object path", q.object)
		}
		curl := q.r.Header.Get("Juju-Curl")
		u, err := charm.ParseURL(curl)
		if err != nil {
			return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "%q is not a valid charm url", curl)
		}
		if u.Schema != charm.SchemaLocal {
			return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "non-local charms may only be uploaded during model migration import")
		}
		u.Name = q.object[:i]
		up.url = *u
	}
	data, err := io.ReadAll(io.LimitReader(q.r.Body, limit+1))
	if err != nil {
		return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "cannot read charm archive: %v", err)
	}
	if int64(len(data)) > limit {
		return nil, charmTooLarge(-1, limit)
	}
	if q.object != "" {
		sum := sha256.Sum256(data)
		got, want := hex.EncodeToString(sum[:])[:7], q.object[strings.LastIndexByte(q.object, '-')+1:]
		if got != want {
			return nil, jujuapi.Errorf(jujuapi.CodeBadRequest, "Uploaded charm sha256 (%v) does not match sha in url (%v)", got, want)
		}
	}
	up.data = data
	return &up, nil
}

func charmTooLarge(size, limit int64) error {
	if size >= 0 {
		return jujuapi.Errorf(jujuapi.CodeBadRequest, "charm archive of %d bytes is larger than this controller's limit of %d bytes", size, limit)
	}
	return jujuapi.Errorf(jujuapi.CodeBadRequest, "charm archive is larger than this controller's limit of %d bytes", limit)
}

func (q *charmsRequest) serveGet() {
	const doing = "cannot retrieve charm"
	who, ok := q.authenticate(false)
	if !ok {
		return
	}
	if err := who.canRead(q.model); err != nil {
		if jujuapi.ErrorCode(err) == jujuapi.CodeModelNotFound {
			q.fail(doing, err)
			return
		}
		http.Error(q.w, err.Error(), http.StatusForbidden)
		return
	}
	m, err := q.c.model(q.model)
	if err != nil {
		q.fail(doing, jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", q.model))
		return
	}
	query := q.r.URL.Query()
	var ch *store.Charm
	file := "*"
	if q.object != "" {
		i := strings.LastIndexByte(q.object, '-')
		if i < 0 {
			q.fail(doing, jujuapi.Errorf(jujuapi.CodeBadRequest, "%q is not a valid charm object path", q.object))
			return
		}
		sha := q.object[i+1:]
		for _, c := range m.Charms {
			if sha != "" && strings.HasPrefix(c.SHA256, sha) {
				ch = c
			}
		}
		if ch == nil {
			q.fail(doing, jujuapi.NotFoundf("cannot get charm from state: charm with sha256 %q", sha))
			return
		}
	} else {
		curl := query.Get("url")
		if curl == "" {
			q.fail(doing, jujuapi.Errorf(jujuapi.CodeBadRequest, "expected url=CharmURL query argument"))
			return
		}
		if ch = m.Charms[curl]; ch == nil {
			q.fail(doing, fmt.Errorf("cannot get charm from state: %w", jujuapi.NotFoundf("charm %q", curl)))
			return
		}
		file = query.Get("file")
		if file != "" {
			file = path.Clean(file)
		} else if query.Get("icon") == "1" {
			file = "icon.svg"
		}
	}
	data, err := q.c.readCharmArchive(ch.SHA256)
	if err != nil {
		q.fail(doing, fmt.Errorf("cannot read charm %q from storage: %w", ch.URL, err))
		return
	}
	switch file {
	case "*":
		q.w.Header().Set("Content-Type", "application/zip")
		q.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		q.w.WriteHeader(http.StatusOK)
		q.w.Write(data)
		return
	}
	a, err := charm.OpenArchive(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		q.fail(doing, fmt.Errorf("unable to read archive of %q: %w", ch.URL, err))
		return
	}
	if file == "" {
		q.reply(http.StatusOK, nil, params.CharmsResponse{Files: a.Files()})
		return
	}
	content, found, err := a.ReadFile(file, q.c.cfg.MaxCharmSize)
	switch {
	case err != nil:
		q.fail(doing, err)
		return
	case !found && query.Get("icon") == "1":
		content = []byte(defaultCharmIcon)
	case !found:
		if isDir(a, file) {
			q.fail(doing, jujuapi.Errorf(jujuapi.CodeForbidden, "directory listing not allowed"))
			return
		}
		q.fail(doing, jujuapi.NotFoundf("charm file"))
		return
	}
	if ct := mime.TypeByExtension(filepath.Ext(file)); ct != "" {
		q.w.Header().Set("Content-Type", ct)
	}
	q.w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(content)
}

// isDir reports whether name is a directory of the charm.
func isDir(a *charm.Archive, name string) bool {
	for _, f := range a.Files() {
		if strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

// defaultCharmIcon is what a charm without an icon.svg shows.
const defaultCharmIcon = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle cx="50" cy="50" r="45" fill="#e95420"/></svg>`

// canWrite checks that the caller (a user) has write access to a model
// that is here.
func (h *httpCaller) canWrite(uuid string) error {
	m, err := h.c.model(uuid)
	if err != nil {
		return jujuapi.Errorf(jujuapi.CodeModelNotFound, "unknown model: %q", uuid)
	}
	s := &session{ctl: h.c, user: h.user, loggedIn: true}
	if accessLevel(s.modelAccess(m)) < accessLevel(store.AccessWrite) {
		return fmt.Errorf("authorization failed: %w", jujuapi.ErrPerm)
	}
	return nil
}
