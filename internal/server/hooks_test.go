package server_test

// Application hooks (authorize_request, subscribe_request,
// unsubscribe_request, publisher_upstream_request) against a real HTTP
// application started by each test, over every transport.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// hookApp is the application the hooks call. By path: /allow admits,
// /deny refuses with 418, its own headers and body, /slow never answers
// (until the test ends), /notify/... records, /upstream rewrites,
// keeps, drops or rejects a message by its body.
type hookApp struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookCall
}

// hookCall is one request the application received.
type hookCall struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

func startHookApp(t *testing.T) *hookApp {
	t.Helper()
	release := make(chan struct{})
	a := &hookApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, hookCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(b), Header: r.Header})
		a.mu.Unlock()
		switch r.URL.Path {
		case "/allow", "/notify/sub", "/notify/unsub":
			w.WriteHeader(http.StatusOK)
		case "/deny":
			w.Header().Set("X-Banana", "too-ripe")
			w.Header().Set("Content-Type", "text/x-beef")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "no tea for you")
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/upstream":
			switch {
			case string(b) == "drop":
				w.WriteHeader(http.StatusNoContent)
			case string(b) == "reject":
				w.WriteHeader(http.StatusConflict)
			case strings.HasPrefix(string(b), "keep"):
				w.WriteHeader(http.StatusNotModified)
			default:
				w.Header().Set("Content-Type", "text/x-new")
				io.WriteString(w, "rewritten:"+string(b))
			}
		}
	}))
	t.Cleanup(a.Close)
	t.Cleanup(func() { close(release) }) // runs first: /slow answers, so Close returns
	return a
}

