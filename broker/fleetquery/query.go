package fleetquery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/itchyny/gojq"

	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/jujuapi"
)

// MaxQueryBytes bounds the text of an expression.
const MaxQueryBytes = 16 << 10

// Limits bound the work of a Runner; a zero field takes its default.
type Limits struct {
	// MaxParallel bounds the models being worked on at once (status
	// fetched, then the expression run), across every query of the
	// Runner. Default 8.
	MaxParallel int
	// PerController bounds the models of one query being worked on at
	// once on one controller. Default 4.
	PerController int
	// MaxQueries bounds the queries running at once; Run refuses more
	// with ErrBusy. Default 4.
	MaxQueries int
	// MaxModels bounds the models of one query: those after it are not
	// queried (Result.Omitted counts them). Default 5000.
	MaxModels int
	// MaxOutputBytes bounds the output of one query, every model's
	// outputs JSON-encoded, plus 32 bytes an output. Default 16 MiB.
	MaxOutputBytes int
	// FetchTimeout bounds the fetch of one model's status from its
	// controller: connecting, logging in and Client.FullStatus. A
	// controller that misses it is not asked again in the query. Default
	// 10s.
	FetchTimeout time.Duration
	// RunTimeout bounds the run of the expression on one model's status.
	// Default 2s.
	RunTimeout time.Duration
	// QueryTimeout bounds a whole query: the models not done by then are
	// reported as not queried. Default 2 minutes.
	QueryTimeout time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxParallel    = 8
	DefaultPerController  = 4
	DefaultMaxQueries     = 4
	DefaultMaxModels      = 5000
	DefaultMaxOutputBytes = 16 << 20
	DefaultFetchTimeout   = 10 * time.Second
	DefaultRunTimeout     = 2 * time.Second
	DefaultQueryTimeout   = 2 * time.Minute
)

// outputOverhead is what each output costs against MaxOutputBytes beyond
// its JSON, so that a flood of tiny outputs is bounded too.
const outputOverhead = 32

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxParallel, DefaultMaxParallel)
	def(&l.PerController, DefaultPerController)
	def(&l.MaxQueries, DefaultMaxQueries)
	def(&l.MaxModels, DefaultMaxModels)
	def(&l.MaxOutputBytes, DefaultMaxOutputBytes)
	defDur(&l.FetchTimeout, DefaultFetchTimeout)
	defDur(&l.RunTimeout, DefaultRunTimeout)
	defDur(&l.QueryTimeout, DefaultQueryTimeout)
	return l
}

// Program is a compiled jq expression.
type Program struct {
	code *gojq.Code
	text string
}

// String is the expression's text.
func (p *Program) String() string { return p.text }

// CompileError is an expression that does not parse or compile; its
// message is gojq's.
type CompileError struct {
	Err error
}

func (e *CompileError) Error() string {
	var pe *gojq.ParseError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("bad jq expression: %v (at byte %d)", e.Err, pe.Offset)
	}
	return "bad jq expression: " + e.Err.Error()
}

// Unwrap returns gojq's error.
func (e *CompileError) Unwrap() error { return e.Err }

// Compile parses and compiles a jq expression. The program sees nothing
// of the broker: no environment ($ENV and env are empty), no modules, no
// input but the model's status (input and inputs do not compile).
func Compile(expr string) (*Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Err: errors.New("the expression is empty (try `.` for the whole status)")}
	}
	if len(expr) > MaxQueryBytes {
		return nil, &CompileError{Err: fmt.Errorf("the expression is %d bytes long, the limit is %d", len(expr), MaxQueryBytes)}
	}
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, &CompileError{Err: err}
	}
	code, err := gojq.Compile(q, gojq.WithEnvironLoader(func() []string { return nil }))
	if err != nil {
		return nil, &CompileError{Err: err}
	}
	return &Program{code: code, text: expr}, nil
}

