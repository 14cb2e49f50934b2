package server

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// endReason says why a subscriber's session ended.
type endReason uint8

const (
	endAnswered   endReason = iota // a poll got its answer
	endClientGone                  // the client went away
	endTimeout                     // subscriber_timeout passed
	endDeleted                     // the channel was deleted
	endConflict                    // a concurrency rule evicted it
	endTooSlow                     // it did not keep up
	endShutdown                    // the server is shutting down
	endStoreError                  // the store failed under it
	endClosed                      // the client closed the WebSocket
	endProtocol                    // the client broke the protocol
)

var endNames = [...]string{"answered", "client gone", "timeout", "channel deleted", "conflict",
	"too slow", "shutdown", "store error", "closed by client", "protocol error"}

func (r endReason) String() string { return endNames[r] }

// session is one subscriber's hold on its channels, from admission to its
// end: the store subscriptions, the cursor in each channel, and for a
// stream its connection. Whatever ends it (an answer, the client leaving,
// a timeout, a deleted channel, a slow reader, shutdown) calls end, which
// runs once.
type session struct {
	s    *Server
	rt   *route.Route
	kind string // transport name
	// remote is the client's address; key the first channel's key.
	remote string
	key    store.ChannelKey

	subs    []store.Subscription
	single  bool // one channel: fan-out writers may serve it
	given   bool // the request named a message id
	cursors []msgid.ID
	active  int // channel of the last message delivered (or named by the request).
	buf     []*store.Message
	pending []*store.Message // read ahead on a single channel, not yet delivered.
	readOne bool             // a read has been made: later misses are the subscriber's lag.

	// unsub is the unsubscribe_request notification a stream sends when
	// it ends, built when it starts; nil without one.
	unsub *http.Request
	shard int // the notification queue's shard of this subscriber

	out    output // a stream's connection; nil for a poll
	stream bool   // counted in s.streams

	// ev sends the subscriber's channel events; nil when its location
	// sends none (see chanevents.go).
	ev *chanevents.Sender
	// gotMessage records that a message was sent (for the receive events).
	gotMessage atomic.Bool

	ended atomic.Bool
	why   endReason
	// release gives back what the request's stages hold for the
	// session's life (a limit_conn slot).
	release func()
	// alog is the stream's access log; nil when it has none (a poll, or
	// no access log).
	alog *streamLog

	// Backing arrays for the single-channel case, so admitting a
	// subscriber allocates less and delivering a message nothing.
	tag1    [1]int32
	wait1   [1]<-chan struct{}
	cursor1 [1]msgid.ID
	buf1    [1]*store.Message
	sub1    [1]store.Subscription
	// hdrVals backs a poll answer's Content-Length and Content-Type.
	hdrVals [2]string
}

// admit subscribes to every channel of a prepared subscriber request and
// places its cursors. On failure nothing is held and the error says why.
func (s *Server) admit(q *route.Request, kind string, follow bool) (*session, error) {
	rt := q.Route
	ss := &session{
		s: s, rt: rt, kind: kind, remote: q.HTTP.RemoteAddr, key: q.Channels[0].Key,
		active: max(q.Cursor.Active, 0), single: len(q.Channels) == 1, given: q.Cursor.Given,
	}
	ss.buf = ss.buf1[:0]
	if ss.single {
		ss.cursors, ss.subs = ss.cursor1[:], ss.sub1[:0]
	} else {
		ss.cursors = make([]msgid.ID, len(q.Channels))
	}
	opts := rt.Subscriber.Options
	opts.Follow = follow
	ss.release = q.Detach()
	release := func() {
		ss.release()
		for _, sub := range ss.subs {
			sub.Close()
		}
	}
	for _, c := range q.Channels {
		start := s.opStart()
		sub, err := rt.Store.Subscribe(q.HTTP.Context(), c.Key, opts)
		s.storeOp("subscribe", rt, start, err, 0)
		if err != nil {
			release()
			return nil, err
		}
		ss.subs = append(ss.subs, sub)
	}
	for i, c := range q.Channels {
		if c.Given {
			ss.cursors[i] = c.Cursor
			continue
		}
		cur, err := ss.subs[i].Start(c.Start)
		if err != nil {
			release()
			return nil, err
		}
		ss.cursors[i] = cur
	}
	s.emit(events.Event{Kind: events.SubscriberJoined, Group: ss.key.Group, Channel: ss.key.ID,
		Channels: len(ss.subs), Transport: kind, Location: rt.Name, Remote: ss.remote})
	if follow && (rt.Hooks.Subscribe != nil || rt.Hooks.Unsubscribe != nil) {
		s.notifyStart(q, ss)
	}
	if rt.Events != nil {
		s.enqueued(ss, q)
	}
	return ss, nil
}