// calls returns the requests received on path.
func (a *hookApp) calls(path string) []hookCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []hookCall
	for _, c := range a.reqs {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// waitCalls waits until the application received n requests on path.
func (a *hookApp) waitCalls(t *testing.T, path string, n int) []hookCall {
	t.Helper()
	var got []hookCall
	waitFor(t, waitTimeout, path+" calls", func() bool { got = a.calls(path); return len(got) >= n })
	if len(got) != n {
		t.Fatalf("%d calls of %s, want %d", len(got), path, n)
	}
	return got
}

// authConfig has, for each authorization outcome (allow, deny, slow,
// down), subscriber locations per transport group and a publisher
// location: /<outcome>-lp/<id> (long-poll), /<outcome>-ip/<id>
// (interval-poll), /<outcome>-s/<id> (the streaming transports),
// /<outcome>-pub/<id>; and /pub/<id>, an open publisher.
func authConfig(a *hookApp, dead string) string {
	locs := []string{prefixLocation("pub", "publisher: true")}
	for _, o := range []struct{ name, url string }{
		{"allow", a.URL + "/allow"}, {"deny", a.URL + "/deny"}, {"slow", a.URL + "/slow"}, {"down", "http://" + dead + "/auth"},
	} {
		hook := "authorize_request: {url: \"" + o.url + "\", timeout: 300ms, headers: {X-Channel-Id: $nchan_channel_id, X-Channel-Id2: $nchan_channel_id2, X-Subscriber-Type: $nchan_subscriber_type, X-Publisher-Type: $nchan_publisher_type, X-Prev: $nchan_prev_message_id, X-Original-Uri: $request_uri, X-Empty: $arg_none}}"
		locs = append(locs,
			prefixLocation(o.name+"-lp", "subscriber: longpoll", hook),
			prefixLocation(o.name+"-ip", "subscriber: intervalpoll", hook),
			prefixLocation(o.name+"-s", "subscriber: [websocket, eventsource, chunked, multipart-mixed, http-raw-stream]", hook),
			prefixLocation(o.name+"-pub", "publisher: true", hook))
	}
	return testConfig(nil, locs...)
}

// subTransport is how a test opens one kind of subscriber.
type subTransport struct {
	name    string // as $nchan_subscriber_type
	prefix  string // location suffix: lp, ip or s
	headers []string
	ws      bool
}

var hookTransports = []subTransport{
	{"longpoll", "lp", nil, false},
	{"intervalpoll", "ip", nil, false},
	{"eventsource", "s", []string{"Accept", "text/event-stream"}, false},
	{"websocket", "s", wsHeaders(), true},
	{"http-chunked", "s", []string{"TE", "chunked"}, false},
	{"http-multipart", "s", []string{"Accept", "multipart/mixed"}, false},
	{"http-raw-stream", "s", nil, false},
}

func TestAuthorizeSubscriber(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, authConfig(a, deadAddr(t)))
	publish(t, s, "chan", "first")
	tests := []struct {
		outcome string
		status  int
	}{
		{"allow", 0}, // the transport's own answer
		{"deny", http.StatusTeapot},
		{"slow", http.StatusGatewayTimeout},
		{"down", http.StatusBadGateway},
	}
	for _, tr := range hookTransports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.outcome, func(t *testing.T) {
				target := "/" + tt.outcome + "-" + tr.prefix + "/chan,other?token=abc"
				c := openRaw(t, s, "GET", target, append([]string{"Cookie", "sid=42"}, tr.headers...)...)
				switch tt.outcome {
				case "allow":
					want := http.StatusOK
					if tr.ws {
						want = http.StatusSwitchingProtocols
					}
					if c.Status != want {
						t.Fatalf("status %d, want %d", c.Status, want)
					}
				case "deny":
					if !tr.ws && tr.prefix != "s" && c.Header.Get("Vary") != "If-None-Match, If-Modified-Since" {
						t.Errorf("poll refusal without the poll headers: %v", c.Header)
					}
					if c.Status != tt.status || c.Header.Get("X-Banana") != "too-ripe" || c.Header.Get("Content-Type") != "text/x-beef" {
						t.Fatalf("refusal %d %v, want the application's 418 and headers", c.Status, c.Header)
					}
					if b := c.body(t); b != "no tea for you" {
						t.Fatalf("refusal body %q, want the application's", b)
					}
				default:
					if c.Status != tt.status {
						t.Fatalf("status %d, want %d", c.Status, tt.status)
					}
				}
			})
		}
		if t.Failed() {
			return
		}
	}
	// What the application was sent: a GET with the client's query,
	// headers and cookies, and the configured headers.
	for _, c := range a.calls("/allow") {
		st := c.Header.Get("X-Subscriber-Type")
		if c.Method != "GET" || c.Body != "" || c.Query != "token=abc" || c.Header.Get("Cookie") != "sid=42" ||
			c.Header.Get("X-Channel-Id") != "chan" || c.Header.Get("X-Channel-Id2") != "other" || c.Header.Get("X-Publisher-Type") != "" ||
			c.Header.Get("X-Prev") != "0:0" || !strings.HasSuffix(c.Header.Get("X-Original-Uri"), "/chan,other?token=abc") ||
			c.Header.Get("Upgrade") != "" || st == "" {
			t.Errorf("authorization request %+v", c)
		}
		if _, ok := c.Header["X-Empty"]; ok {
			t.Errorf("empty header sent: %v", c.Header)
		}
	}
	if n := len(a.calls("/allow")); n != len(hookTransports) {
		t.Errorf("%d authorization requests for allowed subscribers, want %d", n, len(hookTransports))
	}
}

func TestAuthorizePollEveryRequestStreamOnce(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, authConfig(a, deadAddr(t)))
	first, _ := publish(t, s, "c", "one")
	r := do(t, "GET", s.URL+"/allow-lp/c", "")
	checkMessage(t, r, "one", first)
	second, _ := publish(t, s, "c", "two")
	r = do(t, "GET", s.URL+"/allow-lp/c", "", "If-Modified-Since", r.Header.Get("Last-Modified"), "If-None-Match", r.Header.Get("Etag"))
	checkMessage(t, r, "two", second)
	r = do(t, "GET", s.URL+"/allow-ip/c", "")
	expectStatus(t, r, http.StatusOK, "interval-poll")
	// A refused poll carries the id it asked for, as Nchan's does.
	d := do(t, "GET", s.URL+"/deny-lp/c", "", "If-Modified-Since", first.httpDate(), "If-None-Match", strconv.Itoa(first.Tag))
	if d.Status != http.StatusTeapot || d.Header.Get("Etag") != strconv.Itoa(first.Tag) || d.Header.Get("Last-Modified") != "" {
		t.Errorf("refused long-poll: %d %v", d.Status, d.Header)
	}
	calls := a.waitCalls(t, "/allow", 3)
	if got := calls[1].Header.Get("X-Prev"); got != first.String() {
		t.Errorf("second long-poll's $nchan_prev_message_id %q, want %q", got, first)
	}
	es := openEventSource(t, s, "/allow-s/c")
	es.readUntil(t, "data: two\n\n")
	publish(t, s, "c", "three")
	es.readUntil(t, "data: three\n\n")
	publish(t, s, "c", "four")
	es.readUntil(t, "data: four\n\n")
	if n := len(a.calls("/allow")); n != 4 {
		t.Errorf("%d authorization requests, want 4 (3 polls, 1 stream)", n)
	}
}

