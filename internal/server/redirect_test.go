package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// testApp is the application behind Herald's proxy_pass locations, as in
// a typical Nchan site: it authorizes /auth/sub/<id> and /auth/pub/<id>
// and redirects them (X-Accel-Redirect) to Herald's internal locations,
// and answers a few other paths itself.
type testApp struct {
	*httptest.Server
	mu      sync.Mutex
	seen    map[string]appRequest // the last request, by path
	hits    map[string]int        // requests, by path
	release chan struct{}         // lets /plain send the rest of its body
	done    chan struct{}         // closed when the test ends
	loops   int                   // requests for /loop
}

// appRequest is what the application received.
type appRequest struct {
	Method, URI, Body, Host string
	Header                  http.Header
}

func startApp(t *testing.T) *testApp {
	t.Helper()
	a := &testApp{seen: map[string]appRequest{}, hits: map[string]int{}, release: make(chan struct{}), done: make(chan struct{})}
	redirect := func(w http.ResponseWriter, target string) {
		w.Header().Set("X-Accel-Redirect", target)
		w.Header().Set("Set-Cookie", "session=1")
		w.Header().Set("Cache-Control", "private")
		w.Header().Set("X-App-Only", "yes")
		w.Header().Set("Content-Type", "application/x-app")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ignored body")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/sub/{id}", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		if r.PathValue("id") == "denied" {
			w.Header().Set("X-Reason", "not allowed")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "denied\n")
			return
		}
		redirect(w, "/internal/sub/"+r.PathValue("id"))
	})
	mux.HandleFunc("/auth/pub/{id}", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		redirect(w, "/internal/pub/"+r.PathValue("id"))
	})
	mux.HandleFunc("/early/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Answers without reading the body.
		redirect(w, "/internal/pub/"+r.PathValue("id"))
	})
	mux.HandleFunc("/byarg", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		redirect(w, "/internal/byarg?ch="+r.URL.Query().Get("to")+"&x=1")
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.loops++
		a.mu.Unlock()
		redirect(w, "/loop")
	})
	for path, target := range map[string]string{"/nowhere": "/no/such/location", "/escape": "/internal/../internal/sub/x", "/external": "http://example.com/internal/sub/x"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { redirect(w, target) })
	}
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		a.record(r)
		w.Header().Set("X-Custom", "kept")
		w.Header().Set("X-Accel-Buffering", "no")
		w.Header().Set("Content-Type", "text/x-app")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "part one;")
		w.(http.Flusher).Flush()
		select {
		case <-a.release:
		case <-a.done:
			return
		}
		io.WriteString(w, "part two")
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "begun;")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-a.done:
		}
	})
	mux.HandleFunc("/wsapp", func(w http.ResponseWriter, r *http.Request) {
		// The application takes the WebSocket itself: 101, then echo.
		a.record(r)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		buf := make([]byte, 64)
		n, _ := brw.Read(buf)
		conn.Write(buf[:n])
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-a.done:
		}
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	t.Cleanup(func() { close(a.done) })
	return a
}

func (a *testApp) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits[r.URL.Path]++
	a.seen[r.URL.Path] = appRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Body: string(b), Header: r.Header.Clone()}
}

func (a *testApp) request(t *testing.T, path string) appRequest {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.seen[path]
	if !ok {
		t.Fatalf("the application received no request for %s", path)
	}
	return r
}

// startRedirectSite starts the application and Herald in front of it:
// public /sub/<id> and /pub/<id> proxied to the application, which
// redirects to the internal subscriber and publisher locations.
func startRedirectSite(t *testing.T) (*testServer, *testApp) {
	t.Helper()
	app := startApp(t)
	appAddr := strings.TrimPrefix(app.URL, "http://")
	s := startServer(t, testConfig(nil,
		location(`~ ^/sub/(\w+)$`, "proxy_pass: http://"+appAddr+"/auth/sub/$1"),
		location("/pub/", "proxy_pass: http://"+appAddr+"/auth/pub/"),
		location(`~ ^/early/(\w+)$`, "proxy_pass: http://"+appAddr),
		location(`~ ^/(byarg|loop|nowhere|escape|external|plain|wsapp)$`, "proxy_pass: http://"+appAddr),
		location("~ ^/(slow|stall)$", "proxy_pass: http://"+appAddr, "proxy_read_timeout: 300ms"),
		location("= /dead", "proxy_pass: http://"+deadAddr(t)),
		location("= /slowbody", "proxy_pass: http://"+appAddr+"/auth/pub/slowbody", "client_body_timeout: 300ms"),
		location("= /small", "proxy_pass: http://"+appAddr+"/auth/pub/small", "client_max_body_size: 8"),
		location(`~ ^/internal/sub/(\w+)$`, "internal: true", "subscriber: true", "channel_id: $1"),
		location(`~ ^/internal/pub/(\w+)$`, "internal: true", "publisher: true", "channel_id: $1"),
		location("= /internal/byarg", "internal: true", "subscriber: true", "channel_id: $arg_ch"),
	))
	return s, app
}

