package jimmctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// DefaultTimeout bounds each request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

const (
	// maxResponseBytes bounds a successful response body.
	maxResponseBytes = 64 << 20
	// maxErrorBytes bounds how much of an error body is read.
	maxErrorBytes = 64 << 10
	// maxSnippet is how much of a non-JSON error body goes into an error.
	maxSnippet = 200
)

// errNoBroker is returned when no broker URL is known.
var errNoBroker = errors.New("no broker configured: run `jimmctl login --url https://...` or set JIMM_URL")

// Config says which broker a Client talks to and how it authenticates.
type Config struct {
	// URL is the broker's base URL, https://host:port (a path prefix is
	// kept). It must use https and must not hold credentials.
	URL string
	// CACertPEM, if set, is the only CA trusted for the broker's
	// certificate (instead of the system roots). It must be empty when
	// HTTPClient is set.
	CACertPEM []byte
	// Token is a session token from Login, sent as a bearer token. It
	// wins over User and Password.
	Token string
	// User and Password are sent with HTTP basic auth when Token is empty.
	User, Password string
	// HTTPClient, if set, is used as is (its TLS settings included).
	HTTPClient *http.Client
	// Timeout bounds each request; zero means DefaultTimeout, negative
	// means no bound other than the caller's context.
	Timeout time.Duration
}

// Client is a client of the broker's admin REST API. It is safe for
// concurrent use. Its errors never contain the token or password.
//
// An error response from the broker comes back as an *APIError, which
// unwraps to the *restapi.Error the broker sent.
type Client struct {
	base     string // normalized URL, no trailing slash
	hc       *http.Client
	token    string
	user     string
	password string
	timeout  time.Duration
}

// APIError is a non-2xx answer from the broker.
type APIError struct {
	// Op says what the client was doing, e.g. `add controller "ctl-a"`.
	Op string
	// Method and Path are those of the request.
	Method, Path string
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// RequestID is the broker's X-Request-Id for the request, if any.
	RequestID string
	// Err is the broker's error body (or one made from the status when
	// the body was not a restapi.Error).
	Err *restapi.Error
}