func TestAuthorizePublisher(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, authConfig(a, deadAddr(t)))
	tests := []struct {
		outcome string
		status  int
	}{
		{"deny", http.StatusForbidden},
		{"slow", http.StatusGatewayTimeout},
		{"down", http.StatusBadGateway},
	}
	for _, tt := range tests {
		for _, method := range []string{"POST", "PUT", "GET", "DELETE"} {
			t.Run(tt.outcome+"/"+method, func(t *testing.T) {
				r := do(t, method, s.URL+"/"+tt.outcome+"-pub/chan", "msg")
				if r.Status != tt.status || r.Body != "" || r.Header.Get("X-Banana") != "" {
					t.Fatalf("%d %q %v, want %d with nothing of the application's answer", r.Status, r.Body, r.Header, tt.status)
				}
			})
		}
	}
	if n := queued(t, s, "chan"); n != 0 {
		t.Errorf("%d messages published by refused publishers", n)
	}
	// A WebSocket publisher is refused at its handshake.
	c := openRaw(t, s, "GET", "/deny-pub/chan", wsHeaders()...)
	if c.Status != http.StatusForbidden {
		t.Errorf("WebSocket publisher: status %d, want 403", c.Status)
	}
	r := do(t, "POST", s.URL+"/allow-pub/chan?x=1", "msg", "Content-Type", "text/x-msg")
	expectStatus(t, r, http.StatusAccepted, "allowed publish")
	c = openWebSocket(t, s, "/allow-pub/chan")
	c.send(t, ws.OpText, []byte("over ws"), true, false)
	c.frame(t, 3*time.Second) // the channel info
	calls := a.waitCalls(t, "/allow", 2)
	if c := calls[0]; c.Method != "GET" || c.Body != "" || c.Query != "x=1" || c.Header.Get("X-Publisher-Type") != "http" || c.Header.Get("X-Channel-Id") != "chan" {
		t.Errorf("HTTP publisher's authorization request %+v", c)
	}
	if c := calls[1]; c.Header.Get("X-Publisher-Type") != "websocket" {
		t.Errorf("WebSocket publisher's authorization request %+v", c)
	}
	if n := queued(t, s, "chan"); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

// notifyConfig has /n/<id>, every streaming transport and long-poll and
// interval-poll by their own locations, with subscribe_request and
// unsubscribe_request; /pub/<id> publishes and deletes.
func notifyConfig(a *hookApp) string {
	hooks := []string{
		"subscribe_request: {url: \"" + a.URL + "/notify/sub\", headers: {X-Channel-Id: $nchan_channel_id, X-Subscriber-Type: $nchan_subscriber_type}}",
		"unsubscribe_request: {url: \"" + a.URL + "/notify/unsub\", headers: {X-Channel-Id: $nchan_channel_id, X-Subscriber-Type: $nchan_subscriber_type}}",
	}
	return testConfig(nil,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("n-s", append([]string{"subscriber: [websocket, eventsource, chunked, multipart-mixed, http-raw-stream]"}, hooks...)...),
		prefixLocation("n-lp", append([]string{"subscriber: longpoll"}, hooks...)...),
		prefixLocation("n-ip", append([]string{"subscriber: intervalpoll"}, hooks...)...))
}