func TestRedirectPublisherAndLongPoll(t *testing.T) {
	s, app := startRedirectSite(t)
	id, status := publish(t, s, "ch", "hello", "Content-Type", "text/x-greeting")
	if status != http.StatusAccepted {
		t.Errorf("publish status %d, want 202", status)
	}
	got := app.request(t, "/auth/pub/ch")
	if got.Method != "POST" || got.Body != "hello" {
		t.Errorf("application got %s %q, want POST %q", got.Method, got.Body, "hello")
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("application got X-Forwarded-For %q, want 127.0.0.1", xff)
	}
	if got.Host != strings.TrimPrefix(app.URL, "http://") {
		t.Errorf("application got Host %q, want its own (nginx's $proxy_host)", got.Host)
	}
	if h := got.Header.Get("X-Forwarded-Host"); h != s.addr() {
		t.Errorf("application got X-Forwarded-Host %q, want %q", h, s.addr())
	}

	r := do(t, "GET", s.URL+"/sub/ch", "", "Origin", "http://site.example")
	checkMessage(t, r, "hello", id)
	if ct := r.Header.Get("Content-Type"); ct != "text/x-greeting" {
		t.Errorf("Content-Type %q, want the message's", ct)
	}
	if c := r.Header.Get("Set-Cookie"); c != "session=1" {
		t.Errorf("Set-Cookie %q: the redirect answer's cookie should pass", c)
	}
	if c := r.Header.Get("Cache-Control"); c != "private" {
		t.Errorf("Cache-Control %q: the redirect answer's should pass", c)
	}
	if v := r.Header.Get("X-App-Only"); v != "" {
		t.Errorf("X-App-Only %q passed; nginx drops the redirect answer's other headers", v)
	}
	if o := app.request(t, "/auth/sub/ch").Header.Get("Origin"); o != "http://site.example" {
		t.Errorf("application got Origin %q", o)
	}

	// The redirected long-poll keeps the client's If-None-Match and
	// If-Modified-Since: it waits for the next message.
	next := async(t, 5*time.Second, "GET", s.URL+"/sub/ch", "",
		"If-Modified-Since", r.Header.Get("Last-Modified"), "If-None-Match", r.Header.Get("Etag"))
	waitSubscribers(t, s, "ch", 1)
	id2, status := publish(t, s, "ch", "world")
	if status != http.StatusCreated {
		t.Errorf("publish to a waiting subscriber: %d, want 201", status)
	}
	checkMessage(t, recv(t, next), "world", id2)

	// DELETE keeps its method through the redirect.
	deleteChannel(t, s, "ch")
	if m := app.request(t, "/auth/pub/ch").Method; m != "DELETE" {
		t.Errorf("application got %s, want DELETE", m)
	}
	expectStatus(t, do(t, "GET", s.URL+"/pub/ch", ""), http.StatusNotFound, "channel info after DELETE")
}

func TestRedirectPublisherBodies(t *testing.T) {
	s, _ := startRedirectSite(t)
	r, err := request(t.Context(), "POST", s.URL+"/pub/chunked", "sent in chunks", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, r, http.StatusAccepted, "chunked publish through a redirect")
	// An application that answers before reading the body: the
	// publisher still gets all of it.
	big := strings.Repeat("0123456789", 50_000)
	expectStatus(t, do(t, "POST", s.URL+"/early/big", big), http.StatusAccepted, "publish through an application that ignores the body")
	for ch, body := range map[string]string{"chunked": "sent in chunks", "big": big} {
		if got := do(t, "GET", s.URL+"/sub/"+ch, ""); got.Body != body {
			t.Errorf("channel %s holds %d bytes %.40q, want %d bytes", ch, len(got.Body), got.Body, len(body))
		}
	}
	// client_max_body_size of the proxy location, by Content-Length and
	// while streaming.
	expectStatus(t, do(t, "POST", s.URL+"/small", "123456789"), http.StatusRequestEntityTooLarge, "Content-Length over the limit")
	r, err = request(t.Context(), "POST", s.URL+"/small", "123456789", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, r, http.StatusRequestEntityTooLarge, "chunked body over the limit")
	expectStatus(t, do(t, "POST", s.URL+"/small", "12345678"), http.StatusAccepted, "body at the limit")
}

