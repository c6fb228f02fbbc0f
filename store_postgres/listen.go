package storepg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnection delays of the LISTEN connection.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// Wake implements store.Waker: the channel receives a value when another Store on the
// same schema (in this process or another) stored pending deliveries (InsertEvent,
// Redeliver, Activate), when a transaction of Tx that stored some committed, and after
// the LISTEN connection was lost and made again (notifications may have been missed
// meanwhile). The first call opens a dedicated connection (from the pool's
// configuration, outside the pool) that listens until Close. One dispatcher should use
// a Store's wake-ups.
func (s *Store) Wake() <-chan struct{} {
	s.listenOnce.Do(func() {
		if s.ctx.Err() != nil {
			return
		}
		s.wg.Add(1)
		go s.listen()
	})
	return s.wake
}

// poke sends a wake-up without blocking: one pending wake-up is as good as many.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// listen keeps a connection listening on the schema's channel until Close, connecting
// again (with growing delays) whenever it is lost.
func (s *Store) listen() {
	defer s.wg.Done()
	delay := listenRetryMin
	for s.ctx.Err() == nil {
		err := s.listenConn(func() { delay = listenRetryMin })
		if s.ctx.Err() != nil {
			return
		}
		s.cfg.logger.Warn("storepg: the LISTEN connection was lost; connecting again", "err", err, "in", delay)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// listenConn connects, listens and passes notifications on until the connection fails
// or the store closes. connected is called once it listens.
func (s *Store) listenConn(connected func()) error {
	conn, err := pgx.ConnectConfig(s.ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	}()
	if _, err := conn.Exec(s.ctx, "LISTEN "+quoteIdent(s.channel)); err != nil {
		return err
	}
	connected()
	s.poke() // notifications sent while no connection listened are lost: look now
	for {
		n, err := conn.WaitForNotification(s.ctx)
		if err != nil {
			return err
		}
		if n.Payload != s.self {
			s.poke()
		}
	}
}

var qNotify = query(`SELECT pg_notify($1, $2)`)

// notifyDelay is how long after a commit the other instances are notified at most: the
// commits of that time share one notification.
const notifyDelay = 2 * time.Millisecond

// wakeOthers has the other instances notified, within notifyDelay, that deliveries are
// pending. It never waits: the notification is sent apart from the caller's transaction
// (PostgreSQL would hold its NOTIFY lock, which serializes the commits of notifying
// transactions, while the commit waits for the disk) and from the group commit's
// goroutine.
func (s *Store) wakeOthers(context.Context) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.notifyTimer != nil || s.ctx.Err() != nil {
		return // one is coming, after this commit
	}
	s.wg.Add(1)
	s.notifyTimer = time.AfterFunc(notifyDelay, func() {
		defer s.wg.Done()
		s.notifyMu.Lock()
		s.notifyTimer = nil
		s.notifyMu.Unlock()
		if _, err := s.pool.Exec(s.ctx, s.sql(qNotify), s.channel, s.self); err != nil && s.ctx.Err() == nil {
			s.cfg.logger.Warn("storepg: notifying the other instances failed; they find the deliveries at their next poll", "err", err)
		}
	})
}

// stopNotify cancels a notification not sent yet (at Close).
func (s *Store) stopNotify() {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.notifyTimer != nil && s.notifyTimer.Stop() {
		s.notifyTimer = nil
		s.wg.Done()
	}
}
