package server

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/http1"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// maxBatch is the most messages a streaming subscriber is sent in one write.
const maxBatch = 64

// maxParts is the most pieces one message's encoding has (see format), and
// maxIovecs the most pieces one write of a batch has: a batch ends before
// a message could pass it. It stays well under the kernel's IOV_MAX
// (1024), so a batch is one writev.
const (
	maxParts  = 1 + 2*esMaxLines
	maxIovecs = 4 * maxBatch
)

// output is where a streaming subscriber's bytes go: a hijacked HTTP/1.1
// connection, or an HTTP/2 stream.
type output interface {
	// write sends bufs in one batch, failing if the client accepts nothing
	// for the send timeout.
	write(bufs [][]byte) error
	// gone is closed when the client goes away.
	gone() <-chan struct{}
	// close ends the response and releases the connection.
	close()
}

// connOutput is a hijacked HTTP/1.1 (or WebSocket) connection. Its reader
// goroutine only watches for the client going away (or, for WebSocket,
// reads frames); writes come from its fan-out group's writer or its own
// streamer (see fanout.go).
type connOutput struct {
	conn     net.Conn
	timeout  time.Duration
	deadline time.Time  // write deadline set on conn; renewed when half spent
	mu       sync.Mutex // serialises writes (WebSocket control replies)
	done     chan struct{}
	once     sync.Once
	// closeSent records that a WebSocket close frame went out, so the
	// client's answering close is not echoed again.
	closeSent atomic.Bool

	// For a fan-out group's writer (see fanout.go): raw is the connection's
	// descriptor for non-blocking writes (nil when it has none, as with
	// TLS); pending holds what a non-blocking write left unwritten, which
	// goes out before anything else; goneFn runs when the client leaves.
	raw     syscall.RawConn
	pending [][]byte
	goneFn  func()
}

func newConnOutput(conn net.Conn, timeout time.Duration) *connOutput {
	return &connOutput{conn: conn, timeout: timeout, done: make(chan struct{}), raw: rawConnOf(conn)}
}

func (o *connOutput) write(bufs [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 {
		bufs = append(o.pending, bufs...)
		o.pending = nil
	}
	if o.timeout > 0 {
		// Renewing the deadline costs a poller update per write; renew it
		// only when half of it is spent, so a write still gets between
		// half and all of send_timeout to make progress.
		if now := time.Now(); o.deadline.Sub(now) < o.timeout/2 {
			o.deadline = now.Add(o.timeout)
			o.conn.SetWriteDeadline(o.deadline)
		}
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(o.conn)
	return err
}

func (o *connOutput) gone() <-chan struct{} { return o.done }

// markGone records that the client went away.
func (o *connOutput) markGone() {
	o.once.Do(func() {
		o.mu.Lock()
		close(o.done)
		f := o.goneFn
		o.mu.Unlock()
		if f != nil {
			f()
		}
	})
}

// direct implements directOutput.
func (o *connOutput) direct() bool { return o.raw != nil }

// tryWrite implements directOutput.
func (o *connOutput) tryWrite(sc *writeScratch, bufs [][]byte) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 {
		// Not reached by a group writer (a member whose write was left
		// pending has left its group), but bytes must never overtake
		// what is pending.
		o.pending = append(o.pending, copyBufs(bufs, 0)...)
		return false, nil
	}
	if !o.deadline.IsZero() {
		// Non-blocking writes need no deadline, and a passed one would
		// fail them.
		o.deadline = time.Time{}
		o.conn.SetWriteDeadline(o.deadline)
	}
	n, total, err := sc.writev(o.raw, bufs)
	if err != nil {
		return false, err
	}
	if n < total {
		o.pending = copyBufs(bufs, n)
		return false, nil
	}
	return true, nil
}

// onGone implements directOutput.
func (o *connOutput) onGone(f func()) {
	o.mu.Lock()
	o.goneFn = f
	gone := false
	select {
	case <-o.done:
		gone = true
	default:
	}
	o.mu.Unlock()
	if gone && f != nil {
		f()
	}
}

func (o *connOutput) close() {
	o.markGone()
	o.conn.Close()
}

// watchClose reads and discards until the connection ends. Streaming HTTP
// clients send nothing after their request; the read only detects that
// they left, so subscriber counts drop at once.
func (o *connOutput) watchClose() {
	var b [16]byte
	for {
		if _, err := o.conn.Read(b[:]); err != nil {
			o.markGone()
			return
		}
	}
}

// h2Output is an HTTP/2 stream (or an HTTP/1 connection that cannot be
// hijacked): writes go through the ResponseWriter and are flushed.
type h2Output struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	done    <-chan struct{}
	finish  chan struct{}
}