func TestRedirectEventSource(t *testing.T) {
	s, app := startRedirectSite(t)
	id1, _ := publish(t, s, "es", "first")
	c := openEventSource(t, s, "/sub/es", "Last-Event-ID", id1.String())
	if got := app.request(t, "/auth/sub/es").Header.Get("Last-Event-ID"); got != id1.String() {
		t.Errorf("application got Last-Event-ID %q", got)
	}
	if c.Header.Get("Set-Cookie") != "session=1" {
		t.Errorf("EventSource head %v: want the redirect answer's Set-Cookie", c.Header)
	}
	waitSubscribers(t, s, "es", 1)
	id2, _ := publish(t, s, "es", "second")
	c.expect(t, sseEvent("", id2.String(), "second")) // resumed after "first"
}

func TestRedirectWebSocket(t *testing.T) {
	s, app := startRedirectSite(t)
	c := openWebSocket(t, s, "/sub/ws")
	got := app.request(t, "/auth/sub/ws")
	if !strings.EqualFold(got.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(got.Header.Get("Connection")), "upgrade") {
		t.Errorf("application got Upgrade %q, Connection %q: the upgrade intent should be forwarded", got.Header.Get("Upgrade"), got.Header.Get("Connection"))
	}
	if c.Header.Get("Set-Cookie") != "session=1" {
		t.Errorf("101 head %v: want the redirect answer's Set-Cookie", c.Header)
	}
	waitSubscribers(t, s, "ws", 1)
	publish(t, s, "ws", "over the socket")
	c.expectFrame(t, ws.OpText, "over the socket")
}

func TestRedirectQueryAndTargets(t *testing.T) {
	s, app := startRedirectSite(t)
	// The target's query is the redirected request's: channel_id $arg_ch.
	publish(t, s, "argch", "by arg")
	r := do(t, "GET", s.URL+"/byarg?to=argch", "")
	if r.Status != http.StatusOK || r.Body != "by arg" {
		t.Errorf("redirect with a query: %d %q", r.Status, r.Body)
	}
	if uri := app.request(t, "/byarg").URI; uri != "/byarg?to=argch" {
		t.Errorf("application got %q, want the request's path and query", uri)
	}
	expectStatus(t, do(t, "GET", s.URL+"/loop", ""), http.StatusInternalServerError, "redirect cycle")
	app.mu.Lock()
	loops := app.loops
	app.mu.Unlock()
	if loops != 11 {
		t.Errorf("the application was asked %d times, want 11 (10 redirects, the 11th refused)", loops)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/nowhere", http.StatusNotFound},             // no location matches
		{"/escape", http.StatusNotFound},              // unsafe target
		{"/external", http.StatusNotFound},            // not a path
		{"/internal/sub/x", http.StatusNotFound},      // internal, asked directly
		{"/internal/byarg?ch=x", http.StatusNotFound}, // internal, asked directly
		{"/sub/denied", http.StatusForbidden},         // the application's own answer
	} {
		expectStatus(t, do(t, "GET", s.URL+c.path, ""), c.want, c.path)
	}
	r = do(t, "GET", s.URL+"/sub/denied", "")
	if r.Body != "denied\n" || r.Header.Get("X-Reason") != "not allowed" {
		t.Errorf("application's refusal relayed as %q %v", r.Body, r.Header)
	}
}

