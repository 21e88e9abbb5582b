package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// Timeouts applied when the caller's context has no deadline, so that no
// login or call waits forever on a controller that stopped answering.
const (
	DefaultLoginTimeout = 30 * time.Second
	DefaultCallTimeout  = time.Minute
)

// Credentials log a client in to a controller: a password, or a token (a
// base64 JWT the broker signed) for User.
type Credentials struct {
	// User is the user name, without "user-" ("admin", "bob@external").
	User string
	// Password is the user's password; ignored when Token is set.
	Password string
	// Token is a base64-encoded JWT, an alternative to Password.
	Token string
}

// String shows the user only: credentials never reach a log.
func (c Credentials) String() string {
	switch {
	case c.Token != "":
		return fmt.Sprintf("user %q (token)", c.User)
	case c.Password != "":
		return fmt.Sprintf("user %q (password)", c.User)
	default:
		return fmt.Sprintf("user %q", c.User)
	}
}

// GoString is String, so that %#v does not print the secret either.
func (c Credentials) GoString() string { return c.String() }

// LogValue is what slog records for Credentials.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.User) }

// ErrWrongController is wrapped by the error returned when the controller
// at an endpoint's address reports a UUID other than the endpoint's.
var ErrWrongController = errors.New("controller UUID mismatch")

// wrongControllerError is a UUID mismatch, worded for where it was found.
type wrongControllerError struct{ msg string }

func (e *wrongControllerError) Error() string        { return e.msg }
func (e *wrongControllerError) Is(target error) bool { return target == ErrWrongController }

func wrongController(format string, args ...any) error {
	return &wrongControllerError{msg: fmt.Sprintf(format, args...)}
}

// ConnectError is a failure to connect to a controller or to log in to it:
// whatever the cause, the controller (or what the broker knows of it) is at
// fault, not the request being served. It wraps a *DialError, the login's
// *jujuapi.Error, or ErrWrongController.
type ConnectError struct {
	Controller string
	Err        error
}

