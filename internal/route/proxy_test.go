package route

import (
	"net/url"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
)

// proxyRoute provisions a one-location configuration and returns its
// route and pattern.
func proxyRoute(t testing.TB, pattern, proxyPass string) (*Route, location.Pattern) {
	t.Helper()
	cfg, err := config.Parse([]byte("servers:\n  - listen: 127.0.0.1:0\n    locations:\n      - location: "+pattern+"\n        proxy_pass: "+proxyPass+"\n"), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	l := &cfg.Servers[0].Locations[0]
	return Provision(l, nil), l.Pattern
}

func TestProxyTarget(t *testing.T) {
	for _, c := range []struct {
		pattern, proxyPass, request, want string
	}{
		// No path: the request's own path and query.
		{"/sub/", "http://app:8080", "/sub/a?x=1", "http://app:8080/sub/a?x=1"},
		{"~ ^/sub/(.+)$", "http://app", "/sub/a%20b?x=1", "http://app/sub/a%20b?x=1"},
		// A literal URL with a path on a prefix location replaces the prefix.
		{"/sub/", "http://app/auth/", "/sub/a?x=1", "http://app/auth/a?x=1"},
		{"^~ /pub", "http://app/p", "/pub/b", "http://app/p/b"},
		{"= /pub", "http://app/publish", "/pub", "http://app/publish"},
		// Variables and a path: the URL as it evaluates.
		{"~ ^/sub/(\\w+)$", "http://app/auth?ch=$1&u=$arg_user", "/sub/abc?user=u1", "http://app/auth?ch=abc&u=u1"},
		{"~ ^/sub/(\\w+)$", "https://app/auth/$1", "/sub/abc?x=1", "https://app/auth/abc"},
		{"~ ^/sub/(\\w+)$", "http://app/$request_uri", "/sub/abc?x=1", "http://app//sub/abc?x=1"},
		{"/h/", "http://app/by-header/$http_x_user", "/h/x", "http://app/by-header/bob"},
	} {
		rt, pat := proxyRoute(t, c.pattern, c.proxyPass)
		if rt.Proxy == nil {
			t.Fatalf("%s: no proxy", c.pattern)
		}
		r := request("GET", c.request, "X-User", "bob")
		_, caps, ok := location.NewMatcher([]location.Pattern{pat}).Match(r.URL.Path)
		if !ok {
			t.Fatalf("%s does not match %s", c.pattern, c.request)
		}
		got, err := rt.Proxy.Target(location.Request{HTTP: r, Captures: caps}, r.URL)
		if err != nil {
			t.Errorf("%s %s → %s: %v", c.pattern, c.proxyPass, c.request, err)
			continue
		}
		if got.String() != c.want {
			t.Errorf("%s %s, request %s: %s, want %s", c.pattern, c.proxyPass, c.request, got, c.want)
		}
	}
}

func TestProxyTargetBadURL(t *testing.T) {
	rt, _ := proxyRoute(t, `"~ ^/sub/(.*)$"`, "http://$1")
	r := request("GET", "/sub/")
	if _, err := rt.Proxy.Target(location.Request{HTTP: r, Captures: []string{"/sub/", ""}}, r.URL); err == nil {
		t.Error("a URL without a host should be refused")
	}
}

func FuzzProxyTarget(f *testing.F) {
	f.Add("http://app/auth/", "/sub/a?x=1")
	f.Add("http://app", "/sub/%2F..%2F?x")
	f.Add("http://app/x/$1", "/sub/a b")
	f.Fuzz(func(t *testing.T, proxyPass, path string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		e, err := location.Compile(proxyPass)
		if err != nil {
			return
		}
		p := &Proxy{URL: e, Prefix: "/sub/"}
		r := request("GET", "/")
		r.URL = u
		got, err := p.Target(location.Request{HTTP: r, Captures: []string{path, path}}, u)
		if err != nil {
			return
		}
		if got.Scheme != "http" && got.Scheme != "https" || got.Host == "" {
			t.Fatalf("%q with %q: target %s", proxyPass, path, got)
		}
	})
}
