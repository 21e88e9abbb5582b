package db

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Change notifications between broker replicas: PostgreSQL's NOTIFY and
// LISTEN, or, on SQLite (one process), a fan-out in memory.
//
// A listener that lost its connection may have missed notifications: when
// it is listening again it delivers the empty payload, meaning "anything
// may have changed".

// Notify sends payload on channel to every listener, in every replica.
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	return d.Tx(ctx, func(_ *gorm.DB, notify func(channel, payload string)) error {
		notify(channel, payload)
		return nil
	})
}

// Tx runs fn in a transaction. The notifications fn queues with notify are
// delivered, to every replica, if and only if the transaction commits:
// with PostgreSQL's NOTIFY inside the transaction, on SQLite right after
// the commit.
func (d *DB) Tx(ctx context.Context, fn func(tx *gorm.DB, notify func(channel, payload string)) error) error {
	type note struct{ channel, payload string }
	var queued []note
	err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		queued = queued[:0]
		if err := fn(tx, func(channel, payload string) { queued = append(queued, note{channel, payload}) }); err != nil {
			return err
		}
		if d.dialect == dialectPostgres {
			for _, n := range queued {
				if err := tx.Exec("SELECT pg_notify(?, ?)", n.channel, n.payload).Error; err != nil {
					return fmt.Errorf("notify %s: %w", n.channel, err)
				}
			}
		}
		return nil
	})
	if err == nil && d.dialect == dialectSQLite {
		for _, n := range queued {
			d.hub.publish(n.channel, n.payload)
		}
	}
	// Beginning and committing are classified by the dialect's translator;
	// an error fn met on its own (not through gorm) is classified here.
	return classify(err, d.dsn)
}

// Listen calls fn with the payload of every notification on channel until
// ctx ends. On PostgreSQL it holds a connection of its own and reconnects
// (with back-off) when it is lost, then calls fn("") since notifications
// may have been missed. It returns once listening has started.
func (d *DB) Listen(ctx context.Context, channel string, fn func(payload string)) error {
	if d.dialect == dialectSQLite {
		unsubscribe := d.hub.subscribe(channel, fn)
		context.AfterFunc(ctx, unsubscribe)
		return nil
	}
	conn, err := d.listenConn(ctx, channel)
	if err != nil {
		return err
	}
	go d.listenLoop(ctx, channel, conn, fn)
	return nil
}

func (d *DB) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(connectCtx, d.dsn)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, classify(err, d.dsn))
	}
	if _, err := conn.Exec(connectCtx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen on %s: %w", channel, classify(err, d.dsn))
	}
	return conn, nil
}

func (d *DB) listenLoop(ctx context.Context, channel string, conn *pgx.Conn, fn func(string)) {
	backoff := 100 * time.Millisecond
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				if ctx.Err() != nil {
					return
				}
				d.log.Warn("lost the notification connection; reconnecting", "channel", channel, "err", Detail(classify(err, d.dsn)))
				break
			}
			fn(n.Payload)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		var err error
		if conn, err = d.listenConn(ctx, channel); err != nil {
			backoff = min(2*backoff, 5*time.Second)
			d.log.Warn("cannot listen for notifications yet", "channel", channel, "err", Detail(err))
			continue
		}
		backoff = 100 * time.Millisecond
		d.log.Info("listening for notifications again", "channel", channel)
		fn("") // anything may have changed while we were away
	}
}

// hub fans notifications out in memory (SQLite).
type hub struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]func(string)
}

func (h *hub) subscribe(channel string, fn func(string)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[string]map[int]func(string){}
	}
	if h.subs[channel] == nil {
		h.subs[channel] = map[int]func(string){}
	}
	id := h.next
	h.next++
	h.subs[channel][id] = fn
	return func() {
		h.mu.Lock()
		delete(h.subs[channel], id)
		h.mu.Unlock()
	}
}

func (h *hub) publish(channel, payload string) {
	h.mu.Lock()
	fns := make([]func(string), 0, len(h.subs[channel]))
	for _, fn := range h.subs[channel] {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(payload)
	}
}
