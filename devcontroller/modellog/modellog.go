package modellog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Record is one line of a model's log.
type Record struct {
	// Seq orders records by when they were added, from 1; Append sets it.
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"t"`
	Entity   string    `json:"e,omitempty"` // e.g. "machine-0", "unit-pg-0"
	Module   string    `json:"m"`           // e.g. "juju.worker.uniter"
	Location string    `json:"l,omitempty"` // e.g. "uniter.go:363"
	Level    string    `json:"v"`           // TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL
	Message  string    `json:"x"`
	Labels   []string  `json:"c,omitempty"`
}

// DefaultMaxRecords bounds each model's log unless Open is told otherwise.
const DefaultMaxRecords = 10000

// Logs holds the logs of a controller's models. It is safe for concurrent
// use.
type Logs struct {
	dir string
	max int

	mu     sync.Mutex
	models map[string]*modelLog
	closed bool
}

// modelLog is one model's log.
type modelLog struct {
	mu      sync.Mutex
	recs    []Record // at most max, in (Time, Seq) order
	next    uint64   // Seq of the next record
	file    *os.File // append handle
	lines   int      // lines in the file
	changed chan struct{}
	removed bool
}

// ErrRemoved is returned for a model whose log was removed (the model is
// gone).
var ErrRemoved = errors.New("model log removed")

// Open opens the logs kept in dir, creating it if needed. max bounds each
// model's log (DefaultMaxRecords when 0).
func Open(dir string, max int) (*Logs, error) {
	if max <= 0 {
		max = DefaultMaxRecords
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create model log directory: %w", err)
	}
	return &Logs{dir: dir, max: max, models: map[string]*modelLog{}}, nil
}

func (l *Logs) path(uuid string) string { return filepath.Join(l.dir, uuid+".jsonl") }

// get returns a model's log, loading it from its file the first time.
func (l *Logs) get(uuid string) (*modelLog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("model logs closed")
	}
	if ml, ok := l.models[uuid]; ok {
		return ml, nil
	}
	if !validUUID(uuid) {
		return nil, fmt.Errorf("model log: %q is not a model UUID", uuid)
	}
	ml, err := l.load(uuid)
	if err != nil {
		return nil, err
	}
	l.models[uuid] = ml
	return ml, nil
}

// validUUID keeps file names to UUIDs.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case (r < '0' || r > '9') && (r < 'a' || r > 'f'):
			return false
		}
	}
	return true
}

// load reads a model's file (if any), dropping a torn last line, and
// opens it for appending.
func (l *Logs) load(uuid string) (*modelLog, error) {
	p := l.path(uuid)
	raw, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read log of model %s: %w", uuid, err)
	}
	whole := raw
	if i := bytes.LastIndexByte(raw, '\n'); i < len(raw)-1 {
		whole = raw[:i+1] // a torn last line (or no full line)
	}
	ml := &modelLog{next: 1, changed: make(chan struct{})}
	sc := bufio.NewScanner(bytes.NewReader(whole))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		ml.lines++
		ml.recs = append(ml.recs, r)
		ml.next = max(ml.next, r.Seq+1)
	}
	sortRecords(ml.recs)
	if len(ml.recs) > l.max {
		ml.recs = slices.Clone(ml.recs[len(ml.recs)-l.max:])
	}
	if len(whole) != len(raw) {
		if err := os.Truncate(p, int64(len(whole))); err != nil {
			return nil, fmt.Errorf("drop torn line of model %s log: %w", uuid, err)
		}
	}
	ml.file, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log of model %s: %w", uuid, err)
	}
	return ml, nil
}

func sortRecords(recs []Record) {
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].Time.Equal(recs[j].Time) {
			return recs[i].Time.Before(recs[j].Time)
		}
		return recs[i].Seq < recs[j].Seq
	})
}

// Append adds records to a model's log, giving each its Seq, and wakes the
// readers waiting for more.
func (l *Logs) Append(uuid string, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	ml, err := l.get(uuid)
	if err != nil {
		return err
	}
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.removed {
		return ErrRemoved
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	inOrder := len(ml.recs) == 0 || !recs[0].Time.Before(ml.recs[len(ml.recs)-1].Time)
	for i := range recs {
		r := recs[i]
		r.Seq = ml.next
		ml.next++
		if r.Time.IsZero() {
			r.Time = time.Now().UTC()
		}
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			inOrder = false
		}
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode log record of model %s: %w", uuid, err)
		}
		ml.recs = append(ml.recs, r)
	}
	if !inOrder {
		sortRecords(ml.recs)
	}
	if len(ml.recs) > l.max {
		ml.recs = slices.Clone(ml.recs[len(ml.recs)-l.max:])
	}
	if _, err := ml.file.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write log of model %s: %w", uuid, err)
	}
	ml.lines += len(recs)
	if ml.lines > 2*l.max {
		if err := l.compact(uuid, ml); err != nil {
			return err
		}
	}
	close(ml.changed)
	ml.changed = make(chan struct{})
	return nil
}

// compact rewrites a model's file with only the records kept (ml.mu held).
func (l *Logs) compact(uuid string, ml *modelLog) error {
	p := l.path(uuid)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("compact log of model %s: %w", uuid, err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range ml.recs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("compact log of model %s: %w", uuid, err)
		}
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("compact log of model %s: %w", uuid, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("compact log of model %s: %w", uuid, err)
	}
	ml.file.Close()
	ml.file, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopen log of model %s: %w", uuid, err)
	}
	ml.lines = len(ml.recs)
	return nil
}

// Follower reads one model's log as it grows.
type Follower struct {
	ml  *modelLog
	seq uint64
}

// Follow returns a follower of a model's log, at its start.
func (l *Logs) Follow(uuid string) (*Follower, error) {
	ml, err := l.get(uuid)
	if err != nil {
		return nil, err
	}
	return &Follower{ml: ml}, nil
}

// Next returns the records added since the last call (all of them the
// first time), in time order, and a channel closed once more are added
// or the log is removed. It fails with ErrRemoved once the log is
// removed.
func (f *Follower) Next() ([]Record, <-chan struct{}, error) {
	ml := f.ml
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if ml.removed {
		return nil, nil, ErrRemoved
	}
	var out []Record
	for _, r := range ml.recs {
		if r.Seq > f.seq {
			out = append(out, r)
		}
	}
	f.seq = ml.next - 1
	return out, ml.changed, nil
}

// Latest returns the time of a model's newest record (zero for none).
func (l *Logs) Latest(uuid string) (time.Time, error) {
	ml, err := l.get(uuid)
	if err != nil {
		return time.Time{}, err
	}
	ml.mu.Lock()
	defer ml.mu.Unlock()
	if len(ml.recs) == 0 {
		return time.Time{}, nil
	}
	return ml.recs[len(ml.recs)-1].Time, nil
}

// Stored lists the models that have a log file.
func (l *Logs) Stored() ([]string, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list model logs: %w", err)
	}
	var out []string
	for _, e := range entries {
		if uuid, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok && validUUID(uuid) {
			out = append(out, uuid)
		}
	}
	return out, nil
}

// Remove deletes a model's log and ends its readers.
func (l *Logs) Remove(uuid string) error {
	if !validUUID(uuid) {
		return nil
	}
	l.mu.Lock()
	ml := l.models[uuid]
	delete(l.models, uuid)
	l.mu.Unlock()
	if ml != nil {
		ml.mu.Lock()
		ml.removed = true
		ml.file.Close()
		close(ml.changed)
		ml.mu.Unlock()
	}
	if err := os.Remove(l.path(uuid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove log of model %s: %w", uuid, err)
	}
	return nil
}

// Close closes the files; readers waiting are not woken.
func (l *Logs) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var errs []error
	for _, ml := range l.models {
		ml.mu.Lock()
		if !ml.removed {
			errs = append(errs, ml.file.Close())
		}
		ml.mu.Unlock()
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*Logs)(nil)