// notifyStart queues a stream's subscribe_request and builds the
// unsubscribe_request its end will queue (long-poll and interval-poll
// subscribers send neither, as in Nchan).
func (s *Server) notifyStart(q *route.Request, ss *session) {
	rt := q.Route
	vars := q.NchanVars()
	ss.shard = s.hooks.Shard()
	if h := rt.Hooks.Subscribe; h != nil {
		if req, err := h.Build(context.Background(), http.MethodGet, vars, nil, nil); err != nil {
			s.log.Error("subscribe_request", "location", rt.Name, "err", err)
		} else {
			s.hooks.Notify(h, req, ss.shard)
		}
	}
	if h := rt.Hooks.Unsubscribe; h != nil {
		req, err := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
		if err != nil {
			s.log.Error("unsubscribe_request", "location", rt.Name, "err", err)
			return
		}
		ss.unsub = req
	}
}

// end ends the session, once: it releases the channels and the
// connection, and reports why.
func (ss *session) end(why endReason) {
	if !ss.ended.CompareAndSwap(false, true) {
		return
	}
	ss.why = why
	for _, sub := range ss.subs {
		sub.Close()
	}
	ss.release()
	if ss.out != nil {
		ss.out.close()
	}
	if ss.unsub != nil {
		// Before the stream counts as done: shutdown waits for streams,
		// then sends what is queued.
		ss.s.hooks.Notify(ss.rt.Hooks.Unsubscribe, ss.unsub, ss.shard)
	}
	if ss.stream {
		ss.s.streams.done()
	}
	if ss.ev != nil {
		ss.dequeued(why)
	}
	e := events.Event{Group: ss.key.Group, Channel: ss.key.ID, Channels: len(ss.subs),
		Transport: ss.kind, Location: ss.rt.Name, Remote: ss.remote, Reason: why.String()}
	if why == endTooSlow {
		e.Kind = events.SubscriberTooSlow
		ss.s.emit(e)
	}
	e.Kind = events.SubscriberLeft
	ss.s.emit(e)
	if ss.alog != nil {
		ss.alog.ended(ss.s.now())
	}
}

// isOver reports whether the session has ended.
func (ss *session) isOver() bool { return ss.ended.Load() }

// next returns the earliest message after the cursors across the session's
// channels and the index of its channel; when there is none, the channels to
// wait on.
func (ss *session) next() (*store.Message, int, []<-chan struct{}, error) {
	var best *store.Message
	bestIdx := -1
	waits := ss.wait1[:0]
	for i, sub := range ss.subs {
		b, err := sub.Read(ss.cursors[i], ss.buf[:0], 1)
		if err != nil {
			return nil, -1, nil, err
		}
		if len(b.Messages) == 0 {
			waits = append(waits, b.Wait)
			continue
		}
		if best == nil || b.Messages[0].Before(best) {
			best, bestIdx = b.Messages[0], i
		}
	}
	if best != nil {
		ss.cursors[bestIdx] = best.ID
		ss.active = bestIdx
		return best, bestIdx, nil, nil
	}
	return nil, -1, waits, nil
}

