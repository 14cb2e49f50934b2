package server_test

// CORS: the Access-Control headers of every answer to a cross-origin
// request, errors included, as Nchan sends them; allowed origins (a list,
// "*", variables); preflight requests.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// corsConfig has a location for each access setting and each kind of
// answer the CORS tests need.
var corsConfig = testConfig(nil,
	prefixLocation("pub", "publisher: true", "client_max_body_size: 10"),
	prefixLocation("sub", "subscriber: true"),
	prefixLocation("ok", "pubsub: true", "access_control_allow_origin: https://ok.example"),
	prefixLocation("okpub", "publisher: true", "access_control_allow_origin: https://ok.example https://ok2.example"),
	prefixLocation("var", "pubsub: true", "access_control_allow_origin: $arg_origin"),
	prefixLocation("star", "pubsub: true", `access_control_allow_origin: "*"`),
	prefixLocation("nocred", "pubsub: true", "access_control_allow_credentials: off"),
	prefixLocation("existing", "subscriber: true", "subscribe_existing_channels_only: on"),
	prefixLocation("max", "subscriber: true", "max_channel_subscribers: 1"),
	prefixLocation("first", "subscriber: longpoll", "subscriber_concurrency: first"),
	prefixLocation("lpto", "subscriber: longpoll", "subscriber_timeout: 300ms"),
	prefixLocation("ip", "subscriber: intervalpoll"),
)

// TestCORSEveryAnswer: with an Origin, every answer of a location carries
// Access-Control-Allow-Origin (the request's origin, or "*" for a location
// that allows "*") and Access-Control-Allow-Credentials (unless turned
// off), whatever its status; the answers of long-poll and interval-poll
// subscribers, which carry message ids, also expose them
// (Access-Control-Expose-Headers) and vary on them. Measured on Nchan
// 1.3.6; 413 and 507 are Herald's own (nginx answers a body over
// client_max_body_size before Nchan runs, without CORS headers, and Nchan
// answers a full store with nginx's 500 page).
func TestCORSEveryAnswer(t *testing.T) {
	t.Parallel()
	s := startServer(t, corsConfig)
	const origin = "https://ok.example"
	publish(t, s, "full", "m")
	// Held subscribers for the 403, 409 and 410 cases.
	held := func(target, ch string) {
		async(t, 5*time.Second, "GET", s.URL+target, "")
		waitSubscribers(t, s, ch, 1)
	}
	held("/max/maxed", "maxed")
	held("/first/taken", "taken")
	gone := async(t, 5*time.Second, "GET", s.URL+"/sub/gone", "", "Origin", origin)
	waitSubscribers(t, s, "gone", 1)
	deleteChannel(t, s, "gone")

	tests := []struct {
		name         string
		method, path string
		body         string
		headers      []string
		status       int
		allowOrigin  string // "" : the request's Origin
		noCreds      bool
		exposed      bool // a poll answer: Expose-Headers and Vary
	}{
		{"publish", "POST", "/pub/a", "x", nil, http.StatusAccepted, "", false, false},
		{"channel info", "GET", "/pub/full", "", nil, http.StatusOK, "", false, false},
		{"channel info 404", "GET", "/pub/none", "", nil, http.StatusNotFound, "", false, false},
		{"delete 404", "DELETE", "/pub/none", "", nil, http.StatusNotFound, "", false, false},
		{"publish 413", "POST", "/pub/a", "01234567890123", nil, http.StatusRequestEntityTooLarge, "", false, false},
		{"publishing on a subscriber location 403", "POST", "/sub/a", "x", nil, http.StatusForbidden, "", false, false},
		{"forbidden origin 403", "GET", "/ok/a", "", []string{"Origin", "https://bad.example"}, http.StatusForbidden, "https://bad.example", false, false},
		{"forbidden origin on a publisher 403", "POST", "/okpub/a", "x", []string{"Origin", "https://bad.example"}, http.StatusForbidden, "https://bad.example", false, false},
		{"forbidden origin, preflight 403", "OPTIONS", "/ok/a", "", []string{"Origin", "https://bad.example"}, http.StatusForbidden, "https://bad.example", false, false},
		{"second origin of a list", "POST", "/okpub/a", "x", []string{"Origin", "https://ok2.example"}, http.StatusAccepted, "https://ok2.example", false, false},
		{"origin from a variable", "POST", "/var/a?origin=https://v.example", "x", []string{"Origin", "https://v.example"}, http.StatusAccepted, "https://v.example", false, false},
		{"other origin than the variable's 403", "POST", "/var/a?origin=https://v.example", "x", []string{"Origin", "https://w.example"}, http.StatusForbidden, "https://w.example", false, false},
		{"empty variable allows none 403", "POST", "/var/a", "x", []string{"Origin", "https://w.example"}, http.StatusForbidden, "https://w.example", false, false},
		{"star", "POST", "/star/a", "x", nil, http.StatusAccepted, "*", false, false},
		{"credentials off", "POST", "/nocred/a", "x", nil, http.StatusAccepted, "", true, false},
		{"bad message id 400", "GET", "/sub/full", "", []string{"If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT", "If-None-Match", "1,2"}, http.StatusBadRequest, "", false, false},
		{"long-poll message", "GET", "/sub/full", "", nil, http.StatusOK, "", false, true},
		{"existing channels only 403", "GET", "/existing/none", "", nil, http.StatusForbidden, "", false, true},
		{"subscriber limit 403", "GET", "/max/maxed", "", nil, http.StatusForbidden, "", false, true},
		{"subscriber concurrency 409", "GET", "/first/taken", "", nil, http.StatusConflict, "", false, true},
		{"interval-poll 304", "GET", "/ip/empty", "", nil, http.StatusNotModified, "", false, true},
		{"long-poll timeout 408", "GET", "/lpto/empty", "", nil, http.StatusRequestTimeout, "", false, true},
		{"preflight", "OPTIONS", "/sub/a", "", nil, http.StatusOK, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := append([]string{"Origin", origin}, tt.headers...)
			r := do(t, tt.method, s.URL+tt.path, tt.body, headers...)
			expectStatus(t, r, tt.status, tt.method+" "+tt.path)
			want := tt.allowOrigin
			if want == "" {
				want = headerValue(headers, "Origin")
			}
			checkCORS(t, r.Header, want, !tt.noCreds, tt.exposed)
		})
	}
	t.Run("channel deleted under a long-poll 410", func(t *testing.T) {
		r := recv(t, gone)
		expectStatus(t, r, http.StatusGone, "long-poll of a deleted channel")
		checkCORS(t, r.Header, origin, true, true)
	})
	t.Run("without an Origin: none", func(t *testing.T) {
		for _, target := range []string{"/pub/full", "/pub/none", "/sub/full", "/ok/full"} {
			r := do(t, "GET", s.URL+target, "")
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("GET %s without an Origin: %s: %q", target, k, r.Header.Get(k))
				}
			}
		}
	})
}