func (e *APIError) Error() string {
	s := e.Op + ": " + e.Err.Message
	if e.RequestID != "" && e.StatusCode >= 500 {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// Unwrap returns the broker's *restapi.Error.
func (e *APIError) Unwrap() error { return e.Err }

// ErrorCode returns the restapi error code carried by err ("" if none).
func ErrorCode(err error) string {
	var re *restapi.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// NewClient returns a client of the broker at cfg.URL.
func NewClient(cfg Config) (*Client, error) {
	base, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" && cfg.User != "" && cfg.Password == "" {
		return nil, fmt.Errorf("user %q given without a password", cfg.User)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc, err = newHTTPClient(cfg.CACertPEM)
		if err != nil {
			return nil, err
		}
	} else if len(cfg.CACertPEM) > 0 {
		return nil, errors.New("jimmctl client: CACertPEM and HTTPClient are exclusive: configure the CA in the HTTP client's transport")
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		base:     base,
		hc:       hc,
		token:    cfg.Token,
		user:     cfg.User,
		password: cfg.Password,
		timeout:  timeout,
	}, nil
}

// URL returns the broker's normalized base URL.
func (c *Client) URL() string { return c.base }

// NormalizeURL checks a broker URL and returns it in canonical form:
// https scheme, lower-case host, no trailing slash, no credentials, query
// or fragment.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errNoBroker
	}
	if !strings.Contains(s, "://") {
		return "", fmt.Errorf("invalid broker URL %q: want https://host[:port], e.g. https://%s", s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		// The url.Error would repeat the whole string; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("invalid broker URL: %v", err)
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid broker URL %q: credentials do not belong in the URL; use jimmctl login, JIMM_TOKEN, or JIMM_USER and JIMM_PASSWORD", u.Redacted())
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("invalid broker URL %q: the broker is served over https, want https://host[:port]", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("invalid broker URL %q: no host", s)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("invalid broker URL %q: want https://host[:port] without query or fragment", s)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func newHTTPClient(caPEM []byte) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the CA certificate holds no PEM certificate")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport: tr,
		// The admin API does not redirect; following one could send
		// credentials somewhere unexpected.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Login logs in with a user name and password and returns a session token.
// It sends no other credentials.
func (c *Client) Login(ctx context.Context, user, password string) (restapi.LoginResponse, error) {
	var resp restapi.LoginResponse
	op := fmt.Sprintf("log in to %s as %q", c.base, user)
	err := c.do(ctx, op, http.MethodPost, restapi.PathLogin, nil, false,
		restapi.LoginRequest{User: user, Password: password}, &resp)
	if err == nil && resp.Token == "" {
		err = fmt.Errorf("%s: the broker returned no session token", op)
	}
	return resp, err
}

// WhoAmI says who the broker takes the caller for.
func (c *Client) WhoAmI(ctx context.Context) (restapi.WhoAmI, error) {
	var resp restapi.WhoAmI
	err := c.do(ctx, "whoami", http.MethodGet, restapi.PathWhoAmI, nil, true, nil, &resp)
	return resp, err
}

// ListControllers returns every registered controller.
func (c *Client) ListControllers(ctx context.Context) ([]restapi.Controller, error) {
	var resp []restapi.Controller
	err := c.do(ctx, "list controllers", http.MethodGet, restapi.PathControllers, nil, true, nil, &resp)
	return resp, err
}

// GetController returns the controller with the given name.
func (c *Client) GetController(ctx context.Context, name string) (restapi.Controller, error) {
	var resp restapi.Controller
	if err := checkName("controller", name); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("get controller %q", name), http.MethodGet,
		restapi.PathController+url.PathEscape(name), nil, true, nil, &resp)
	return resp, err
}

// AddController registers a controller and returns it as the broker
// stored it.
func (c *Client) AddController(ctx context.Context, req restapi.AddControllerRequest) (restapi.Controller, error) {
	var resp restapi.Controller
	if err := checkName("controller", req.Name); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("add controller %q", req.Name), http.MethodPost,
		restapi.PathControllers, nil, true, req, &resp)
	return resp, err
}

// RemoveController unregisters a controller. The broker refuses (code
// conflict) while the controller hosts models, unless force is set.
func (c *Client) RemoveController(ctx context.Context, name string, force bool) error {
	if err := checkName("controller", name); err != nil {
		return err
	}
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, fmt.Sprintf("remove controller %q", name), http.MethodDelete,
		restapi.PathController+url.PathEscape(name), q, true, nil, nil)
}

// SetDeprecated deprecates a controller (the broker places no new models
// on it) or undoes that, and returns the controller.
func (c *Client) SetDeprecated(ctx context.Context, name string, deprecated bool) (restapi.Controller, error) {
	var resp restapi.Controller
	if err := checkName("controller", name); err != nil {
		return resp, err
	}
	op := fmt.Sprintf("deprecate controller %q", name)
	if !deprecated {
		op = fmt.Sprintf("undeprecate controller %q", name)
	}
	err := c.do(ctx, op, http.MethodPut,
		restapi.PathController+url.PathEscape(name)+restapi.PathDeprecated, nil, true,
		restapi.SetDeprecatedRequest{Deprecated: deprecated}, &resp)
	return resp, err
}

// ListModels returns every model in the broker's routing table.
func (c *Client) ListModels(ctx context.Context) ([]restapi.Model, error) {
	var resp []restapi.Model
	err := c.do(ctx, "list models", http.MethodGet, restapi.PathModels, nil, true, nil, &resp)
	return resp, err
}

// GetModel returns the model with the given UUID.
func (c *Client) GetModel(ctx context.Context, uuid string) (restapi.Model, error) {
	var resp restapi.Model
	if err := checkName("model UUID", uuid); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("get model %q", uuid), http.MethodGet,
		restapi.PathModel+url.PathEscape(uuid), nil, true, nil, &resp)
	return resp, err
}

// Migrate asks the broker to move model req.ModelUUID to controller
// req.Controller and returns the migration it started (the broker answers
// 202 Accepted: the migration goes on after the call returns; follow it
// with GetMigration). The broker refuses with code "migration running"
// while a migration of the model is already running, and with code
// conflict when a precheck fails, among them a plan that does not fit the
// target's agent wait time unless req.Force is set.
func (c *Client) Migrate(ctx context.Context, req restapi.MigrateRequest) (restapi.Migration, error) {
	var resp restapi.Migration
	if err := checkName("controller", req.Controller); err != nil {
		return resp, err
	}
	if err := checkName("model UUID", req.ModelUUID); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("migrate model %q to controller %q", req.ModelUUID, req.Controller), http.MethodPost,
		restapi.PathMigrations, nil, true, req, &resp)
	return resp, err
}