// nextStream is next for streaming subscribers: on one channel it reads
// ahead in batches. missed reports that messages after the subscriber's
// position left the buffer before it could read them (it is too slow); a
// subscriber resuming from an old id is not counted as missing anything.
func (ss *session) nextStream() (m *store.Message, idx int, waits []<-chan struct{}, missed bool, err error) {
	first := !ss.readOne
	ss.readOne = true
	if len(ss.subs) != 1 {
		m, idx, waits, err = ss.next()
		return m, idx, waits, false, err
	}
	if len(ss.pending) == 0 {
		b, err := ss.subs[0].Read(ss.cursors[0], ss.buf[:0], maxBatch)
		if err != nil {
			return nil, -1, nil, false, err
		}
		if b.Missed && !first {
			return nil, -1, nil, true, nil
		}
		if len(b.Messages) == 0 {
			ss.wait1[0] = b.Wait
			return nil, -1, ss.wait1[:], false, nil
		}
		ss.buf = b.Messages
		ss.pending = b.Messages
	}
	m = ss.pending[0]
	ss.pending[0] = nil
	ss.pending = ss.pending[1:]
	ss.cursors[0] = m.ID
	return m, 0, nil, false, nil
}

// multiID is the id of the message just delivered from channel idx.
func (ss *session) multiID(idx int) msgid.Multi {
	if len(ss.cursors) == 1 {
		c := ss.cursors[0]
		ss.tag1[0] = c.Tag
		return msgid.Multi{Time: c.Time, Tags: ss.tag1[:], Active: 0}
	}
	return msgid.FromCursors(ss.cursors, idx)
}

// cursorID is the id a poll answered without a message stands at: the id
// the request named, or the zero id when it named none (where it started
// is the location's rule, not an id the client knows).
func (ss *session) cursorID() msgid.Multi {
	if !ss.given {
		return msgid.Multi{}
	}
	newest := ss.active
	for i, c := range ss.cursors {
		if c.Compare(ss.cursors[newest]) > 0 {
			newest = i
		}
	}
	return ss.multiID(newest)
}

// waitResult says why a wait ended.
type waitResult int

const (
	woken waitResult = iota
	clientGone
	timedOut
	shuttingDown
	pinged
)

// waitAny blocks until one of waits is closed, gone is closed (the client
// left), timeout or ping fires, or the server shuts down.
func (s *Server) waitAny(waits []<-chan struct{}, gone <-chan struct{}, timeout, ping <-chan time.Time) waitResult {
	return s.waitAnyQuit(waits, gone, timeout, ping, s.quit)
}

// waitAnyQuit is waitAny with the shutdown signal given: nil for a
// subscriber that already knows and waits for its moment in a handover.
func (s *Server) waitAnyQuit(waits []<-chan struct{}, gone <-chan struct{}, timeout, ping <-chan time.Time, quit <-chan struct{}) waitResult {
	var stop chan struct{}
	if len(waits) > 1 {
		stop = make(chan struct{})
		defer close(stop)
	}
	select {
	case <-anyOf(waits, stop):
		return woken
	case <-gone:
		return clientGone
	case <-timeout:
		return timedOut
	case <-ping:
		return pinged
	case <-quit:
		return shuttingDown
	}
}

// anyOf returns a channel that is closed when any of waits is. With several
// channels (a multiplexed subscriber, at most 255) a helper goroutine
// watches each until one fires or stop is closed.
func anyOf(waits []<-chan struct{}, stop <-chan struct{}) <-chan struct{} {
	if len(waits) == 1 {
		return waits[0]
	}
	fired := make(chan struct{})
	var once sync.Once
	for _, w := range waits {
		go func() {
			select {
			case <-w:
				once.Do(func() { close(fired) })
			case <-stop:
			}
		}()
	}
	return fired
}
