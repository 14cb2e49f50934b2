package server

import (
	"strings"
	"testing"
)

func TestRedirectURL(t *testing.T) {
	for _, c := range []struct {
		target, path, query string
		ok                  bool
	}{
		{"/internal/sub/ch", "/internal/sub/ch", "", true},
		{"/internal/sub/ch?x=1&y=2", "/internal/sub/ch", "x=1&y=2", true},
		{"/internal/sub/a%20b", "/internal/sub/a b", "", true},
		{"/internal/../etc", "", "", false},
		{"/internal/%2e%2e/etc", "", "", false},
		{"internal/sub/ch", "", "", false},
		{"//evil.example/x", "", "", false},
		{"http://evil.example/x", "", "", false},
		{"@named", "", "", false},
		{"", "", "", false},
	} {
		u, ok := redirectURL(c.target)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.target, ok, c.ok)
			continue
		}
		if ok && (u.Path != c.path || u.RawQuery != c.query) {
			t.Errorf("%q: path %q query %q, want %q %q", c.target, u.Path, u.RawQuery, c.path, c.query)
		}
	}
}

func FuzzRedirectURL(f *testing.F) {
	for _, s := range []string{"/internal/sub/ch?x=1", "/a/../b", "/%2e%2e/", "//h/p", "/a%zz", "/?#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, ok := redirectURL(target)
		if !ok {
			return
		}
		if !strings.HasPrefix(u.Path, "/") || u.Host != "" || u.Scheme != "" {
			t.Fatalf("%q: accepted as %#v", target, u)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == ".." {
				t.Fatalf("%q: accepted with a .. segment: %q", target, u.Path)
			}
		}
	})
}
