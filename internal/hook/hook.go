// Package hook calls the application: the HTTP requests Herald makes to
// it before admitting a subscriber or publisher (authorize_request), when
// a streaming subscriber starts and ends (subscribe_request,
// unsubscribe_request), and before a message is published
// (publisher_upstream_request).
//
// Nchan points each hook at an nginx location that proxies to the
// application; Herald calls the application directly, with what such a
// proxy sends by default: the client's query arguments appended to the
// hook URL, the client's headers (cookies and Authorization included),
// and the headers the hook configures, like nginx's proxy_set_header,
// whose values may use variables ($nchan_channel_id, $http_NAME, ...). A
// hook is compiled once, at configuration, into a Hook that builds and
// sends its requests with its own timeout.
package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/location"
)

// DefaultTimeout is how long a hook waits for the application when its
// configuration names no timeout.
const DefaultTimeout = 5 * time.Second

// maxAnswer caps the bytes of an application's answer that Herald reads
// (an authorization refusal's body, a rewritten message).
const maxAnswer = 16 << 20

// Config is a hook as written in the configuration, before it is compiled.
type Config struct {
	// Name names the hook in metrics (its configuration key).
	Name string
	// URL is the application's URL (http or https), a template.
	URL string
	// Timeout bounds the whole exchange; 0 is DefaultTimeout.
	Timeout time.Duration
	// Headers are set on the request, in order: name → template. A value
	// that evaluates to "" leaves the header out, as nginx does.
	Headers [][2]string
	// PassRequestHeaders sends the client's headers along (default on).
	PassRequestHeaders *bool
	// PassRequestBody sends the publisher's body to authorize_request
	// (default off, as Nchan's authorization subrequest sends none).
	PassRequestBody bool
}

// Header is one configured request header.
type Header struct {
	Name  string
	Value location.Expr
}

// Hook is a compiled hook: where it calls, how long it waits, what it
// sends.
type Hook struct {
	// Name names the hook in metrics (its configuration key).
	Name               string
	URL                location.Expr
	Timeout            time.Duration
	Headers            []Header
	PassRequestHeaders bool
	PassRequestBody    bool

	client *http.Client
}

// Compile checks a configured hook and compiles its templates.
func Compile(c Config) (*Hook, error) {
	u, err := location.Compile(strings.TrimSpace(c.URL))
	if err != nil {
		return nil, fmt.Errorf("hook url: %w", err)
	}
	if err := checkURL(u); err != nil {
		return nil, err
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("hook timeout %v: must not be negative", c.Timeout)
	}
	h := &Hook{Name: c.Name, URL: u, Timeout: c.Timeout, PassRequestHeaders: true, PassRequestBody: c.PassRequestBody}
	if h.Timeout == 0 {
		h.Timeout = DefaultTimeout
	}
	if c.PassRequestHeaders != nil {
		h.PassRequestHeaders = *c.PassRequestHeaders
	}
	for _, kv := range c.Headers {
		if !validHeaderName(kv[0]) {
			return nil, fmt.Errorf("hook header name %q: not a valid header name", kv[0])
		}
		v, err := location.Compile(kv[1])
		if err != nil {
			return nil, fmt.Errorf("hook header %s: %w", kv[0], err)
		}
		h.Headers = append(h.Headers, Header{Name: http.CanonicalHeaderKey(kv[0]), Value: v})
	}
	h.client = &http.Client{
		Timeout: h.Timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: h.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: h.Timeout,
			DisableCompression:    true,
		},
		// An application's redirect is its answer, as through nginx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

// checkURL checks that a URL template names an http or https application:
// its text up to the first variable must begin with the scheme, and a URL
// without variables must parse with a host.
func checkURL(u location.Expr) error {
	src := u.String()
	lower := strings.ToLower(src)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Errorf("hook url %q: want an http:// or https:// URL of the application", src)
	}
	if u.IsLiteral() {
		p, err := url.Parse(src)
		if err != nil {
			return fmt.Errorf("hook url %q: %w", src, err)
		}
		if p.Host == "" {
			return fmt.Errorf("hook url %q: no host", src)
		}
	}
	return nil
}

// validHeaderName reports whether s is an HTTP header name (a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hopHeaders are the client's headers a proxy does not pass on: they
// describe the client's connection, not the request.
var hopHeaders = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Expect"}

// Build makes the hook's request for a client request: method, the URL
// with the client's query arguments appended (unless the URL has its own),
// the client's headers if the hook passes them, then extra, then the
// configured headers; body may be nil.
func (h *Hook) Build(ctx context.Context, method string, vars location.Request, body []byte, extra http.Header) (*http.Request, error) {
	target := h.URL.Eval(vars)
	if vars.HTTP != nil && vars.HTTP.URL.RawQuery != "" && !strings.Contains(target, "?") {
		target += "?" + vars.HTTP.URL.RawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("hook request %s %q: %w", method, target, err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		return nil, fmt.Errorf("hook request %q: not an http or https URL", target)
	}
	if body == nil {
		req.ContentLength = 0
		req.Body = http.NoBody
	}
	if h.PassRequestHeaders && vars.HTTP != nil {
		for k, v := range vars.HTTP.Header {
			req.Header[k] = append([]string(nil), v...)
		}
		for _, k := range hopHeaders {
			req.Header.Del(k)
		}
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	for _, hd := range h.Headers {
		v := hd.Value.Eval(vars)
		if v == "" || !validHeaderValue(v) {
			req.Header.Del(hd.Name)
			continue
		}
		req.Header.Set(hd.Name, v)
	}
	return req, nil
}

// Answer is the application's answer to a hook request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrTimeout is a hook the application did not answer in time.
var ErrTimeout = errors.New("application did not answer in time")

// do sends a request and reads the answer. A failure wraps ErrTimeout
// when the application was too slow.
func (h *Hook) do(req *http.Request) (*Answer, error) {
	if observerFrom(req.Context()) == nil {
		return h.exchange(req)
	}
	start := time.Now()
	a, err := h.exchange(req)
	h.observed(req.Context(), start, a)
	return a, err
}

// exchange sends a request and reads the answer (see do).
func (h *Hook) exchange(req *http.Request) (*Answer, error) {
	resp, err := h.client.Do(req)
	if err != nil {
		if isTimeout(err) {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ErrTimeout)
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if isTimeout(err) {
			return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Redacted(), ErrTimeout)
		}
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Call builds and sends the hook's request and returns the application's
// answer.
func (h *Hook) Call(ctx context.Context, method string, vars location.Request, body []byte, header http.Header) (*Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := h.Build(ctx, method, vars, body, header)
	if err != nil {
		return nil, err
	}
	return h.do(req)
}

// FailureStatus is the status a client gets when a hook request failed:
// 504 when the application was too slow, 502 when it could not be reached
// or answered garbage, as nginx's proxy answers.
func FailureStatus(err error) int {
	if errors.Is(err, ErrTimeout) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
