package server

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/route"
)

// Receiving publishes.
//
// A publisher's HTTP body and a WebSocket client's message are read as
// they arrive: a buffer grows with the bytes received, never to the length
// a header declares, and client_body_timeout bounds the wait between two
// reads. What a server holds of publishes still arriving counts against
// one budget, max_body_memory, so many slow or hostile clients cannot
// make it hold more.

// bodyBudget counts the bytes of HTTP bodies and WebSocket messages being
// received, across the server, against max_body_memory.
type bodyBudget struct {
	limit    atomic.Int64 // max_body_memory; 0: no limit (a reload may change it)
	used     atomic.Int64 // bytes held
	bodies   atomic.Int64 // HTTP bodies being read
	messages atomic.Int64 // WebSocket frames or messages in progress
}

// reserve counts n more bytes; false, counting nothing, if they would pass
// the limit.
func (b *bodyBudget) reserve(n int64) bool {
	if n <= 0 {
		return true
	}
	if used, limit := b.used.Add(n), b.limit.Load(); limit > 0 && used > limit {
		b.used.Add(-n)
		return false
	}
	return true
}

// release gives back n bytes counted by reserve.
func (b *bodyBudget) release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// Receiving is what a server is receiving from publishers at one moment.
type Receiving struct {
	// Bodies is the number of HTTP request bodies being read.
	Bodies int64
	// Messages is the number of WebSocket connections in the middle of a
	// frame or a fragmented message.
	Messages int64
	// Bytes is what those hold so far, counted against Limit
	// (max_body_memory; 0 is no limit).
	Bytes, Limit int64
}

// Receiving reports the request bodies and WebSocket messages the server
// is receiving, and the bytes they hold against max_body_memory.
func (s *Server) Receiving() Receiving {
	b := &s.budget
	return Receiving{Bodies: b.bodies.Load(), Messages: b.messages.Load(), Bytes: b.used.Load(), Limit: b.limit.Load()}
}

// Body reading errors, besides *http.MaxBytesError for a body over
// client_max_body_size.
var (
	errBodyTimeout = errors.New("request body: nothing received within client_body_timeout")
	errBodyBudget  = errors.New("request body: bodies being received would pass max_body_memory")
)

// Body buffers: a body whose length is known and at most smallBody is
// read into one buffer of its size; any other starts at firstBodyBuffer
// and doubles as bytes arrive.
const (
	smallBody       = 4 << 10
	firstBodyBuffer = 512
)

// readBody reads a publisher's whole request body. It fails with
// *http.MaxBytesError past the location's client_max_body_size (0: no
// limit, as in nginx), errBodyTimeout when client_body_timeout passes
// between two reads, and errBodyBudget when the bytes would pass
// max_body_memory.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rt *route.Route) ([]byte, error) {
	return s.readBodyUpTo(w, r, rt, rt.Publisher.MaxBodySize)
}

// readBodyUpTo is readBody with limit in place of client_max_body_size.
func (s *Server) readBodyUpTo(w http.ResponseWriter, r *http.Request, rt *route.Route, limit int64) ([]byte, error) {
	size := r.ContentLength
	if limit > 0 && size > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if size == 0 {
		return []byte{}, nil
	}
	body := io.Reader(r.Body)
	if limit > 0 && size < 0 {
		// A body of a known length ends there: it was checked above.
		body = http.MaxBytesReader(w, r.Body, limit)
	}
	rc := http.NewResponseController(w)
	timeout := rt.Publisher.BodyTimeout
	b := &s.budget
	b.bodies.Add(1)
	var held int64
	defer func() {
		b.release(held)
		b.bodies.Add(-1)
	}()
	first := int64(firstBodyBuffer)
	if size > 0 && size <= smallBody {
		first = size
	}
	buf := make([]byte, 0, first)
	deadline := false
	for size < 0 || int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			grow := len(buf)
			if size > 0 {
				grow = int(min(int64(grow), size-int64(len(buf))))
			}
			buf = slices.Grow(buf, grow)
		}
		if timeout > 0 && !readAhead(r.Body, size-int64(len(buf))) {
			// Renewed before every read: the longest wait between two.
			rc.SetReadDeadline(time.Now().Add(timeout))
			deadline = true
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			if !b.reserve(int64(n)) {
				return nil, errBodyBudget
			}
			held += int64(n)
			buf = buf[:len(buf)+n]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isTimeout(err) {
				return nil, errBodyTimeout
			}
			return nil, err
		}
	}
	if deadline {
		// The connection reads on after the body (for the next request, or
		// to notice the client leaving): no deadline for that.
		rc.SetReadDeadline(time.Time{})
	}
	return buf, nil
}

// readAhead reports whether the rest of a body, n bytes, is already read
// from the connection (internal/http1's bodies know), so reading it cannot
// wait for the client and needs no deadline. A small body usually arrives
// with its request's head.
func readAhead(body io.Reader, n int64) bool {
	b, ok := body.(interface{ Buffered() int64 })
	return ok && n > 0 && b.Buffered() >= n
}

// bodyError answers a publish whose body could not be read; nothing was
// published.
func (s *Server) bodyError(w http.ResponseWriter, r *http.Request, rt *route.Route, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		plainError(w, http.StatusRequestEntityTooLarge, "Message is larger than client_max_body_size ("+strconv.FormatInt(rt.Publisher.MaxBodySize, 10)+" bytes).")
	case errors.Is(err, errBodyTimeout):
		s.log.Warn("publisher too slow: nothing received within client_body_timeout; nothing published",
			"remote", r.RemoteAddr, "location", rt.Name, "client_body_timeout", rt.Publisher.BodyTimeout)
		w.Header().Set("Connection", "close")
		plainError(w, http.StatusRequestTimeout, "Request body not received within client_body_timeout.")
	case errors.Is(err, errBodyBudget):
		s.log.Warn("publish refused: bodies being received would pass max_body_memory",
			"remote", r.RemoteAddr, "location", rt.Name, "max_body_memory", s.budget.limit.Load())
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		plainError(w, http.StatusServiceUnavailable, "Too many messages being received; try again later.")
	default:
		plainError(w, http.StatusBadRequest, "Could not read the request body.")
	}
}
