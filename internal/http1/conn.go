package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A connection's state, as Shutdown sees it.
const (
	stateIdle   int32 = iota // waiting for a request
	stateActive              // reading or answering one
	stateClosed              // closed by Shutdown
)

// bufSize is the size of a connection's read and write buffers; a request
// head that does not fit in it goes to net/http.
const bufSize = 4 << 10

// maxPostHandlerRead is how much of a body the handler left unread is
// read and dropped to keep the connection; more, and it is closed.
const maxPostHandlerRead = 256 << 10

var (
	crlfcrlf     = []byte("\r\n\r\n")
	aLongTimeAgo = time.Unix(1, 0)
)

// conn is one client connection.
type conn struct {
	s      *Server
	rwc    net.Conn
	remote string
	state  atomic.Int32
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer // nil but while a response is written (see writer)
	tmpl   http.Request  // the fields every request shares, copied by WithContext
	fields fieldStore    // the requests' header fields
	out    http.Header   // the answers' header fields, emptied for each
	resp   *response     // the answer, reused from request to request
	num    [24]byte      // for formatting numbers into the write buffer
	// deadlines is set when a handler set a read or write deadline, which
	// the next request must not inherit.
	deadlines bool

	mu        sync.Mutex // guards what follows: the watch for a client that leaves
	canWatch  bool       // a handler runs and its request body is read
	watching  bool
	watchDone sync.WaitGroup // the watch's read has returned
	clientErr error          // the watch saw the client leave
	cancel    context.CancelFunc
}

// connReader reads the connection, first giving back the byte a watch
// read (the start of a pipelined request).
type connReader struct {
	c    *conn
	held bool
	b    byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.held {
		r.held = false
		p[0] = r.b
		return 1, nil
	}
	return r.c.rwc.Read(p)
}

// serve reads and answers requests until the connection closes, is
// hijacked or handed to net/http.
func (c *conn) serve() {
	// A PROXY protocol connection reads its header here.
	c.remote = c.rwc.RemoteAddr().String()
	c.cr.c = c
	if br, ok := c.s.readers.Get().(*bufio.Reader); ok {
		br.Reset(&c.cr)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(&c.cr, bufSize)
	}
	c.tmpl = http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: c.remote}
	for {
		if d := c.s.IdleTimeout; d > 0 {
			c.rwc.SetReadDeadline(time.Now().Add(d))
		}
		if _, err := c.br.Peek(1); err != nil {
			c.close()
			return
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // Shutdown closed it
		}
		h, n, ok, err := c.readHead()
		if err != nil {
			c.close()
			return
		}
		if !ok {
			c.handoff()
			return
		}
		if c.s.ReadHeaderTimeout > 0 || c.s.IdleTimeout > 0 {
			c.rwc.SetReadDeadline(time.Time{})
		}
		c.br.Discard(n)
		keep, hijacked, bodyLeft := c.serveRequest(&h)
		if hijacked {
			return
		}
		if bodyLeft {
			c.closeWriteAndWait()
		}
		if c.deadlines {
			c.deadlines = false
			c.rwc.SetWriteDeadline(time.Time{})
			c.rwc.SetReadDeadline(time.Time{})
		}
		if !keep || !c.state.CompareAndSwap(stateActive, stateIdle) {
			c.close()
			return
		}
	}
}

// readHead reads a request head, n bytes, leaving it in the buffer. ok is
// false when the request is not one the fast path serves.
func (c *conn) readHead() (h head, n int, ok bool, err error) {
	from, deadline := 0, false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(buf[from:], crlfcrlf); i >= 0 {
			n = from + i + 4
			if h, ok = parseHead(buf[:n], &c.fields); !ok {
				return h, 0, false, nil
			}
			return h, n, true, nil
		}
		if len(buf) >= c.br.Size() {
			return h, 0, false, nil // a large head: net/http's
		}
		from = max(len(buf)-3, 0)
		// The head usually arrives in one read: the deadline for the rest
		// of it is set only when it did not.
		if d := c.s.ReadHeaderTimeout; d > 0 && !deadline {
			c.rwc.SetReadDeadline(time.Now().Add(d))
			deadline = true
		}
		if _, err = c.br.Peek(len(buf) + 1); err != nil {
			return h, 0, false, err
		}
	}
}

// handoff gives the connection, from the request it has not consumed, to
// net/http.
func (c *conn) handoff() {
	c.state.Store(stateClosed)
	c.s.untrack(c)
	if c.s.Handoff == nil {
		c.rwc.Close()
		return
	}
	c.rwc.SetReadDeadline(time.Time{})
	c.s.Handoff(&handedConn{Conn: c.rwc, r: c.br})
}

// handedConn is a connection handed to net/http: reads start with what
// the fast path has buffered.
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// rstAvoidanceDelay is how long a connection closed with part of a
// request body unread waits after its answer, as net/http waits: closing
// at once would reset it, and the client could lose the answer.
const rstAvoidanceDelay = 500 * time.Millisecond

// closeWriteAndWait ends the sending side and gives the client time to
// read the answer before the connection closes.
func (c *conn) closeWriteAndWait() {
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	time.Sleep(rstAvoidanceDelay)
}

func (c *conn) close() {
	c.s.untrack(c)
	c.rwc.Close()
	c.releaseReader()
}

// releaseReader gives the read buffer back to the pool; the connection
// reads no more.
func (c *conn) releaseReader() {
	if c.br != nil {
		c.br.Reset(nil)
		c.s.readers.Put(c.br)
		c.br = nil
	}
}

