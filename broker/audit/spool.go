package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/db"
)

// The spool's files in its directory.
const (
	// SpoolFile holds the events the database could not take, one JSON
	// object a line, oldest first.
	SpoolFile = "audit-spool.jsonl"
	// spoolPosFile holds the sequence number of the last spooled event
	// written to the database: the spool is truncated only once it is all
	// written, and what precedes this number is never written twice.
	spoolPosFile = "audit-spool.pos"
)

// DefaultSpoolMaxBytes bounds the spool file by default.
const DefaultSpoolMaxBytes = 64 << 20

// spoolRecord is one line of the spool: an audit row (already bounded and
// scrubbed) and its sequence number, which grows across the spool's life.
type spoolRecord struct {
	Seq            uint64    `json:"seq"`
	Time           time.Time `json:"time"`
	Identity       string    `json:"identity,omitempty"`
	Remote         string    `json:"remote,omitempty"`
	Model          string    `json:"model,omitempty"`
	Facade         string    `json:"facade"`
	Method         string    `json:"method"`
	Result         string    `json:"result"`
	Error          string    `json:"error,omitempty"`
	DurationMicros int64     `json:"duration-us"`
}

func (r spoolRecord) row() db.AuditEvent {
	return db.AuditEvent{Time: r.Time, Identity: r.Identity, Remote: r.Remote, Model: r.Model, Facade: r.Facade,
		Method: r.Method, Result: r.Result, Error: r.Error, DurationMicros: r.DurationMicros}
}

func recordOf(seq uint64, r db.AuditEvent) spoolRecord {
	return spoolRecord{Seq: seq, Time: r.Time, Identity: r.Identity, Remote: r.Remote, Model: r.Model, Facade: r.Facade,
		Method: r.Method, Result: r.Result, Error: r.Error, DurationMicros: r.DurationMicros}
}

// spooled is a record read back from the spool and where its line ends.
type spooled struct {
	seq uint64
	row db.AuditEvent
	end int64
}

// spool is an append-only file of audit rows waiting for the database,
// bounded in bytes. Only the audit writer's goroutine uses it.
//
// Appends are fsync'd before append returns. Rows are read back from the
// offset of the first one not yet written (read), and once written, commit
// records the last one's sequence number (fsync'd) before the offset moves
// on; when everything is written the file is truncated. A crash between a
// database write and its commit writes that batch again on the next start:
// the only case where an event can be written twice.
type spool struct {
	dir, path, posPath string
	max                int64

	f       *os.File // opened for reading and appending
	size    int64    // the file's length
	off     int64    // where the first row not yet written starts
	pending int      // rows not yet written
	nextSeq uint64
	lastSeq uint64 // the last sequence number written to the database
}

// openSpool opens (or creates) the spool in dir, bounded to maxBytes. It
// drops a line cut short by a crash, skips what a previous run wrote
// already, and returns how many lines it could not read (dropped).
func openSpool(dir string, maxBytes int64) (*spool, int, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultSpoolMaxBytes
	}
	s := &spool{dir: dir, path: filepath.Join(dir, SpoolFile), posPath: filepath.Join(dir, spoolPosFile), max: maxBytes}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("create audit spool directory %s: %w", dir, err)
	}
	raw, err := os.ReadFile(s.posPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, 0, fmt.Errorf("read audit spool position %s: %w", s.posPath, err)
	default:
		if s.lastSeq, err = strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64); err != nil {
			return nil, 0, fmt.Errorf("read audit spool position %s: %q is not a sequence number", s.posPath, raw)
		}
	}
	if s.f, err = os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, 0, fmt.Errorf("open audit spool %s: %w", s.path, err)
	}
	corrupt, err := s.scan()
	if err != nil {
		s.f.Close()
		return nil, 0, err
	}
	if s.pending == 0 && s.size > 0 {
		if err := s.reset(); err != nil {
			s.f.Close()
			return nil, 0, err
		}
	}
	return s, corrupt, nil
}