func (o *h2Output) write(bufs [][]byte) error {
	if o.timeout > 0 {
		o.rc.SetWriteDeadline(time.Now().Add(o.timeout))
	}
	for _, b := range bufs {
		if _, err := o.w.Write(b); err != nil {
			return err
		}
	}
	return o.rc.Flush()
}

func (o *h2Output) gone() <-chan struct{} { return o.done }

func (o *h2Output) close() {}

// isTimeout reports whether err is a write deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// appendHead appends an HTTP/1.1 response head, for a hijacked
// connection's first write: the fields as net/http (and internal/http1)
// write them.
func appendHead(b []byte, status int, h http.Header) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = protocol.AppendStatusLine(b, status, "")
	b = append(b, "\r\n"...)
	b = http1.AppendFields(b, h)
	return append(b, "\r\n"...)
}

// format is one streaming transport's encoding.
type format interface {
	// message appends to bufs the pieces of one message, delivered with id
	// (the subscriber's id after this message): at most maxParts slices,
	// which may be slices of the message's body. single is set for a
	// subscriber of one channel, whose encoding every such subscriber
	// shares.
	message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte
	// ping returns keep-alive bytes, or nil.
	ping() []byte
	// end returns the bytes that end the stream as e says (a status of 0
	// is a plain close), or nil.
	end(e streamEnd) []byte
}

// streamer runs one streaming subscriber: it reads every message after the
// session's cursors, writes them in batches, and waits for more. A
// subscriber of one channel on a plain connection is written by its
// channel's fan-out writer instead (see fanout.go) until it needs a
// goroutine of its own.
type streamer struct {
	s      *Server
	ss     *session
	out    output
	f      format
	ping   time.Duration
	linger time.Duration // after writing an ending, wait this long for the client to close.

	fw     *fanWriter   // the fan-out writer serving it, if any
	slot   int          // index in fw.members; -1 when not a member
	direct directOutput // out, as the fan-out writer writes it
}

// run serves the subscriber on its own goroutine until the session ends.
func (st *streamer) run() { st.ss.end(st.loop()) }

// detach serves a subscriber that leaves its fan-out writer because its
// connection did not take a whole write: it finishes that write under the
// send timeout and goes on as run does.
func (st *streamer) detach() {
	if err := st.out.write(nil); err != nil {
		st.ss.end(st.writeFailed(err))
		return
	}
	st.run()
}

// endWith writes bufs and the ending e, then ends the session.
func (st *streamer) endWith(bufs [][]byte, e streamEnd) {
	st.finish(bufs, e)
	st.ss.end(e.why)
}

// streamEnd is how a stream ends instead of going on: the status its
// ending reports, a text for it, and the reason.
type streamEnd struct {
	status  int
	text    string
	why     endReason
	restart bool // the server restarts as another process: reconnect
}

var (
	endSlow     = streamEnd{status: http.StatusServiceUnavailable, text: "Subscriber Too Slow", why: endTooSlow}
	endTimedOut = streamEnd{status: http.StatusRequestTimeout, why: endTimeout}
	endShutDown = streamEnd{status: http.StatusServiceUnavailable, why: endShutdown}
	// endRestart ends a stream in a handover: the server restarts as a new
	// process, which the client reconnects to.
	endRestart = streamEnd{status: http.StatusServiceUnavailable, why: endShutdown, restart: true}
)

// storeEnd is the reason a store error ends a session.
func storeEnd(err error) endReason {
	switch {
	case errors.Is(err, store.ErrGone):
		return endDeleted
	case errors.Is(err, store.ErrConflict):
		return endConflict
	}
	return endStoreError
}

// collect appends to bufs the encodings of the next messages after the
// session's cursors, at most maxBatch messages in at most maxIovecs
// pieces, and says how many messages it took. Once it has every message
// it returns the channels to wait on; when the stream must end instead
// (the channel deleted, the subscriber too slow) it returns how.
func (st *streamer) collect(bufs [][]byte) (_ [][]byte, msgs int, _ []<-chan struct{}, _ *streamEnd) {
	ss := st.ss
	for ; msgs < maxBatch && len(bufs) <= maxIovecs-maxParts; msgs++ {
		m, idx, w, missed, err := ss.nextStream()
		if err != nil {
			return bufs, msgs, nil, &streamEnd{status: storeError(err).status, why: storeEnd(err)}
		}
		if missed {
			st.s.log.Warn("subscriber too slow: messages left the buffer before it read them; disconnecting",
				"transport", ss.kind, "remote", ss.remote)
			return bufs, msgs, nil, &endSlow
		}
		if m == nil {
			return bufs, msgs, w, nil
		}
		bufs = st.f.message(bufs, m, ss.multiID(idx), ss.single)
	}
	return bufs, msgs, nil, nil
}