// Model is a model to query.
type Model struct {
	UUID, Name, Owner string
	// Controller names the controller hosting the model.
	Controller string
}

// Fetch returns a model's status, a JSON object: the input of the
// expression, to which the model's uuid, name and owner are added (under
// "model").
type Fetch func(ctx context.Context, m Model) (json.RawMessage, error)

// ModelResult is what one model gave.
type ModelResult struct {
	Model Model
	// Outputs are the expression's outputs, each JSON-encoded as jq
	// prints it; those before an error are kept.
	Outputs []json.RawMessage
	// Err says why the model gave no (or not every) output: a
	// *ControllerError, *RunError, *OutputLimitError, *NotQueriedError,
	// or the model's own (its controller refused its status).
	Err error
}

// Result is what a query gave.
type Result struct {
	// Models are the models queried, in the order given.
	Models []ModelResult
	// Omitted counts the models given beyond Limits.MaxModels, not
	// queried.
	Omitted int
	// Truncated says that the output reached Limits.MaxOutputBytes: the
	// models concerned have an *OutputLimitError.
	Truncated bool
}

// ErrBusy is returned by Run while Limits.MaxQueries queries run.
var ErrBusy = errors.New("too many model queries are running on this broker; try again shortly")

// ControllerError is a model's controller that did not answer in time or
// could not be reached. The query asks that controller nothing more: its
// other models get the same error, with Repeat set.
type ControllerError struct {
	Controller string
	// Timeout is set when the controller did not answer within it.
	Timeout time.Duration
	// Repeat says that the controller failed for another model of the
	// query, and was not asked about this one.
	Repeat bool
	Err    error
}

func (e *ControllerError) Error() string {
	var s string
	if e.Timeout > 0 {
		s = fmt.Sprintf("controller %s did not answer within %s", e.Controller, e.Timeout)
	} else {
		s = fmt.Sprintf("controller %s cannot be reached: %v", e.Controller, jujuapi.Underlying(e.Err))
	}
	if e.Repeat {
		s += " (for another model of this query; not asked again)"
	}
	return s
}

// Unwrap returns the cause.
func (e *ControllerError) Unwrap() error { return e.Err }

// Redacted is Error without the controller's name or address, for a
// caller who may not know where the model lives.
func (e *ControllerError) Redacted() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("the controller hosting this model did not answer within %s; try again later", e.Timeout)
	}
	return "the controller hosting this model cannot be reached; try again later"
}

// RunError is the expression failing on a model's status, or running too
// long on it.
type RunError struct {
	// Timeout is set when the run was stopped after it.
	Timeout time.Duration
	Err     error
}

func (e *RunError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("the expression ran longer than %s on this model's status and was stopped", e.Timeout)
	}
	return "jq: error: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// OutputLimitError is a model whose outputs (some or all) were dropped:
// the query's output had reached its limit.
type OutputLimitError struct {
	Limit int
}

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("the query's output reached its limit of %d bytes: this model's (rest of its) output was dropped; narrow the expression", e.Limit)
}

// NotQueriedError is a model not queried: the query's time ran out, or
// its caller went away.
type NotQueriedError struct {
	// Timeout is the query's time limit, when that ran out.
	Timeout time.Duration
}

func (e *NotQueriedError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("not queried: the query's time limit of %s ran out", e.Timeout)
	}
	return "not queried: the query was cancelled"
}

// Message is err as a caller sees it: with reveal, as it is; without,
// naming no controller (a caller who is not a broker administrator does
// not learn where a model lives).
func Message(err error, reveal bool) string {
	if err == nil {
		return ""
	}
	if reveal {
		return err.Error()
	}
	var (
		ce *ControllerError
		je *jujuapi.Error
	)
	switch {
	case errors.As(err, &ce):
		return ce.Redacted()
	case errors.As(err, new(*RunError)), errors.As(err, new(*OutputLimitError)), errors.As(err, new(*NotQueriedError)):
		return err.Error()
	case errors.As(err, &je) && je.Code != "":
		return fmt.Sprintf("the controller hosting this model refused its status (%s)", je.Code)
	}
	return "the status of this model could not be read; try again later"
}