func (e *ConnectError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// clientFacades are the facade versions this client speaks; the highest
// one the controller also offers is used.
var clientFacades = map[string][]int{
	"Pinger":       {1},
	"Cloud":        {7},
	"Controller":   {11},
	"ModelManager": {9, 10},
	"Client":       {6, 7, 8}, // on a model connection (ConnectModel)
	"ModelConfig":  {3},       // on a model connection
}

// Client is a logged-in controller-level (/api) connection with the typed
// calls the broker makes. It is safe for concurrent use. Calls fail once the
// connection has died (see Done); a Client is never re-dialled, get a new
// one (or use a Pool).
//
// Every call is bounded by its context, or by DefaultCallTimeout when the
// context has no deadline. Errors name the controller and the call and
// wrap the controller's *jujuapi.Error, so jujuapi.ErrorCode gives the Juju
// error code.
type Client struct {
	ep       Endpoint
	addr     string
	user     string
	rpc      *jujuapi.Client
	login    params.LoginResult
	versions map[string]int
	model    string // the model's UUID on a model connection (ConnectModel)
}

// Connect dials the controller's /api endpoint and logs in with creds
// (Admin(3).Login; a token when creds.Token is set, else the password).
// When e.UUID is set, a controller reporting another UUID is refused with
// an error wrapping ErrWrongController. Every failure is a *ConnectError.
func Connect(ctx context.Context, e Endpoint, creds Credentials, opts jujuapi.ConnOptions) (*Client, error) {
	return connectAt(ctx, e, "/api", creds, opts)
}

// connectAt is Connect to the endpoint at path ("/api" or a model's
// "/model/<uuid>/api").
func connectAt(ctx context.Context, e Endpoint, path string, creds Credentials, opts jujuapi.ConnOptions) (*Client, error) {
	c, err := connect(ctx, e, path, creds, opts)
	if err != nil {
		return nil, &ConnectError{Controller: e.Name, Err: err}
	}
	if e.UUID != "" {
		if got := c.UUID(); got != e.UUID {
			c.Close()
			return nil, &ConnectError{Controller: e.Name, Err: wrongController(
				"controller %q at %s reports UUID %s, but it is registered with UUID %s (has the address been reused?)",
				e.Name, c.addr, got, e.UUID)}
		}
	}
	return c, nil
}

func connect(ctx context.Context, e Endpoint, path string, creds Credentials, opts jujuapi.ConnOptions) (*Client, error) {
	if creds.User == "" {
		return nil, fmt.Errorf("connect to controller %q: no user name", e.Name)
	}
	conn, addr, err := e.dial(ctx, path, nil, opts)
	if err != nil {
		return nil, err
	}
	rpc := jujuapi.NewClient(conn)
	req := params.LoginRequest{AuthTag: jujuapi.UserTag(creds.User).String()}
	if creds.Token != "" {
		req.Token = creds.Token
	} else {
		req.Credentials = creds.Password
	}
	lctx, cancel := withDefaultTimeout(ctx, DefaultLoginTimeout)
	defer cancel()
	var res params.LoginResult
	if err := rpc.Call(lctx, "Admin", 3, "Login", req, &res); err != nil {
		rpc.Close()
		return nil, fmt.Errorf("log in to controller %q at %s as %q: %w", e.Name, addr, creds.User, err)
	}
	if len(res.DischargeRequired) > 0 || len(res.BakeryDischargeRequired) > 0 {
		rpc.Close()
		return nil, fmt.Errorf("log in to controller %q at %s as %q: the controller asks for a macaroon discharge (%s), which the broker does not do",
			e.Name, addr, creds.User, res.DischargeRequiredReason)
	}
	if _, err := jujuapi.ParseControllerTag(res.ControllerTag); err != nil {
		rpc.Close()
		return nil, fmt.Errorf("log in to controller %q at %s: login result: %w", e.Name, addr, err)
	}
	c := &Client{ep: e, addr: addr, user: creds.User, rpc: rpc, login: res, versions: map[string]int{}}
	offered := map[string][]int{}
	for _, f := range res.Facades {
		offered[f.Name] = f.Versions
	}
	for name, ours := range clientFacades {
		theirs, listed := offered[name]
		v := 0
		for _, o := range ours {
			if !listed || slices.Contains(theirs, o) {
				v = max(v, o)
			}
		}
		c.versions[name] = v // 0: the controller offers none we speak
	}
	return c, nil
}

// withDefaultTimeout bounds ctx by d unless it already has a deadline.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Endpoint is the endpoint the client was connected with.
func (c *Client) Endpoint() Endpoint { return c.ep }

// Addr is the address (host:port) the client is connected to.
func (c *Client) Addr() string { return c.addr }

// User is the name of the user the client is logged in as.
func (c *Client) User() string { return c.user }

// LoginResult is what the controller answered to the login.
func (c *Client) LoginResult() params.LoginResult { return c.login }

// UUID is the controller's UUID, from the login result.
func (c *Client) UUID() string {
	t, _ := jujuapi.ParseControllerTag(c.login.ControllerTag) // checked in connect
	return t.ID
}

// Done is closed when the connection has ended, closed by Close or lost.
func (c *Client) Done() <-chan struct{} { return c.rpc.Done() }

// Err says why the connection ended, or is nil while it is open.
func (c *Client) Err() error { return c.rpc.Err() }

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error { return c.rpc.Close() }

// Call makes a call not wrapped by a typed method. Errors name the
// controller and the call, and wrap the controller's *jujuapi.Error.
func (c *Client) Call(ctx context.Context, facade string, version int, method string, args, result any) error {
	return c.call(ctx, fmt.Sprintf("%s(%d).%s", facade, version, method), facade, version, method, args, result)
}

// call makes one call; what describes it in errors.
func (c *Client) call(ctx context.Context, what, facade string, version int, method string, args, result any) error {
	ctx, cancel := withDefaultTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	if err := c.rpc.Call(ctx, facade, version, method, args, result); err != nil {
		return c.errorf(what, err)
	}
	return nil
}

// errorf wraps err with the controller's name and what was being done.
func (c *Client) errorf(what string, err error) error {
	return fmt.Errorf("controller %q: %s: %w", c.ep.Name, what, err)
}

// facadeCall calls facade.method at the highest version both sides speak.
func (c *Client) facadeCall(ctx context.Context, what, facade, method string, args, result any) error {
	v := c.versions[facade]
	if v == 0 {
		return c.errorf(what, jujuapi.Errorf(jujuapi.CodeNotSupported,
			"the controller offers no version of the %s facade this broker speaks (%v)", facade, clientFacades[facade]))
	}
	return c.call(ctx, what, facade, v, method, args, result)
}

// Ping checks that the controller answers (Pinger.Ping).
func (c *Client) Ping(ctx context.Context) error {
	return c.facadeCall(ctx, "ping", "Pinger", "Ping", nil, nil)
}

// ControllerVersion returns the controller's Juju version, e.g. "3.5.4".
func (c *Client) ControllerVersion(ctx context.Context) (string, error) {
	var res params.ControllerVersionResults
	if err := c.facadeCall(ctx, "get controller version", "Controller", "ControllerVersion", nil, &res); err != nil {
		return "", err
	}
	return res.Version, nil
}

// Clouds returns the clouds the controller hosts models on, by name
// (without "cloud-").
func (c *Client) Clouds(ctx context.Context) (map[string]params.Cloud, error) {
	var res params.CloudsResult
	if err := c.facadeCall(ctx, "list clouds", "Cloud", "Clouds", nil, &res); err != nil {
		return nil, err
	}
	out := make(map[string]params.Cloud, len(res.Clouds))
	for tag, cl := range res.Clouds {
		t, err := jujuapi.ParseCloudTag(tag)
		if err != nil {
			return nil, c.errorf("list clouds", err)
		}
		out[t.ID] = cl
	}
	return out, nil
}

// ControllerConfig returns the controller's config
// (Controller.ControllerConfig): every key the controller reports, with
// the values as it sent them (JSON numbers as float64).
func (c *Client) ControllerConfig(ctx context.Context) (map[string]any, error) {
	var res params.ControllerConfigResult
	if err := c.facadeCall(ctx, "get controller config", "Controller", "ControllerConfig", nil, &res); err != nil {
		return nil, err
	}
	if res.Config == nil {
		res.Config = map[string]any{}
	}
	return res.Config, nil
}

// SetControllerConfig changes some of the controller's config
// (Controller.ConfigSet, superusers only). The controller checks every
// value and takes all of them or none; its refusal is the *jujuapi.Error
// the error wraps. What the error adds names the keys, never a value (a
// value may be a secret), though the controller's refusal may quote one.
func (c *Client) SetControllerConfig(ctx context.Context, cfg map[string]any) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	what := "set controller config " + strings.Join(keys, ", ")
	return c.facadeCall(ctx, what, "Controller", "ConfigSet", params.ControllerConfigSet{Config: cfg}, nil)
}