// scan reads the whole file: it finds the first row not yet written, the
// rows pending and the largest sequence number, and cuts a last line a
// crash left incomplete.
func (s *spool) scan() (corrupt int, err error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("read audit spool %s: %w", s.path, err)
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var pos int64
	maxSeq := s.lastSeq
	seenPending := false
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 { // a line cut short by a crash
				if err := s.f.Truncate(pos); err != nil {
					return 0, fmt.Errorf("cut the incomplete last line of audit spool %s: %w", s.path, err)
				}
			}
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read audit spool %s: %w", s.path, err)
		}
		end := pos + int64(len(line))
		var rec spoolRecord
		switch {
		case json.Unmarshal(line, &rec) != nil:
			if seenPending {
				corrupt++
			} else {
				s.off = end // nothing to replay before this line
			}
		case rec.Seq <= s.lastSeq:
			s.off = end // written already
		default:
			seenPending = true
			s.pending++
			maxSeq = max(maxSeq, rec.Seq)
		}
		pos = end
	}
	s.size = pos
	s.nextSeq = maxSeq + 1
	return corrupt, nil
}

// append writes rows to the end of the spool and syncs it. It returns how
// many it wrote: the first n of rows; those that would take the file past
// its bound are not written (when the rows already written are in the way,
// the file is compacted first).
func (s *spool) append(rows []db.AuditEvent) (int, error) {
	var buf bytes.Buffer
	n := 0
	for _, r := range rows {
		line, err := json.Marshal(recordOf(s.nextSeq, r))
		if err != nil {
			return n, fmt.Errorf("encode audit event for spool: %w", err)
		}
		line = append(line, '\n')
		if s.size+int64(buf.Len()+len(line)) > s.max && s.off > 0 {
			if err := s.compact(); err != nil {
				return n, err
			}
		}
		if s.size+int64(buf.Len()+len(line)) > s.max {
			break
		}
		buf.Write(line)
		s.nextSeq++
		n++
	}
	if buf.Len() == 0 {
		return 0, nil
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		// A partial write leaves an incomplete line: cut it, so that what
		// follows is read right.
		s.f.Truncate(s.size)
		s.nextSeq -= uint64(n)
		return 0, fmt.Errorf("append to audit spool %s: %w", s.path, err)
	}
	s.size += int64(buf.Len())
	s.pending += n
	if err := s.f.Sync(); err != nil {
		return n, fmt.Errorf("sync audit spool %s: %w", s.path, err)
	}
	return n, nil
}

// read returns up to n pending rows, oldest first, without consuming them
// (see commit). Lines that do not parse are skipped.
func (s *spool) read(n int) ([]spooled, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.off, s.size-s.off), 64<<10)
	pos := s.off
	var out []spooled
	for len(out) < n {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read audit spool %s: %w", s.path, err)
		}
		pos += int64(len(line))
		var rec spoolRecord
		if json.Unmarshal(line, &rec) != nil || rec.Seq <= s.lastSeq {
			continue
		}
		out = append(out, spooled{seq: rec.Seq, row: rec.row(), end: pos})
	}
	return out, nil
}

// commit records that rows, read by read and each written to the database
// or dropped, are done with: the position is saved before the file is
// truncated, once it is all written.
func (s *spool) commit(rows []spooled) error {
	if len(rows) == 0 {
		return nil
	}
	last := rows[len(rows)-1]
	err := s.savePos(last.seq)
	// Whether or not the position is saved, this process moves on: it
	// never writes these rows again. (Emptying the file also keeps the next
	// one from writing them twice.)
	s.lastSeq, s.off = last.seq, last.end
	s.pending = max(0, s.pending-len(rows))
	if s.pending == 0 {
		err = errors.Join(err, s.reset())
	}
	return err
}

// savePos writes the position file (write, sync, rename).
func (s *spool) savePos(seq uint64) error {
	tmp := s.posPath + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save audit spool position %s: %w", s.posPath, err)
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.posPath)
	}
	if err != nil {
		return fmt.Errorf("save audit spool position %s: %w", s.posPath, err)
	}
	return nil
}

// reset empties the file once every row in it is written.
func (s *spool) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate audit spool %s: %w", s.path, err)
	}
	s.size, s.off, s.pending = 0, 0, 0
	return nil
}

// compact rewrites the file without the rows already written, making room
// under the bound.
func (s *spool) compact() error {
	tmp := s.path + ".tmp"
	// The new file's handle stays valid once renamed over the old one.
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("compact audit spool %s: %w", s.path, err)
	}
	_, err = io.Copy(out, io.NewSectionReader(s.f, s.off, s.size-s.off))
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact audit spool %s: %w", s.path, err)
	}
	syncDir(s.dir)
	s.f.Close()
	s.f = out
	s.size -= s.off
	s.off = 0
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (s *spool) close() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close audit spool %s: %w", s.path, err)
	}
	return nil
}
