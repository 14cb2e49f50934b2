package bench

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errStopped is a subscriber's connection attempt cut short by the run
// ending.
var errStopped = errors.New("stopped")

// readBufSize is the read buffer of a subscriber connection while its own
// goroutine reads it (connecting, long-poll; established streams are read
// by the reactor, with one 64 KiB buffer per reading goroutine). It is
// large enough that a server writing many messages at once is read in one
// system call, as a browser would: a smaller buffer would charge batching
// servers extra reads.
const readBufSize = 4096

// subscriber is one subscriber connection (one "session" in churn): it
// connects, reads messages until the run stops it or the server ends it,
// and keeps its own delivery record.
type subscriber struct {
	r   *runner
	ch  *channel
	id  int
	src net.IP

	onConnect    func(ok bool) // called once: established, or failed before
	wasConnected bool
	floor        uint64       // ch.next when established (written before estab)
	estab        atomic.Int64 // unix nanos when established; 0 before
	tr           seqTracker
	maxSeen      atomic.Int64 // mirrors tr.max for the drain check; -1: none
	distinct     atomic.Uint64
	lastRecv     int64 // unix nanos of the last delivery
	readAt       int64 // unix nanos the bytes being parsed were read; 0: now
	churned      atomic.Bool
	exited       atomic.Bool

	// storm: a subscriber dropped in the storm is resumed by a successor
	// that carries on its record (inherited) and asks the server for what
	// came after lastID (ES: the last id field read; resumeID: what the
	// successor sends as Last-Event-ID).
	resumed    atomic.Bool // its record carries on in a successor
	inherited  bool        // it carries on a dropped subscriber's record
	keepID     bool        // EventSource: keep the last id field in lastID
	lastID     []byte
	resumeID   string
	stormGot   int // copies of the mid-storm message received
	replayed   int // copies of messages received before the drop, again
	outOfOrder int // earlier messages received after a later one, after the drop

	mu        sync.Mutex
	conn      net.Conn
	closed    bool
	endStream func(err error, abort bool) // ends a stream the reactor reads
	rawFD     atomic.Int32                // the reactor's descriptor for it; 0: none
}

// setConn records the connection so stop can close it; false if the
// subscriber was already stopped (c is then closed).
func (s *subscriber) setConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conn = c
	return true
}

// stop closes the subscriber's connection; its goroutine then ends. abort
// resets the connection instead of closing it gracefully, so it leaves no
// socket in TIME_WAIT holding a port for a minute: the end of a run frees
// every port it used for the next run.
func (s *subscriber) stop(abort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		if tc, ok := s.conn.(*net.TCPConn); ok && abort {
			tc.SetLinger(0)
		}
		s.conn.Close()
	}
	if s.endStream != nil {
		s.endStream(net.ErrClosed, abort)
	}
}

// readLoop reads c on the calling goroutine until the stream ends, feeding
// what arrives to feed and calling eof at the end of the connection.
func readLoop(c net.Conn, feed func([]byte) error, eof func() error) error {
	return readUntil(c, feed, eof, func() bool { return false })
}

// readUntil is readLoop that also stops, returning nil, once done reports
// true after a feed.
func readUntil(c net.Conn, feed func([]byte) error, eof func() error, done func() bool) error {
	buf := make([]byte, readBufSize)
	for !done() {
		n, err := c.Read(buf)
		if n > 0 {
			if ferr := feed(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return eof()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *subscriber) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// connected marks the subscription established; t0 is when connecting
// began.
func (s *subscriber) connected(t0 time.Time) {
	now := time.Now()
	if s.inherited {
		s.r.storm.handshakeHist.Record(s.id, now.Sub(t0))
		s.r.storm.noteEstablished(now)
	} else {
		s.floor = s.ch.next.Load()
		s.r.connectHist.Record(s.id, now.Sub(t0))
	}
	s.estab.Store(now.UnixNano())
	s.wasConnected = true
	s.r.connected.Add(1)
	s.r.noteEstablished(now)
	s.ch.live.Add(1)
	if s.onConnect != nil {
		s.onConnect(true)
		s.onConnect = nil
	}
}

// deliver records one received message from the start of its body.
func (s *subscriber) deliver(p []byte) {
	now := s.readAt
	if now == 0 {
		now = time.Now().UnixNano()
	}
	seq, ts, ok := parseBody(messageBody(p))
	if !ok || seq >= s.ch.next.Load() {
		s.r.malformed.Add(1)
		return
	}
	s.r.deliveries.Add(1)
	s.lastRecv = now
	if ts >= s.estab.Load() {
		s.r.deliveryHist.Record(s.id, time.Duration(now-ts))
	} else {
		s.r.backlog.Add(1) // published before this subscriber was there
	}
	if s.inherited {
		s.r.storm.delivered(s, seq, ts, now)
	}
	if s.tr.add(seq, s.ch.ordered) != deliveryDuplicate {
		s.distinct.Add(1)
		s.maxSeen.Store(int64(s.tr.max))
	}
}

// caughtUp reports whether the subscriber has everything acknowledged on
// its channel so far (as far as counting tells).
func (s *subscriber) caughtUp() bool {
	if s.estab.Load() == 0 {
		return true
	}
	la := s.ch.lastAcked.Load()
	if la < 0 {
		return true
	}
	if s.maxSeen.Load() < la {
		return false
	}
	return s.floor > 0 || s.distinct.Load() >= uint64(s.ch.ackedN.Load())
}

// run is the subscriber's goroutine.
func (s *subscriber) run() {
	defer s.r.subWG.Done()
	var err error
	switch s.r.cfg.Transport {
	case TransportEventSource:
		err = s.runStream(true)
	case TransportChunked:
		err = s.runStream(false)
	case TransportLongPoll, TransportIntervalPoll:
		err = s.runLongPoll()
	case TransportWebSocket:
		err = s.runWebSocket()
	}
	switch {
	case !s.wasConnected:
		if !s.stopped() {
			s.r.connectFailed.Add(1)
			s.r.countError("connect", err)
		}
		if s.onConnect != nil {
			s.onConnect(false)
			s.onConnect = nil
		}
	case err != nil && !s.stopped():
		s.r.streamErrors.Add(1)
		s.r.countError("subscriber", err)
	}
	s.r.ended(s)
}