// PlanMigration estimates how long moving model req.ModelUUID to
// controller req.Controller would keep its agents reconnecting, against
// the target's agent login settings. With req.Apply, the broker first sets
// the advised settings on the target when the plan does not fit.
func (c *Client) PlanMigration(ctx context.Context, req restapi.PlanMigrationRequest) (restapi.MigrationPlan, error) {
	var resp restapi.MigrationPlan
	if err := checkName("controller", req.Controller); err != nil {
		return resp, err
	}
	if err := checkName("model UUID", req.ModelUUID); err != nil {
		return resp, err
	}
	op := fmt.Sprintf("plan migration of model %q to controller %q", req.ModelUUID, req.Controller)
	if req.Apply {
		op = fmt.Sprintf("plan migration of model %q to controller %q and apply the advised settings", req.ModelUUID, req.Controller)
	}
	err := c.do(ctx, op, http.MethodPost, restapi.PathMigrationPlans, nil, true, req, &resp)
	return resp, err
}

// Evacuate asks the broker to empty a controller: it is deprecated, then
// each of its models migrates to another controller. It returns the fleet
// job (with ID 0 and state planned for a dry run, which changes nothing).
func (c *Client) Evacuate(ctx context.Context, req restapi.EvacuateRequest) (restapi.FleetJob, error) {
	var resp restapi.FleetJob
	if err := checkName("controller", req.Controller); err != nil {
		return resp, err
	}
	op := fmt.Sprintf("evacuate controller %q", req.Controller)
	if req.DryRun {
		op = fmt.Sprintf("plan the evacuation of controller %q", req.Controller)
	}
	err := c.do(ctx, op, http.MethodPost, restapi.PathEvacuations, nil, true, req, &resp)
	return resp, err
}

// Rebalance asks the broker to move models until every controller's load
// is near the fleet's mean. It returns the fleet job (with ID 0 and state
// planned for a dry run, which changes nothing).
func (c *Client) Rebalance(ctx context.Context, req restapi.RebalanceRequest) (restapi.FleetJob, error) {
	var resp restapi.FleetJob
	by := req.By
	if by == "" {
		by = restapi.ByModels
	}
	op := fmt.Sprintf("rebalance controllers by %s", by)
	if req.DryRun {
		op = fmt.Sprintf("plan a rebalance of controllers by %s", by)
	}
	err := c.do(ctx, op, http.MethodPost, restapi.PathRebalances, nil, true, req, &resp)
	return resp, err
}

// ListFleetJobs returns the broker's evacuations and rebalances, newest
// first.
func (c *Client) ListFleetJobs(ctx context.Context) ([]restapi.FleetJob, error) {
	var resp []restapi.FleetJob
	err := c.do(ctx, "list fleet jobs", http.MethodGet, restapi.PathFleetJobs, nil, true, nil, &resp)
	return resp, err
}

// GetFleetJob returns one evacuation or rebalance with the state of each
// of its moves.
func (c *Client) GetFleetJob(ctx context.Context, id int64) (restapi.FleetJob, error) {
	var resp restapi.FleetJob
	if id <= 0 {
		return resp, fmt.Errorf("invalid fleet job id %d", id)
	}
	err := c.do(ctx, fmt.Sprintf("get fleet job %d", id), http.MethodGet,
		restapi.PathFleetJob+strconv.FormatInt(id, 10), nil, true, nil, &resp)
	return resp, err
}

// ListMigrations returns the migrations the broker knows, newest first.
func (c *Client) ListMigrations(ctx context.Context) ([]restapi.Migration, error) {
	var resp []restapi.Migration
	err := c.do(ctx, "list migrations", http.MethodGet, restapi.PathMigrations, nil, true, nil, &resp)
	return resp, err
}

// GetMigration returns a migration by its ID, or the latest migration of
// a model by the model's UUID.
func (c *Client) GetMigration(ctx context.Context, idOrModelUUID string) (restapi.Migration, error) {
	var resp restapi.Migration
	if err := checkName("migration ID or model UUID", idOrModelUUID); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("get migration %q", idOrModelUUID), http.MethodGet,
		restapi.PathMigration+url.PathEscape(idOrModelUUID), nil, true, nil, &resp)
	return resp, err
}

