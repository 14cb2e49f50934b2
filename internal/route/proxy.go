package route

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
)

// Proxy is what a proxy_pass location does: forward each request to an
// application, whose answer is relayed or, with X-Accel-Redirect, names
// the location that serves the request instead (package server does both).
type Proxy struct {
	// URL is the application's URL, with the location's variables.
	URL location.Expr
	// Prefix, when set, is the matched prefix a literal URL with a path
	// replaces (nginx's proxy_pass on a prefix location).
	Prefix string
	// ConnectTimeout bounds connecting to the application
	// (proxy_connect_timeout); 0 never times out.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for the answer's head and between two
	// reads of its body (proxy_read_timeout); 0 never times out.
	ReadTimeout time.Duration
	// MaxBodySize caps a request body (client_max_body_size); 0: no limit.
	MaxBodySize int64
	// BodyTimeout is the longest wait between two reads of the request
	// body (client_body_timeout); 0 never times out.
	BodyTimeout time.Duration
}

func newProxy(l *config.Location) *Proxy {
	if l.ProxyPass.IsEmpty() {
		return nil
	}
	p := &Proxy{URL: l.ProxyPass, ConnectTimeout: l.ProxyConnectTimeout, ReadTimeout: l.ProxyReadTimeout,
		MaxBodySize: l.ClientMaxBodySize, BodyTimeout: l.ClientBodyTimeout}
	switch l.Pattern.Kind {
	case location.Prefix, location.PriorityPrefix, location.Exact:
		if l.ProxyPass.IsLiteral() {
			p.Prefix = l.Pattern.Path
		}
	}
	return p
}

// Target returns the URL a request is forwarded to: the expression's
// value; without a path, the request's own path and query; a literal URL
// with a path on a prefix location, that path in place of the matched
// prefix, with the request's query. u is the request's current URL (its
// path after any internal redirect).
func (p *Proxy) Target(vars location.Request, u *url.URL) (*url.URL, error) {
	raw := p.URL.Eval(vars)
	t, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy_pass %q: %w", raw, err)
	}
	if t.Scheme != "http" && t.Scheme != "https" || t.Host == "" {
		return nil, fmt.Errorf("proxy_pass %q: not an http:// or https:// URL", raw)
	}
	switch {
	case t.Path == "" && t.RawQuery == "":
		t.Path, t.RawPath, t.RawQuery = u.Path, u.RawPath, u.RawQuery
	case p.Prefix != "":
		rest, ok := strings.CutPrefix(u.EscapedPath(), p.Prefix)
		if !ok {
			rest = strings.TrimPrefix(u.EscapedPath(), "/")
		}
		joined, err := url.Parse(t.EscapedPath() + rest)
		if err != nil {
			return nil, fmt.Errorf("proxy_pass %q with path %q: %w", raw, u.Path, err)
		}
		t.Path, t.RawPath = joined.Path, joined.RawPath
		if u.RawQuery != "" {
			t.RawQuery = u.RawQuery
		}
	}
	return t, nil
}