// Runner runs queries with shared bounds. It is safe for concurrent use.
type Runner struct {
	fetch   Fetch
	limits  Limits
	log     *slog.Logger
	slots   chan struct{} // models being worked on, across queries
	queries chan struct{} // queries running
}

// NewRunner returns a Runner fetching statuses with fetch, within limits.
// A nil logger discards logs.
func NewRunner(fetch Fetch, limits Limits, logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := limits.withDefaults()
	return &Runner{fetch: fetch, limits: l, log: logger,
		slots: make(chan struct{}, l.MaxParallel), queries: make(chan struct{}, l.MaxQueries)}
}

// Limits are the Runner's limits, defaults filled in.
func (r *Runner) Limits() Limits { return r.limits }

// Run runs prog over the status of each model (the first MaxModels of
// them), fetched from its controller, and returns every model's outputs
// or error. It fails only with ErrBusy; a model's failure is in its
// result.
func (r *Runner) Run(ctx context.Context, prog *Program, models []Model) (*Result, error) {
	select {
	case r.queries <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	defer func() { <-r.queries }()
	start := time.Now()
	res := &Result{}
	if len(models) > r.limits.MaxModels {
		res.Omitted = len(models) - r.limits.MaxModels
		models = models[:r.limits.MaxModels]
	}
	res.Models = make([]ModelResult, len(models))
	ctx, cancel := context.WithTimeout(ctx, r.limits.QueryTimeout)
	defer cancel()

	queues := map[string]*ctlQueue{}
	var order []string
	for i, m := range models {
		res.Models[i].Model = m
		q := queues[m.Controller]
		if q == nil {
			q = &ctlQueue{name: m.Controller}
			queues[m.Controller] = q
			order = append(order, m.Controller)
		}
		q.models = append(q.models, i)
	}
	budget := &outputBudget{left: r.limits.MaxOutputBytes}
	var wg sync.WaitGroup
	for _, name := range order {
		q := queues[name]
		for range min(r.limits.PerController, len(q.models)) {
			wg.Go(func() { r.work(ctx, prog, q, res.Models, budget) })
		}
	}
	wg.Wait()
	res.Truncated = budget.exhausted()
	failed := 0
	for _, m := range res.Models {
		if m.Err != nil {
			failed++
		}
	}
	r.log.Info("ran a model query", "models", len(models), "omitted", res.Omitted, "failed", failed,
		"truncated", res.Truncated, "duration", time.Since(start))
	return res, nil
}

// work takes q's models in turn until none is left.
func (r *Runner) work(ctx context.Context, prog *Program, q *ctlQueue, out []ModelResult, budget *outputBudget) {
	for {
		i, down, ok := q.take()
		if !ok {
			return
		}
		mr := &out[i]
		if down != nil {
			repeat := *down
			repeat.Repeat = true
			mr.Err = &repeat
			continue
		}
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			mr.Err = r.notQueried(ctx)
			continue
		}
		mr.Outputs, mr.Err = r.one(ctx, prog, mr.Model, budget)
		<-r.slots
		var ce *ControllerError
		if errors.As(mr.Err, &ce) {
			q.trip(ce)
		}
	}
}

// notQueried is the error of a model left when ctx, the query's, ended.
func (r *Runner) notQueried(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &NotQueriedError{Timeout: r.limits.QueryTimeout}
	}
	return &NotQueriedError{}
}

