package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/route"
)

// maxInternalRedirects is how many internal redirects one request may go
// through; one more answers 500, as nginx's limit on URI changes.
const maxInternalRedirects = 10

// proxyKeepMax is the most of a request body kept for an internal
// redirect when the proxy location sets no client_max_body_size.
const proxyKeepMax = 16 << 20

// redirectHeaders are the headers of an application's X-Accel-Redirect
// answer that go on to the answer of the redirected request; nginx passes
// these (and Content-Type, which every answer of a Herald location sets
// for itself) and drops the rest.
var redirectHeaders = [...]string{"Set-Cookie", "Content-Disposition", "Cache-Control", "Expires", "Accept-Ranges"}

// newProxyTransport returns the HTTP client side of a proxy_pass location.
// Idle connections close on their own, so a router replaced by a reload
// leaves nothing behind.
func newProxyTransport(p *route.Proxy) *http.Transport {
	d := &net.Dialer{Timeout: p.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   p.ConnectTimeout,
		ResponseHeaderTimeout: p.ReadTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   64,
	}
}

// accelRedirect is an application's X-Accel-Redirect answer: where the
// request goes next and the headers that go with it.
type accelRedirect struct {
	target string
	header http.Header
}

func (a *accelRedirect) Error() string { return "X-Accel-Redirect to " + a.target }

// proxy forwards a request to the application of a proxy_pass location
// and relays its answer, or serves the request again at the path of its
// X-Accel-Redirect (an internal redirect, within the same router).
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, rr *router, rt *route.Route, caps []string, redirects int) {
	p := rt.Proxy
	target, err := p.Target(location.Request{HTTP: r, Captures: caps}, r.URL)
	if err != nil {
		s.log.Warn("proxy_pass", "location", rt.Name, "err", err)
		plainError(w, http.StatusInternalServerError, "")
		return
	}
	if p.MaxBodySize > 0 && r.ContentLength > p.MaxBodySize {
		plainError(w, http.StatusRequestEntityTooLarge, "Request body too large (client_max_body_size).")
		return
	}
	keep := int64(proxyKeepMax)
	if p.MaxBodySize > 0 {
		keep = p.MaxBodySize
	}
	body := &keptBody{under: r.Body, max: p.MaxBodySize, keep: keep, budget: &s.budget,
		rc: http.NewResponseController(w), timeout: p.BodyTimeout}
	defer body.release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	in := r.WithContext(ctx)
	in.Body = body
	var redirect *accelRedirect
	var stalled atomic.Bool
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = ""
			pr.SetXForwarded()
		},
		Transport:     rr.proxies[rt],
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ModifyResponse: func(res *http.Response) error {
			if v := res.Header.Get("X-Accel-Redirect"); v != "" {
				rd := &accelRedirect{target: v, header: http.Header{}}
				for _, k := range redirectHeaders {
					if vs := res.Header.Values(k); len(vs) > 0 {
						rd.header[k] = vs
					}
				}
				return rd
			}
			for k := range res.Header {
				if strings.HasPrefix(k, "X-Accel-") { // nginx's proxy_hide_header defaults
					delete(res.Header, k)
				}
			}
			if p.ReadTimeout > 0 && res.StatusCode != http.StatusSwitchingProtocols {
				res.Body = newIdleBody(res.Body, p.ReadTimeout, func() { stalled.Store(true); cancel() })
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if errors.As(err, &redirect) {
				return
			}
			switch berr := body.failure(); {
			case errors.Is(berr, errBodyTooLarge):
				plainError(w, http.StatusRequestEntityTooLarge, "Request body too large (client_max_body_size).")
			case errors.Is(berr, errBodyTimeout):
				s.log.Warn("client too slow: nothing received within client_body_timeout", "remote", r.RemoteAddr, "location", rt.Name)
				w.Header().Set("Connection", "close")
				plainError(w, http.StatusRequestTimeout, "Request body not received within client_body_timeout.")
			case errors.Is(berr, errBodyBudget):
				s.log.Warn("proxied request refused: bodies being received would pass max_body_memory", "remote", r.RemoteAddr, "location", rt.Name)
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				plainError(w, http.StatusServiceUnavailable, "Too many messages being received; try again later.")
			case r.Context().Err() != nil:
				// The client is gone: nobody to answer.
			case isTimeout(err) || stalled.Load():
				s.log.Warn("proxy_pass: application timed out", "location", rt.Name, "url", target.Redacted(), "err", err)
				plainError(w, http.StatusGatewayTimeout, "")
			default:
				s.log.Warn("proxy_pass: application unreachable", "location", rt.Name, "url", target.Redacted(), "err", err)
				plainError(w, http.StatusBadGateway, "")
			}
		},
	}
	rp.ServeHTTP(w, in)
	if redirect != nil {
		s.internalRedirect(w, r, rr, redirect, body, redirects)
	}
}