func TestProxyRelaysStreaming(t *testing.T) {
	s, app := startRedirectSite(t)
	c := openRaw(t, s, "GET", "/plain?q=1", "X-Client", "yes")
	if c.Status != http.StatusTeapot {
		t.Fatalf("status %d, want the application's 418", c.Status)
	}
	if c.Header.Get("X-Custom") != "kept" || c.Header.Get("Content-Type") != "text/x-app" {
		t.Errorf("headers %v: want the application's", c.Header)
	}
	if v := c.Header.Get("X-Accel-Buffering"); v != "" {
		t.Errorf("X-Accel-Buffering %q relayed; nginx hides X-Accel-* headers", v)
	}
	if got := app.request(t, "/plain"); got.Header.Get("X-Client") != "yes" || got.URI != "/plain?q=1" {
		t.Errorf("application got %q with %v", got.URI, got.Header)
	}
	// The first part arrives before the application sends the second:
	// the answer is relayed as it comes, not buffered whole.
	c.readUntil(t, "part one;")
	close(app.release)
	c.readUntil(t, "part two")
}

func TestProxyErrors(t *testing.T) {
	s, _ := startRedirectSite(t)
	expectStatus(t, do(t, "GET", s.URL+"/dead", ""), http.StatusBadGateway, "application unreachable")
	expectStatus(t, do(t, "GET", s.URL+"/slow", ""), http.StatusGatewayTimeout, "application slower than proxy_read_timeout")
}

func TestProxyTunnelsApplicationWebSocket(t *testing.T) {
	s, app := startRedirectSite(t)
	c := openRaw(t, s, "GET", "/wsapp", wsHeaders()...)
	if c.Status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want the application's 101", c.Status)
	}
	if got := app.request(t, "/wsapp"); !strings.EqualFold(got.Header.Get("Upgrade"), "websocket") {
		t.Errorf("application got Upgrade %q", got.Header.Get("Upgrade"))
	}
	c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c.conn, "ping through"); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "ping through")
}

func TestProxyStalledBodyIsCut(t *testing.T) {
	s, _ := startRedirectSite(t)
	c := openRaw(t, s, "GET", "/stall")
	if c.Status != http.StatusOK {
		t.Fatalf("status %d, want 200", c.Status)
	}
	c.readUntil(t, "begun;")
	// proxy_read_timeout (300ms) passes with nothing more: the answer is
	// cut off, without its last chunk.
	rest, err := c.drain(5 * time.Second)
	if err != nil {
		t.Fatalf("connection still open after the application stalled: %v", err)
	}
	if strings.Contains(rest, "0\r\n\r\n") {
		t.Errorf("the stalled answer ended cleanly (%q): it should be cut off", rest)
	}
}

func TestProxyBodyTimeout(t *testing.T) {
	s, _ := startRedirectSite(t)
	c := sendRaw(t, s, "POST", "/slowbody", "Content-Length", "10")
	if _, err := io.WriteString(c.conn, "12345"); err != nil {
		t.Fatal(err)
	}
	// Nothing more within client_body_timeout (300ms): 408.
	if err := c.readHead(5 * time.Second); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if c.Status != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", c.Status)
	}
	if got := do(t, "GET", s.URL+"/pub/slowbody", ""); got.Status != http.StatusNotFound {
		t.Errorf("channel info after the timed-out publish: %d %q, want 404 (nothing published)", got.Status, got.Body)
	}
}

// TestProxyGuards: a proxy_pass location checks the origin and the
// per-client limits before it forwards a request; what it refuses never
// reaches the application.
func TestProxyGuards(t *testing.T) {
	app := startApp(t)
	appAddr := strings.TrimPrefix(app.URL, "http://")
	s := startServer(t, testConfig(nil,
		location("= /g", "proxy_pass: http://"+appAddr+"/auth/sub/denied", "limit_req: {rate: 1r/m, burst: 0, nodelay: on}",
			"access_control_allow_origin: https://good.example"),
	))
	if r := do(t, "GET", s.URL+"/g", "", "Origin", "https://evil.example"); r.Status != http.StatusForbidden {
		t.Errorf("forbidden origin: %d, want 403", r.Status)
	}
	if r := do(t, "GET", s.URL+"/g", ""); r.Status != http.StatusForbidden || r.Body != "denied\n" {
		t.Errorf("first request: %d %q, want the application's 403", r.Status, r.Body)
	}
	r := do(t, "GET", s.URL+"/g", "")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("second request within the rate: %d (Retry-After %q), want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	app.mu.Lock()
	n := app.hits["/auth/sub/denied"]
	app.mu.Unlock()
	if n != 1 {
		t.Errorf("the application saw %d requests, want 1", n)
	}
}