// CreateModel creates a model and returns its description.
func (c *Client) CreateModel(ctx context.Context, args params.ModelCreateArgs) (params.ModelInfo, error) {
	var res params.ModelInfo
	if err := c.facadeCall(ctx, fmt.Sprintf("create model %q", args.Name), "ModelManager", "CreateModel", args, &res); err != nil {
		return params.ModelInfo{}, err
	}
	return res, nil
}

// ModelInfo describes one model; the model's own error (e.g. code "not
// found") is returned as the error.
func (c *Client) ModelInfo(ctx context.Context, uuid string) (params.ModelInfo, error) {
	what := fmt.Sprintf("get info of model %s", uuid)
	var res params.ModelInfoResults
	args := params.Entities{Entities: []params.Entity{{Tag: jujuapi.ModelTag(uuid).String()}}}
	if err := c.facadeCall(ctx, what, "ModelManager", "ModelInfo", args, &res); err != nil {
		return params.ModelInfo{}, err
	}
	if len(res.Results) != 1 {
		return params.ModelInfo{}, c.errorf(what, fmt.Errorf("got %d results, want 1", len(res.Results)))
	}
	r := res.Results[0]
	if r.Error != nil {
		return params.ModelInfo{}, c.errorf(what, r.Error)
	}
	if r.Result == nil {
		return params.ModelInfo{}, c.errorf(what, errors.New("result has neither info nor error"))
	}
	return *r.Result, nil
}

// DestroyModel starts destroying a model (ModelManager.DestroyModels): it
// goes dying and later disappears. force ignores errors on the way; maxWait
// bounds each forced step (nil: the controller's default). Storage is
// neither destroyed nor released: a model with persistent storage fails.
func (c *Client) DestroyModel(ctx context.Context, uuid string, force bool, maxWait *time.Duration) error {
	d := params.DestroyModelParams{ModelTag: jujuapi.ModelTag(uuid).String(), MaxWait: maxWait}
	if force {
		d.Force = &force
	}
	return c.DestroyModelWith(ctx, d)
}

// DestroyModelWith is DestroyModel with every option a client may give:
// what to do with storage, force, and how long to wait.
func (c *Client) DestroyModelWith(ctx context.Context, d params.DestroyModelParams) error {
	what := fmt.Sprintf("destroy model %s", strings.TrimPrefix(d.ModelTag, jujuapi.KindModel+"-"))
	var res params.ErrorResults
	if err := c.facadeCall(ctx, what, "ModelManager", "DestroyModels", params.DestroyModelsParams{Models: []params.DestroyModelParams{d}}, &res); err != nil {
		return err
	}
	if err := res.OneError(); err != nil {
		return c.errorf(what, err)
	}
	return nil
}

