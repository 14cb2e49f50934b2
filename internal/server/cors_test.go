package server_test

// CORS: the Access-Control headers of subscribers, allowed origins and
// preflight requests.

import (
	"net/http"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	const origin = "http://app.example"
	checkCORS := func(t *testing.T, h http.Header, origin string) {
		t.Helper()
		if got := h.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
		}
		if got := h.Get("Access-Control-Expose-Headers"); got != "Last-Modified, Etag, Content-Type" {
			t.Errorf("Access-Control-Expose-Headers %q, want %q", got, "Last-Modified, Etag, Content-Type")
		}
	}
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"eventsource", []string{"Accept", "text/event-stream"}},
		{"chunked", []string{"TE", "chunked"}},
		{"multipart", []string{"Accept", "multipart/mixed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openRaw(t, s, "GET", "/sub/cors"+tc.name, append([]string{"Origin", origin}, tc.headers...)...)
			if c.Status != http.StatusOK {
				t.Fatalf("status %d", c.Status)
			}
			checkCORS(t, c.Header, origin)
			// Without an Origin: no CORS headers.
			p := openRaw(t, s, "GET", "/sub/cors"+tc.name, tc.headers...)
			if v := p.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("Access-Control-Allow-Origin %q without an Origin", v)
			}
		})
	}
	t.Run("long-poll", func(t *testing.T) {
		publish(t, s, "corslp", "m")
		r := do(t, "GET", s.URL+"/sub/corslp", "", "Origin", origin)
		if r.Status != http.StatusOK || r.Body != "m" {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
		checkCORS(t, r.Header, origin)
	})
	t.Run("allowed origin list", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			headers []string
		}{
			{"eventsource", []string{"Accept", "text/event-stream"}},
			{"websocket", wsHeaders()},
			{"long-poll", nil},
		} {
			c := openRaw(t, s, "GET", "/cors/x"+tc.name, append([]string{"Origin", "http://evil.example"}, tc.headers...)...)
			if c.Status != http.StatusForbidden {
				t.Errorf("%s from http://evil.example: status %d, want 403", tc.name, c.Status)
			}
		}
		c := openRaw(t, s, "GET", "/cors/xgood", "Origin", "http://good.example", "Accept", "text/event-stream")
		if c.Status != http.StatusOK {
			t.Fatalf("from http://good.example: status %d, want 200", c.Status)
		}
		checkCORS(t, c.Header, "http://good.example")
		c.expect(t, ": hi\n\n")
		id, _ := publish(t, s, "xgood", "welcome")
		c.expect(t, sseEvent("", id.String(), "welcome"))
		// No Origin (same-origin or non-browser client): allowed.
		if n := openRaw(t, s, "GET", "/cors/xgood", "Accept", "text/event-stream"); n.Status != http.StatusOK {
			t.Errorf("without Origin: status %d, want 200", n.Status)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		c := openRaw(t, s, "OPTIONS", "/sub/pre", "Origin", origin, "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "etag")
		if c.Status != http.StatusOK {
			t.Fatalf("OPTIONS: status %d, want 200", c.Status)
		}
		allowed := map[string]bool{}
		for h := range strings.SplitSeq(c.Header.Get("Access-Control-Allow-Headers"), ",") {
			allowed[strings.ToLower(strings.TrimSpace(h))] = true
		}
		for _, h := range []string{"etag", "if-none-match", "if-modified-since", "last-event-id"} {
			if !allowed[h] {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", c.Header.Get("Access-Control-Allow-Headers"), h)
			}
		}
		if m := c.Header.Get("Access-Control-Allow-Methods"); m != "GET" {
			t.Errorf("Access-Control-Allow-Methods %q, want GET", m)
		}
		if got := c.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
		}
	})
}
