package db_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

// cutProxy relays TCP connections to a database server until cut: then it
// closes every connection it relays and stops listening, as a server that
// went away does; restore listens again on the same address.
type cutProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	p := &cutProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestOutageIsUnavailable runs a database through a connection that is cut,
// then restored: while cut, every kind of call fails with ErrUnavailable and
// a message that names no server, user or database; "not found" is never
// the answer; once restored, calls work again.
func TestOutageIsUnavailable(t *testing.T) {
	base := dbtest.PostgreSQL(t)
	u, err := url.Parse(base.DSN())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	_, proxyPort, _ := net.SplitHostPort(proxy.addr)
	_, serverPort, _ := net.SplitHostPort(u.Host)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	d, err := db.Open(t.Context(), u.String(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctl := addController(t, d, "ctl-a", "u-a")
	if err := d.AddModel(t.Context(), &db.Model{UUID: "m-1", Name: "one", Owner: "alice", ControllerID: ctl.ID, Cloud: "localhost", Region: "r1", Life: "alive"}, "user:alice"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	if err := d.Listen(t.Context(), "jimm_test", func(p string) { got <- p }); err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"query a route": func() error { _, err := d.ModelByUUID(ctx, "m-1"); return err },
		"query a missing route": func() error {
			_, err := d.ModelByUUID(ctx, "m-none")
			if errors.Is(err, db.ErrNotFound) {
				t.Errorf("a lookup during the outage answered not found: %v", err)
			}
			return err
		},
		"create": func() error {
			return d.WithContext(ctx).Create(&db.Relation{Subject: "user:bob", Relation: "reader", ObjectKind: "model", ObjectID: "m-1"}).Error
		},
		"update": func() error { return d.SetModelCounts(ctx, "m-1", 1, 1) },
		"delete": func() error { return d.WithContext(ctx).Where("subject = ?", "user:bob").Delete(&db.Relation{}).Error },
		"raw":    func() error { var n int; return d.WithContext(ctx).Raw("SELECT 1").Scan(&n).Error },
		"rows": func() error {
			rows, err := d.WithContext(ctx).Raw("SELECT 1").Rows()
			if err == nil {
				rows.Close()
			}
			return err
		},
		// *sql.Row keeps its error to itself, out of gorm's reach.
		"row, classified": func() error { var n int; return d.Classify(d.WithContext(ctx).Raw("SELECT 1").Row().Scan(&n)) },
		"exec":            func() error { return d.WithContext(ctx).Exec("UPDATE models SET unit_count = 3").Error },
		"transaction": func() error {
			return d.Tx(ctx, func(tx *gorm.DB, notify func(string, string)) error {
				notify("jimm_test", "x")
				return tx.Exec("UPDATE models SET unit_count = 3").Error
			})
		},
		"gorm transaction": func() error {
			return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return tx.Exec("SELECT 1").Error })
		},
		"notify": func() error { return d.Notify(ctx, "jimm_test", "y") },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, db.ErrUnavailable) {
			t.Errorf("%s during the outage: got %v, want ErrUnavailable", name, err)
			continue
		}
		msg := err.Error()
		for _, leak := range []string{"user=", "database=", "postgres://", proxyPort, serverPort, "127.0.0.1"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s during the outage: message %q shows %q", name, msg, leak)
			}
		}
		if !strings.Contains(msg, "database unavailable") {
			t.Errorf("%s during the outage: message %q does not say database unavailable", name, msg)
		}
	}

	proxy.restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := d.ModelByUUID(ctx, "m-1")
		if err == nil && m.Controller.Name == "ctl-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The listener is back (it says "anything may have changed") and hears
	// new notifications.
	for resynced := false; !resynced; {
		select {
		case p := <-got:
			resynced = p == ""
		case <-ctx.Done():
			t.Fatal("the listener did not come back after the outage")
		}
	}
	if err := d.Notify(ctx, "jimm_test", "after"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case p := <-got:
			if p == "after" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no notification after the outage")
		}
	}
}

// TestClosedIsUnavailable: a closed database (both dialects) answers
// ErrUnavailable, and ErrNotFound and ErrDuplicate still read as before.
func TestClosedIsUnavailable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if _, err := d.ModelByUUID(t.Context(), "nope"); !errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrUnavailable) {
			t.Fatalf("missing model: got %v, want ErrNotFound only", err)
		}
		addController(t, d, "ctl-a", "u-a")
		dup := &db.Controller{Name: "ctl-a", UUID: "u-other", Addresses: []string{}, Regions: []string{}, AdminPassword: []byte{}}
		if err := d.WithContext(t.Context()).Create(dup).Error; !errors.Is(err, db.ErrDuplicate) || errors.Is(err, db.ErrUnavailable) {
			t.Fatalf("duplicate: got %v, want ErrDuplicate only", err)
		}
		d.Close()
		_, err := d.ModelByUUID(t.Context(), "nope")
		if !errors.Is(err, db.ErrUnavailable) || errors.Is(err, db.ErrNotFound) {
			t.Fatalf("closed database: got %v, want ErrUnavailable", err)
		}
		err = d.Tx(t.Context(), func(*gorm.DB, func(string, string)) error { return nil })
		if !errors.Is(err, db.ErrUnavailable) {
			t.Fatalf("transaction on a closed database: got %v, want ErrUnavailable", err)
		}
	})
}