// serveRequest runs the handler for one request and finishes its answer.
// keep reports whether the connection can take another request.
func (c *conn) serveRequest(h *head) (keep, hijacked, bodyLeft bool) {
	base := c.s.BaseContext
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	x := new(requestState)
	var b *body
	x.url = h.url
	c.tmpl.Method, c.tmpl.URL, c.tmpl.Header = h.method, &x.url, h.header
	c.tmpl.Host, c.tmpl.RequestURI, c.tmpl.Close = h.host, h.target, h.close
	c.tmpl.ContentLength, c.tmpl.Body = h.contentLength, http.NoBody
	if h.contentLength > 0 {
		b = &body{c: c}
		b.remaining.Store(h.contentLength)
		c.tmpl.Body = b
	}
	rc := &x.ctx
	rc.Context = ctx
	rc.c.Store(c)
	r := c.tmpl.WithContext(rc)
	c.tmpl.URL, c.tmpl.Header, c.tmpl.Body = nil, nil, nil
	w := c.resp
	if w == nil {
		w = new(response)
		c.resp = w
	}
	if c.out != nil {
		clear(c.out)
	}
	*w = response{c: c, ctx: rc, req: r, body: b, cl: -1, closeAfter: h.close, hdr: c.out}

	c.mu.Lock()
	c.canWatch, c.cancel, c.clientErr = b == nil, cancel, nil
	c.mu.Unlock()
	panicked := c.runHandler(w, r)
	c.stopWatch()
	cancel()
	if w.hijacked.Load() {
		return false, true, false
	}
	if panicked {
		return false, false, false
	}
	w.finish()
	c.releaseWriter()
	c.mu.Lock()
	gone := c.clientErr != nil
	c.mu.Unlock()
	return w.err == nil && !w.closeAfter && !gone, false, w.bodyLeft
}

// requestState is a request's context and URL, in one allocation. A
// stream keeps its request, and so both, for its life: nothing that is
// done with when the handler returns shares their allocation.
type requestState struct {
	ctx reqCtx
	url url.URL
}

// runHandler calls the handler, recovering (and logging, as net/http
// does) a panic.
func (c *conn) runHandler(w *response, r *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v != http.ErrAbortHandler && c.s.Log != nil {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.Log.Error("http: panic serving "+c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	c.s.Handler.ServeHTTP(w, r)
	return false
}

// watch starts a read that notices the client leaving while the handler
// waits, and then cancels the request context (as net/http's background
// read does). It starts only once the request body is read and nothing
// more is buffered: a pipelined request shows the client still there.
func (c *conn) watch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.canWatch || c.watching || c.br == nil || c.br.Buffered() > 0 || c.cr.held {
		return
	}
	c.watching = true
	c.watchDone.Add(1)
	go c.backgroundRead()
}

func (c *conn) backgroundRead() {
	defer c.watchDone.Done()
	var b [1]byte
	n, err := c.rwc.Read(b[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == 1 {
		c.cr.held, c.cr.b = true, b[0]
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.clientErr = err
		c.cancel()
	}
}

// stopWatch ends the watch, if one runs, before the connection is read
// again.
func (c *conn) stopWatch() {
	c.mu.Lock()
	c.canWatch = false
	w := c.watching
	c.watching = false
	c.mu.Unlock()
	if !w {
		return
	}
	c.rwc.SetReadDeadline(aLongTimeAgo)
	c.watchDone.Wait()
	c.rwc.SetReadDeadline(time.Time{})
}

// bodyRead notes the request body read to its end: a watch may start.
func (c *conn) bodyRead() {
	c.mu.Lock()
	c.canWatch = c.cancel != nil
	c.mu.Unlock()
}

// reqCtx is a request's context: asking for its Done channel starts the
// watch for the client leaving, so a handler that never waits costs no
// read and no goroutine.
type reqCtx struct {
	context.Context
	c atomic.Pointer[conn] // nil once hijacked: a stream keeps no buffers
}

// Done starts the watch (see conn.watch) and returns the context's Done.
func (x *reqCtx) Done() <-chan struct{} {
	if c := x.c.Load(); c != nil {
		c.watch()
	}
	return x.Context.Done()
}

// writer returns the connection's write buffer, taking one from the
// server's pool when it has none.
func (c *conn) writer() *bufio.Writer {
	if c.bw == nil {
		if bw, ok := c.s.writers.Get().(*bufio.Writer); ok {
			bw.Reset(c.rwc)
			c.bw = bw
		} else {
			c.bw = bufio.NewWriterSize(c.rwc, bufSize)
		}
	}
	return c.bw
}

// releaseWriter gives an emptied write buffer back to the pool, so a
// connection waiting for its next request holds none.
func (c *conn) releaseWriter() {
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		c.s.writers.Put(c.bw)
		c.bw = nil
	}
}

// body is a request body of a known length.
type body struct {
	c         *conn
	remaining atomic.Int64
	closed    bool
	err       error
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	rem := b.remaining.Load()
	if rem == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.c.br.Read(p)
	rem -= int64(n)
	b.remaining.Store(rem)
	if rem == 0 {
		b.c.bodyRead()
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Buffered returns how much of the rest of the body the connection has
// read ahead: reading that much will not wait for the client.
func (b *body) Buffered() int64 {
	return min(b.remaining.Load(), int64(b.c.br.Buffered()))
}

func (b *body) Close() error {
	b.closed = true
	return nil
}

// discard reads and drops what the handler left of the body, if it is
// small enough, and reports whether the connection can be kept.
func (b *body) discard() bool {
	rem := b.remaining.Load()
	if rem == 0 {
		return true
	}
	if b.err != nil || rem > maxPostHandlerRead {
		return false
	}
	n, err := io.CopyN(io.Discard, b.c.br, rem)
	b.remaining.Add(-n)
	return err == nil
}