// one fetches a model's status and runs prog over it.
func (r *Runner) one(ctx context.Context, prog *Program, m Model, budget *outputBudget) ([]json.RawMessage, error) {
	fctx, cancel := context.WithTimeout(ctx, r.limits.FetchTimeout)
	raw, err := r.fetch(fctx, m)
	timedOut := errors.Is(fctx.Err(), context.DeadlineExceeded)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, r.notQueried(ctx)
	case timedOut:
		return nil, &ControllerError{Controller: m.Controller, Timeout: r.limits.FetchTimeout, Err: err}
	case controllers.IsControllerFault(err):
		return nil, &ControllerError{Controller: m.Controller, Err: err}
	default:
		return nil, err
	}
	input, err := statusInput(raw, m)
	if err != nil {
		return nil, fmt.Errorf("controller %s: the status of model %s: %w", m.Controller, m.UUID, err)
	}
	return r.run(ctx, prog, input, m, budget)
}

// statusInput decodes a model's status and adds the model's uuid, name
// and owner under "model".
func statusInput(raw json.RawMessage, m Model) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // integers stay exact; gojq takes json.Number
	var status map[string]any
	if err := dec.Decode(&status); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if status == nil {
		return nil, errors.New("not a JSON object: null")
	}
	model, _ := status["model"].(map[string]any)
	if model == nil {
		model = map[string]any{}
		status["model"] = model
	}
	model["uuid"], model["name"], model["owner"] = m.UUID, m.Name, m.Owner
	return status, nil
}

// run runs prog over input, keeping its outputs while the budget lasts.
func (r *Runner) run(ctx context.Context, prog *Program, input map[string]any, m Model, budget *outputBudget) (outs []json.RawMessage, err error) {
	rctx, cancel := context.WithTimeout(ctx, r.limits.RunTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("the jq engine panicked", "model", m.UUID, "expression", prog.text, "panic", p)
			err = &RunError{Err: fmt.Errorf("internal error of the jq engine")}
		}
	}()
	iter := prog.code.RunWithContext(rctx, input)
	for {
		v, ok := iter.Next()
		if !ok {
			return outs, nil
		}
		if e, isErr := v.(error); isErr {
			var he *gojq.HaltError
			switch {
			case errors.As(e, &he) && he.Value() == nil:
				return outs, nil // halt: the end of the outputs
			case ctx.Err() != nil:
				return outs, r.notQueried(ctx)
			case errors.Is(e, context.DeadlineExceeded) || errors.Is(rctx.Err(), context.DeadlineExceeded):
				return outs, &RunError{Timeout: r.limits.RunTimeout, Err: e}
			}
			return outs, &RunError{Err: e}
		}
		b, err := gojq.Marshal(v)
		if err != nil {
			return outs, &RunError{Err: fmt.Errorf("output %d cannot be encoded: %w", len(outs)+1, err)}
		}
		if !budget.take(len(b) + outputOverhead) {
			return outs, &OutputLimitError{Limit: r.limits.MaxOutputBytes}
		}
		outs = append(outs, b)
	}
}

// ctlQueue is one controller's models of a query, taken in turn by the
// query's workers on that controller.
type ctlQueue struct {
	name string

	mu     sync.Mutex
	models []int // indexes into the result
	next   int
	down   *ControllerError // the controller failed: no more fetches
}

// take returns the next model, and the controller's failure if it has
// failed; ok is false when none is left.
func (q *ctlQueue) take() (i int, down *ControllerError, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.next >= len(q.models) {
		return 0, nil, false
	}
	i = q.models[q.next]
	q.next++
	return i, q.down, true
}

// trip records the controller's first failure.
func (q *ctlQueue) trip(e *ControllerError) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down == nil && !e.Repeat {
		q.down = e
	}
}

// outputBudget is what is left of a query's output bytes.
type outputBudget struct {
	mu   sync.Mutex
	left int
	out  bool // a take was refused
}

// take spends n bytes, or refuses (for good) when fewer are left.
func (b *outputBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out || n > b.left {
		b.out = true
		return false
	}
	b.left -= n
	return true
}

func (b *outputBudget) exhausted() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out
}