// ModelStatus returns a model's short status; the model's own error (code
// "not found" once a destroyed model is gone) is returned as the error.
func (c *Client) ModelStatus(ctx context.Context, uuid string) (params.ModelStatus, error) {
	what := fmt.Sprintf("get status of model %s", uuid)
	var res params.ModelStatusResults
	args := params.Entities{Entities: []params.Entity{{Tag: jujuapi.ModelTag(uuid).String()}}}
	if err := c.facadeCall(ctx, what, "ModelManager", "ModelStatus", args, &res); err != nil {
		return params.ModelStatus{}, err
	}
	if len(res.Results) != 1 {
		return params.ModelStatus{}, c.errorf(what, fmt.Errorf("got %d results, want 1", len(res.Results)))
	}
	if e := res.Results[0].Error; e != nil {
		return params.ModelStatus{}, c.errorf(what, e)
	}
	return res.Results[0], nil
}

// ListModelSummaries lists the models user (a name without "user-"; ""
// for the logged-in user) can see, or every model when all is set (for a
// controller superuser). Per-model errors are left in the results.
func (c *Client) ListModelSummaries(ctx context.Context, user string, all bool) ([]params.ModelSummaryResult, error) {
	if user == "" {
		user = c.user
	}
	var res params.ModelSummaryResults
	args := params.ModelSummariesRequest{UserTag: jujuapi.UserTag(user).String(), All: all}
	if err := c.facadeCall(ctx, fmt.Sprintf("list models of %q", user), "ModelManager", "ListModelSummaries", args, &res); err != nil {
		return nil, err
	}
	return res.Results, nil
}

// Info is what Probe learns about a controller.
type Info struct {
	// UUID is the controller's UUID, from the login result.
	UUID string
	// Address is the address that answered.
	Address string
	// AgentVersion is the controller's Juju version (ControllerVersion).
	AgentVersion string
	// ControllerAccess is the logged-in user's access to the controller;
	// the broker needs "superuser".
	ControllerAccess string
	// Cloud, CloudType and Regions describe the controller's cloud: the one
	// marked as the controller's, else the only one, else the first by name.
	Cloud     string
	CloudType string
	Regions   []string
	// Clouds holds every cloud the controller reports, by name.
	Clouds map[string]params.Cloud
	// ModelCount is the number of models other than the controller model,
	// or -1 when the user may not list every model.
	ModelCount int
}

// Probe connects to a controller, learns what the broker stores about it,
// and disconnects. It is how a controller is verified before it is
// registered: it fails when the controller cannot be reached or logged in
// to, and, when e.UUID is set, when the controller reports another UUID
// (the error wraps ErrWrongController).
func Probe(ctx context.Context, e Endpoint, creds Credentials) (*Info, error) {
	return probe(ctx, e, creds, nil)
}

// probe is Probe; refuse, when set, is asked first about the UUID the
// controller's login answered with, and its error ends the probe.
func probe(ctx context.Context, e Endpoint, creds Credentials, refuse func(uuid string) error) (*Info, error) {
	want := e.UUID
	e.UUID = "" // compared here, with a message for the operator
	c, err := Connect(ctx, e, creds, jujuapi.ConnOptions{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	info := &Info{UUID: c.UUID(), Address: c.addr, ModelCount: -1}
	if refuse != nil {
		if err := refuse(info.UUID); err != nil {
			return nil, err
		}
	}
	if want != "" && info.UUID != want {
		return nil, wrongController("controller %q at %s reports UUID %s, the controller file says %s",
			e.Name, c.addr, info.UUID, want)
	}
	if u := c.login.UserInfo; u != nil {
		info.ControllerAccess = u.ControllerAccess
	}
	if info.AgentVersion, err = c.ControllerVersion(ctx); err != nil {
		return nil, err
	}
	if info.Clouds, err = c.Clouds(ctx); err != nil {
		return nil, err
	}
	if len(info.Clouds) == 0 {
		return nil, fmt.Errorf("controller %q at %s reports no cloud", e.Name, c.addr)
	}
	names := make([]string, 0, len(info.Clouds))
	for name := range info.Clouds {
		names = append(names, name)
	}
	sort.Strings(names)
	info.Cloud = names[0]
	for _, name := range names {
		if info.Clouds[name].IsControllerCloud {
			info.Cloud = name
			break
		}
	}
	cl := info.Clouds[info.Cloud]
	info.CloudType = cl.Type
	for _, r := range cl.Regions {
		info.Regions = append(info.Regions, r.Name)
	}
	if info.ControllerAccess == "superuser" {
		models, err := c.ListModelSummaries(ctx, "", true)
		if err != nil {
			return nil, err
		}
		info.ModelCount = 0
		for _, m := range models {
			if m.Result != nil && !m.Result.IsController {
				info.ModelCount++
			}
		}
	}
	return info, nil
}