// internalRedirect serves r again at an X-Accel-Redirect target: the
// target's path and query replace the request's, while its method,
// headers (and so a WebSocket upgrade), body and $request_uri stay.
func (s *Server) internalRedirect(w http.ResponseWriter, r *http.Request, rr *router, rd *accelRedirect, body *keptBody, redirects int) {
	if redirects+1 > maxInternalRedirects {
		s.log.Warn("internal redirection cycle", "path", r.URL.Path, "target", rd.target)
		plainError(w, http.StatusInternalServerError, "")
		return
	}
	u, ok := redirectURL(rd.target)
	if !ok {
		s.log.Warn("X-Accel-Redirect: bad target", "path", r.URL.Path, "target", rd.target)
		plainError(w, http.StatusNotFound, "")
		return
	}
	for k, v := range rd.header {
		w.Header()[k] = v
	}
	r2 := r.Clone(r.Context())
	r2.URL = u
	r2.Body = body.replay()
	s.log.Debug("internal redirect", "from", r.URL.Path, "to", u.Path)
	s.dispatch(w, r2, rr, redirects+1)
}

// redirectURL parses an X-Accel-Redirect target: an absolute path with an
// optional query and no ".." segment (as nginx's unsafe-URI check).
func redirectURL(target string) (*url.URL, bool) {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return nil, false
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." {
			return nil, false
		}
	}
	return &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}, true
}

// carryRedirectHeaders copies into the head of an answer written by hand
// (on a hijacked connection) the headers an X-Accel-Redirect answer passed
// on (see redirectHeaders) that the head does not set itself.
func carryRedirectHeaders(dst, src http.Header) {
	for _, k := range redirectHeaders {
		if v, ok := src[k]; ok {
			if _, set := dst[k]; !set {
				dst[k] = v
			}
		}
	}
}

// errBodyTooLarge ends a proxied request body longer than
// client_max_body_size.
var errBodyTooLarge = errors.New("request body larger than client_max_body_size")

// errBodyDetached answers a read of a proxied body after an internal
// redirect took it over.
var errBodyDetached = errors.New("request body taken over by an internal redirect")

// keptBody is a request body streamed to the application that keeps what
// it passed on (up to keep bytes, counted against max_body_memory), so
// that an internal redirect (to a publisher, say) can read the whole body
// again. Reads are serialized: the transport reads it from its own
// goroutine, which may still be reading when the application has already
// answered.
type keptBody struct {
	under   io.ReadCloser
	max     int64 // client_max_body_size; 0: no limit
	keep    int64 // most bytes kept
	budget  *bodyBudget
	rc      *http.ResponseController
	timeout time.Duration // client_body_timeout; 0: none

	mu       sync.Mutex
	n        int64
	kept     []byte
	held     int64 // bytes of kept counted in budget
	overflow bool  // more than keep bytes passed: the copy is incomplete
	err      error // errBodyTooLarge, errBodyTimeout or errBodyBudget, once failed
	deadline bool  // a read deadline is set on the connection
	detached bool
}

func (b *keptBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, errBodyDetached
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.timeout > 0 {
		// Renewed before every read: the longest wait between two.
		b.rc.SetReadDeadline(time.Now().Add(b.timeout))
		b.deadline = true
	}
	n, err := b.under.Read(p)
	if err != nil && isTimeout(err) {
		b.err = errBodyTimeout
		return 0, b.err
	}
	if err != nil {
		b.clearDeadline()
	}
	b.n += int64(n)
	if b.max > 0 && b.n > b.max {
		b.err = errBodyTooLarge
		return 0, b.err
	}
	if !b.overflow {
		if int64(len(b.kept)+n) > b.keep {
			b.overflow, b.kept = true, nil
			b.budget.release(b.held)
			b.held = 0
		} else if !b.budget.reserve(int64(n)) {
			b.err = errBodyBudget
			return 0, b.err
		} else {
			b.held += int64(n)
			b.kept = append(b.kept, p[:n]...)
		}
	}
	return n, err
}

// clearDeadline lifts the read deadline Read set: the connection reads on
// after the body (the next request, or a client leaving).
func (b *keptBody) clearDeadline() {
	if b.deadline {
		b.rc.SetReadDeadline(time.Time{})
		b.deadline = false
	}
}

// Close leaves the request's body open: an internal redirect may read the
// rest of it, and the HTTP server closes it.
func (b *keptBody) Close() error { return nil }

// failure is why reading the body failed, if it did.
func (b *keptBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// release detaches the body and gives back the bytes kept.
func (b *keptBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	b.clearDeadline()
	b.budget.release(b.held)
	b.held = 0
}

// replay detaches the body from the transport (waiting for a read in
// progress) and returns the whole body: what was passed on, then the rest.
// The kept bytes stay counted until release.
func (b *keptBody) replay() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	b.clearDeadline()
	if b.overflow {
		return io.NopCloser(errReader{errors.New("request body too large to be kept across an internal redirect")})
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b.kept), b.under), b.under}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// idleBody is an application's answer body whose reads may not stall for
// longer than timeout (proxy_read_timeout); a stalled read calls stall,
// which cancels the exchange.
type idleBody struct {
	rc      io.ReadCloser
	timeout time.Duration
	t       *time.Timer
}

func newIdleBody(rc io.ReadCloser, timeout time.Duration, stall func()) *idleBody {
	t := time.AfterFunc(timeout, stall)
	t.Stop()
	return &idleBody{rc: rc, timeout: timeout, t: t}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.t.Reset(b.timeout)
	n, err := b.rc.Read(p)
	b.t.Stop()
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.rc.Close()
}
