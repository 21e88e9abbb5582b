package modellog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const uuid = "0c3f5e5a-1b2c-4d5e-8f90-123456789abc"

func rec(i int, at time.Time) Record {
	return Record{Time: at, Entity: "machine-0", Module: "juju.test", Level: "INFO", Message: fmt.Sprintf("line %d", i)}
}

func messages(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Message
	}
	return out
}

func TestBoundedAndPersistent(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 10 {
		if err := l.Append(uuid, rec(i, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := l.Follow(uuid)
	recs, _, _ := f.Next()
	if got := fmt.Sprint(messages(recs)); got != "[line 7 line 8 line 9]" {
		t.Fatalf("kept %s, want the newest 3", got)
	}
	if recs[2].Seq != 10 {
		t.Fatalf("seq of the tenth record: %d", recs[2].Seq)
	}
	l.Close()

	// A torn last line (a write cut short by kill -9) is dropped; the rest
	// survives and numbering goes on.
	p := filepath.Join(dir, uuid+".jsonl")
	fh, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString(`{"seq":11,"t":"2026-01-02T03:04:`)
	fh.Close()
	l, err = Open(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(uuid, rec(10, t0.Add(10*time.Second))); err != nil {
		t.Fatal(err)
	}
	f, _ = l.Follow(uuid)
	recs, _, _ = f.Next()
	if got := fmt.Sprint(messages(recs)); got != "[line 8 line 9 line 10]" {
		t.Fatalf("after reopen: %s", got)
	}
	if recs[2].Seq != 11 {
		t.Fatalf("seq after reopen: %d, want 11", recs[2].Seq)
	}
	// The file was compacted along the way: never more than 2×3 lines.
	raw, _ := os.ReadFile(p)
	if n := len(splitLines(raw)); n > 6 {
		t.Fatalf("file holds %d lines, want at most 6", n)
	}
}

func splitLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

func TestFollowAndTimeOrder(t *testing.T) {
	l, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l.Append(uuid, rec(1, t0.Add(time.Second)))
	f, _ := l.Follow(uuid)
	recs, changed, err := f.Next()
	if err != nil || len(recs) != 1 {
		t.Fatalf("first read: %v %v", recs, err)
	}
	select {
	case <-changed:
		t.Fatal("woken before anything was added")
	default:
	}
	// Older records (e.g. transferred by a migration) are placed in time
	// order, and a follower still gets them.
	l.Append(uuid, rec(0, t0), rec(2, t0.Add(2*time.Second)))
	<-changed
	recs, changed, _ = f.Next()
	if got := fmt.Sprint(messages(recs)); got != "[line 0 line 2]" {
		t.Fatalf("followed %s", got)
	}
	all, _ := l.Follow(uuid)
	recs, _, _ = all.Next()
	if got := fmt.Sprint(messages(recs)); got != "[line 0 line 1 line 2]" {
		t.Fatalf("time order: %s", got)
	}
	if latest, _ := l.Latest(uuid); !latest.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("latest %v", latest)
	}
	if stored, err := l.Stored(); err != nil || len(stored) != 1 || stored[0] != uuid {
		t.Fatalf("stored logs: %v %v", stored, err)
	}
	if err := l.Remove(uuid); err != nil {
		t.Fatal(err)
	}
	if stored, _ := l.Stored(); len(stored) != 0 {
		t.Fatalf("stored logs after remove: %v", stored)
	}
	<-changed
	if _, _, err := f.Next(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("after remove: %v", err)
	}
}