// UpdateMigratedModel tells the broker that a model now lives on
// controller, moved there outside the broker, and returns the model as the
// broker now routes it.
func (c *Client) UpdateMigratedModel(ctx context.Context, controller, modelUUID string) (restapi.Model, error) {
	var resp restapi.Model
	if err := checkName("controller", controller); err != nil {
		return resp, err
	}
	if err := checkName("model UUID", modelUUID); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("update model %q as migrated to controller %q", modelUUID, controller), http.MethodPut,
		restapi.PathModel+url.PathEscape(modelUUID)+restapi.PathMigrated, nil, true,
		restapi.UpdateMigratedRequest{Controller: controller}, &resp)
	return resp, err
}

func checkName(what, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("empty %s", what)
	}
	return nil
}

// do sends one request: in (if not nil) as JSON, out (if not nil) decoded
// from a 2xx JSON answer. op names the operation in errors.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, auth bool, in, out any) error {
	reqCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(reqCtx, method, target, body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", restapi.ContentTypeJSON)
	req.Header.Set("User-Agent", "jimmctl")
	if in != nil {
		req.Header.Set("Content-Type", restapi.ContentTypeJSON)
	}
	if auth {
		switch {
		case c.token != "":
			req.Header.Set("Authorization", restapi.BearerAuthScheme+" "+c.token)
		case c.user != "":
			req.SetBasicAuth(c.user, c.password)
		}
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, reqCtx, op, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(op, method, path, resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return c.transportError(ctx, reqCtx, op, err)
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("%s: the broker's answer is larger than %d bytes", op, maxResponseBytes)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		if reqCtx.Err() != nil {
			// Cut short by the deadline or the caller.
			return c.transportError(ctx, reqCtx, op, err)
		}
		return fmt.Errorf("%s: cannot decode the broker's answer (HTTP %d, %s) to %s %s: %w",
			op, resp.StatusCode, contentType(resp), method, path, err)
	}
	return nil
}

// transportError explains a request that got no HTTP answer.
func (c *Client) transportError(parent, reqCtx context.Context, op string, err error) error {
	// The *url.Error repeats method and URL; say it our way instead.
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s: request to broker at %s interrupted: %w", op, c.base, parent.Err())
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from broker at %s within %s: %w", op, c.base, c.timeout, context.DeadlineExceeded)
	case errors.As(cause, &certErr), errors.As(cause, &unknownCA), errors.As(cause, &hostErr), errors.As(cause, &invalidErr):
		return fmt.Errorf("%s: cannot verify the TLS certificate of broker at %s: %w "+
			"(if the broker's certificate comes from a private CA, pass --ca-cert FILE or set JIMM_CA_CERT, "+
			"or run `jimmctl login --url %s --ca-cert FILE`)", op, c.base, cause, c.base)
	default:
		return fmt.Errorf("%s: cannot reach broker at %s: %w (check JIMM_URL, or run `jimmctl login --url https://...`)",
			op, c.base, cause)
	}
}

// responseError turns a non-2xx answer into an *APIError.
func responseError(op, method, path string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := &APIError{
		Op:         op,
		Method:     method,
		Path:       path,
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get(restapi.HeaderRequestID),
	}
	var body restapi.Error
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		e.Err = &body
		return e
	}
	// Not a restapi.Error: a proxy, a wrong URL, a crash. Say what came
	// back so that the operator can tell.
	code := body.Code
	if code == "" {
		code = codeForStatus(resp.StatusCode)
	}
	msg := fmt.Sprintf("broker answered HTTP %s to %s %s", statusText(resp), method, path)
	if s := snippet(raw); s != "" {
		msg += ": " + s
	}
	e.Err = &restapi.Error{Message: msg, Code: code}
	return e
}

func statusText(resp *http.Response) string {
	if resp.Status != "" {
		return resp.Status
	}
	return strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
}

func contentType(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return "no content type"
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return ct
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return restapi.CodeBadRequest
	case http.StatusUnauthorized:
		return restapi.CodeUnauthorized
	case http.StatusForbidden:
		return restapi.CodeForbidden
	case http.StatusNotFound:
		return restapi.CodeNotFound
	case http.StatusConflict:
		return restapi.CodeConflict
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return restapi.CodeUnavailable
	case http.StatusTooManyRequests:
		return restapi.CodeTooManyRequests
	case http.StatusRequestEntityTooLarge:
		return restapi.CodeTooLarge
	case http.StatusMethodNotAllowed:
		return restapi.CodeMethodNotAllowed
	}
	return ""
}

// snippet returns the start of a body as one printable line.
func snippet(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