func TestSubscribeUnsubscribeRequests(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, notifyConfig(a))
	publish(t, s, "c", "m")
	// Polls send none.
	do(t, "GET", s.URL+"/n-lp/c", "")
	do(t, "GET", s.URL+"/n-ip/c", "")
	n := 0
	for _, tr := range hookTransports[2:] {
		for _, end := range []string{"client closes", "channel deleted"} {
			t.Run(tr.name+"/"+end, func(t *testing.T) {
				ch := "c-" + tr.name
				if end == "channel deleted" {
					publish(t, s, ch, "m")
				}
				c := openRaw(t, s, "GET", "/n-s/"+ch+"?q=1", tr.headers...)
				n++
				subs := a.waitCalls(t, "/notify/sub", n)
				last := subs[n-1]
				if last.Method != "GET" || last.Query != "q=1" || last.Header.Get("X-Channel-Id") != ch || last.Header.Get("X-Subscriber-Type") != tr.name {
					t.Errorf("subscribe_request %+v", last)
				}
				if len(a.calls("/notify/unsub")) != n-1 {
					t.Fatalf("unsubscribe_request before the subscriber ended")
				}
				if end == "channel deleted" {
					deleteChannel(t, s, ch)
				} else {
					c.conn.Close() // vanishes: no close frame, no end of stream
				}
				unsubs := a.waitCalls(t, "/notify/unsub", n)
				if u := unsubs[n-1]; u.Header.Get("X-Channel-Id") != ch || u.Header.Get("X-Subscriber-Type") != tr.name {
					t.Errorf("unsubscribe_request %+v", u)
				}
			})
		}
	}
	for _, c := range append(a.calls("/notify/sub"), a.calls("/notify/unsub")...) {
		if st := c.Header.Get("X-Subscriber-Type"); st == "longpoll" || st == "intervalpoll" {
			t.Errorf("a %s subscriber sent %s", st, c.Path)
		}
	}
	waitFor(t, waitTimeout, "notifications counted", func() bool {
		sent, failed, dropped := s.srv.Server.HookNotifications()
		return sent == uint64(2*n) && failed == 0 && dropped == 0
	})
}

func TestSubscribeRequestAppDown(t *testing.T) {
	dead := deadAddr(t)
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("n", "subscriber: true", "subscribe_request: {url: \"http://"+dead+"/sub\", timeout: 200ms}")))
	// The application being down does not hold the subscriber back.
	es := openEventSource(t, s, "/n/c")
	publish(t, s, "c", "hello")
	es.readUntil(t, "data: hello\n\n")
	waitFor(t, waitTimeout, "the failed notification", func() bool {
		_, failed, _ := s.srv.Server.HookNotifications()
		return failed == 1
	})
}

func TestPublisherUpstream(t *testing.T) {
	a := startHookApp(t)
	dead := deadAddr(t)
	s := startServer(t, testConfig(nil,
		prefixLocation("up", "publisher: true", "publisher_upstream_request: "+a.URL+"/upstream"),
		prefixLocation("updown", "publisher: true", "publisher_upstream_request: {url: \"http://"+dead+"/up\", timeout: 200ms}"),
		prefixLocation("upslow", "publisher: true", "publisher_upstream_request: {url: \""+a.URL+"/slow\", timeout: 200ms}"),
		prefixLocation("sub", "subscriber: longpoll")))
	tests := []struct {
		name, body string
		status     int
		published  string // "" if nothing
		ct         string
	}{
		{"rewrite", "hello", http.StatusAccepted, "rewritten:hello", "text/x-new"},
		{"keep", "keep-me", http.StatusAccepted, "keep-me", "text/x-orig"},
		{"drop", "drop", http.StatusNoContent, "", ""},
		{"reject", "reject", http.StatusForbidden, "", ""},
	}
	for _, tt := range tests {
		t.Run("http/"+tt.name, func(t *testing.T) {
			ch := "h-" + tt.name
			r := do(t, "POST", s.URL+"/up/"+ch, tt.body, "Content-Type", "text/x-orig")
			expectStatus(t, r, tt.status, tt.name)
			if tt.published == "" {
				if r.Body != "" {
					t.Errorf("body %q, want none", r.Body)
				}
				if n := queued(t, s, ch); n != 0 {
					t.Errorf("%d messages published", n)
				}
				return
			}
			m := do(t, "GET", s.URL+"/sub/"+ch, "")
			if m.Body != tt.published || m.Header.Get("Content-Type") != tt.ct {
				t.Errorf("published %q (%s), want %q (%s)", m.Body, m.Header.Get("Content-Type"), tt.published, tt.ct)
			}
		})
	}
	for _, p := range []string{"updown", "upslow"} {
		r := do(t, "POST", s.URL+"/"+p+"/x", "hello")
		expectStatus(t, r, http.StatusInternalServerError, p)
		if n := queued(t, s, "x"); n != 0 {
			t.Errorf("%s: %d messages published", p, n)
		}
	}
	calls := a.calls("/upstream")
	if len(calls) != len(tests) {
		t.Fatalf("%d upstream requests, want %d", len(calls), len(tests))
	}
	if c := calls[0]; c.Method != "POST" || c.Body != "hello" || c.Header.Get("Content-Type") != "text/x-orig" || c.Header.Get("X-Publisher-Type") != "http" {
		t.Errorf("upstream request %+v", c)
	}

	// A WebSocket publisher: dropped messages are not published and the
	// connection stays; a rejected one closes it with 1008.
	c := openWebSocket(t, s, "/up/w")
	for _, msg := range []string{"drop", "hello", "keep-it"} {
		c.send(t, ws.OpText, []byte(msg), true, false)
	}
	c.frame(t, 3*time.Second) // info after "hello"
	c.frame(t, 3*time.Second) // info after "keep-it"
	r := do(t, "GET", s.URL+"/sub/w", "")
	if r.Body != "rewritten:hello" {
		t.Errorf("first message %q, want the rewritten one (the dropped one is not published)", r.Body)
	}
	r = do(t, "GET", s.URL+"/sub/w", "", "If-Modified-Since", r.Header.Get("Last-Modified"), "If-None-Match", r.Header.Get("Etag"))
	if r.Body != "keep-it" {
		t.Errorf("second message %q, want keep-it", r.Body)
	}
	c.send(t, ws.OpText, []byte("reject"), true, false)
	c.expectClose(t, ws.StatusPolicyViolation, "403 Forbidden")
	for _, call := range a.calls("/upstream")[len(tests):] {
		if call.Header.Get("X-Publisher-Type") != "websocket" {
			t.Errorf("WebSocket upstream request %+v", call)
		}
	}
}