// loop serves the subscriber until its session must end, and says why.
func (st *streamer) loop() endReason {
	ss := st.ss
	var pingC, timeoutC <-chan time.Time
	if st.ping > 0 {
		t := time.NewTicker(st.ping)
		defer t.Stop()
		pingC = t.C
	}
	var idle *time.Timer
	timeout := ss.rt.Subscriber.Timeout
	if timeout > 0 {
		idle = time.NewTimer(timeout)
		defer idle.Stop()
		timeoutC = idle.C
	}
	bufs := make([][]byte, 0, 4)
	quit := st.s.quit // nil once it waits for its moment in a handover
	for {
		var waits []<-chan struct{}
		var end *streamEnd
		var n int
		bufs, n, waits, end = st.collect(bufs[:0])
		if end != nil {
			st.finish(bufs, *end)
			return end.why
		}
		if n > 0 {
			nb := bufsLen(bufs)
			if err := st.out.write(bufs); err != nil {
				return st.writeFailed(err)
			}
			st.s.delivered(ss, n, nb)
			clear(bufs)
			if idle != nil {
				idle.Reset(timeout)
			}
			if len(waits) == 0 {
				continue
			}
		}
		switch st.s.waitAnyQuit(waits, st.out.gone(), timeoutC, pingC, quit) {
		case clientGone:
			return endClientGone
		case timedOut:
			if quit == nil {
				st.finish(nil, endRestart)
				return endRestart.why
			}
			st.finish(nil, endTimedOut)
			return endTimedOut.why
		case shuttingDown:
			if d := st.s.handoverDelay(); d != nil {
				// Another process took over: go on delivering until a
				// random moment, then end with the transport's restart
				// hint, so clients reconnect there spread out.
				quit, timeoutC = nil, d
				continue
			}
			st.finish(nil, endShutDown)
			return endShutDown.why
		case pinged:
			if p := st.f.ping(); p != nil {
				if err := st.out.write([][]byte{p}); err != nil {
					return st.writeFailed(err)
				}
			}
		}
	}
}

// writeFailed says why a failed write ends the session: a client that
// accepted nothing for send_timeout is too slow; otherwise it is gone.
func (st *streamer) writeFailed(err error) endReason {
	if isTimeout(err) {
		st.s.log.Warn("subscriber too slow: nothing accepted within send_timeout; disconnecting",
			"transport", st.ss.kind, "remote", st.ss.remote, "send_timeout", st.ss.rt.Subscriber.SendTimeout)
		return endTooSlow
	}
	return endClientGone
}

// finish writes what is pending plus the ending e, best effort.
func (st *streamer) finish(bufs [][]byte, e streamEnd) {
	if end := st.f.end(e); end != nil {
		bufs = append(bufs, end)
		if co, ok := st.out.(*connOutput); ok && st.ss.kind == "websocket" {
			co.closeSent.Store(true)
		}
	}
	if len(bufs) > 0 {
		st.out.write(bufs)
	}
	if st.linger > 0 {
		t := time.NewTimer(st.linger)
		defer t.Stop()
		select {
		case <-st.out.gone():
		case <-t.C:
		}
	}
}

// inlineMax is the largest encoding written as one piece: below it, a
// subscriber's write is cheaper as one contiguous buffer (one iovec per
// message in a batch) than as framing around the body in place, and the
// copy of the body costs little. Larger bodies are held once and
// referenced.
const inlineMax = 2048

// inline returns e as one piece when it is small (see inlineMax).
func inline(e store.Encoding) store.Encoding {
	if len(e.Parts) < 2 {
		return e
	}
	n := 0
	for _, p := range e.Parts {
		n += len(p)
	}
	if n > inlineMax {
		return e
	}
	b := make([]byte, 0, n)
	for _, p := range e.Parts {
		b = append(b, p...)
	}
	return store.Encoding{Parts: [][]byte{b}, Own: cap(b)}
}