// TestCORSStoreFull: a publish the full store refuses (507) carries the
// CORS headers too.
func TestCORSStoreFull(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig([]string{"max_reserved_memory: 1M"}, prefixLocation("pub", "publisher: true", "client_max_body_size: 2m")))
	r := do(t, "POST", s.URL+"/pub/big", strings.Repeat("x", 1500*1024), "Origin", "https://ok.example")
	expectStatus(t, r, http.StatusInsufficientStorage, "publish over max_reserved_memory")
	checkCORS(t, r.Header, "https://ok.example", true, false)
}

// TestCORSStreams: streaming subscribers (and WebSocket handshakes) start
// with Access-Control-Allow-Origin and -Credentials, without
// Expose-Headers, as Nchan's do; a location's allowed origins apply to
// them.
func TestCORSStreams(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	const origin = "http://app.example"
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"eventsource", []string{"Accept", "text/event-stream"}, http.StatusOK},
		{"chunked", []string{"TE", "chunked"}, http.StatusOK},
		{"multipart", []string{"Accept", "multipart/mixed"}, http.StatusOK},
		{"websocket", wsHeaders(), http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openRaw(t, s, "GET", "/sub/cors"+tc.name, append([]string{"Origin", origin}, tc.headers...)...)
			if c.Status != tc.status {
				t.Fatalf("status %d, want %d", c.Status, tc.status)
			}
			checkCORS(t, c.Header, origin, true, false)
			// Without an Origin: no CORS headers.
			p := openRaw(t, s, "GET", "/sub/cors"+tc.name, tc.headers...)
			if v := p.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("Access-Control-Allow-Origin %q without an Origin", v)
			}
		})
	}
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
			if c.Status != http.StatusForbidden || c.body(t) != "" {
				t.Errorf("%s from http://evil.example: status %d, want 403 with an empty body", tc.name, c.Status)
			}
			checkCORS(t, c.Header, "http://evil.example", true, false)
		}
		c := openRaw(t, s, "GET", "/cors/xgood", "Origin", "http://good.example", "Accept", "text/event-stream")
		if c.Status != http.StatusOK {
			t.Fatalf("from http://good.example: status %d, want 200", c.Status)
		}
		checkCORS(t, c.Header, "http://good.example", true, false)
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
		checkCORS(t, c.Header, origin, true, false)
	})
}