func TestUnsubscribeRequestAtShutdown(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, notifyConfig(a))
	ws := openWebSocket(t, s, "/n-s/bye")
	a.waitCalls(t, "/notify/sub", 1)
	done := s.shutdown()
	ws.drain(time.Second)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	// Stop sent the queued notification before it returned.
	if got := a.calls("/notify/unsub"); len(got) != 1 || got[0].Header.Get("X-Channel-Id") != "bye" {
		t.Fatalf("unsubscribe_request at shutdown: %+v", got)
	}
}

func TestAuthorizePassRequestBody(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true", "client_max_body_size: 16",
			"authorize_request: {url: \""+a.URL+"/allow\", pass_request_body: on}"),
		prefixLocation("pubdeny", "publisher: true", "authorize_request: {url: \""+a.URL+"/deny\", pass_request_body: on}"),
		prefixLocation("sub", "subscriber: longpoll", "authorize_request: {url: \""+a.URL+"/allow\", pass_request_body: on}")))
	r := do(t, "POST", s.URL+"/pub/c", "the message")
	expectStatus(t, r, http.StatusAccepted, "publish")
	calls := a.waitCalls(t, "/allow", 1)
	if calls[0].Body != "the message" {
		t.Errorf("authorization request body %q, want the publisher's", calls[0].Body)
	}
	m := do(t, "GET", s.URL+"/sub/c", "")
	if m.Body != "the message" {
		t.Errorf("published %q, want the message", m.Body)
	}
	if calls := a.waitCalls(t, "/allow", 2); calls[1].Body != "" {
		t.Errorf("subscriber's authorization request has body %q", calls[1].Body)
	}
	r = do(t, "POST", s.URL+"/pub/c", strings.Repeat("x", 17))
	expectStatus(t, r, http.StatusRequestEntityTooLarge, "too big a body")
	for _, method := range []string{"POST", "PUT"} {
		r := do(t, method, s.URL+"/pubdeny/d", "refused")
		if r.Status != http.StatusForbidden || r.Body != "" {
			t.Errorf("%s refused with the body passed: %d %q, want 403 and nothing", method, r.Status, r.Body)
		}
		if c := a.calls("/deny"); len(c) == 0 || c[len(c)-1].Body != "refused" {
			t.Errorf("%s: the application did not get the body: %+v", method, c)
		}
	}
	if n := queued(t, s, "d"); n != 0 {
		t.Errorf("%d messages published by a refused publisher", n)
	}
}
