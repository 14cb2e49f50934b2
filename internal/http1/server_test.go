package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair is the same handler served by a Server (handing off to net/http)
// and by net/http alone, for answers to compare.
type pair struct {
	fast, std string // addresses
	fastSrv   *Server
}

func startPair(t *testing.T, h http.Handler) *pair {
	t.Helper()
	p := &pair{}
	lnFast, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnStd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := NewListener(lnFast.Addr())
	hsFast := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	hsStd := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	p.fastSrv = &Server{Handler: h, Handoff: fb.Handoff, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 10 * time.Second,
		BaseContext: context.WithValue(context.Background(), http.ServerContextKey, hsFast)}
	go hsFast.Serve(fb)
	go p.fastSrv.Serve(lnFast)
	go hsStd.Serve(lnStd)
	t.Cleanup(func() {
		p.fastSrv.Close()
		hsFast.Close()
		hsStd.Close()
	})
	p.fast, p.std = lnFast.Addr().String(), lnStd.Addr().String()
	return p
}

// exchange sends raw to addr and reads n answers (to a HEAD request when
// head is set), then whether the connection was closed after them.
type answer struct {
	status int
	header http.Header
	body   string
}

func exchange(t *testing.T, addr, raw string, n int, head bool) ([]answer, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []answer
	for range n {
		method := "GET"
		if head {
			method = "HEAD"
		}
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("answer %d of %d: %v", len(out)+1, n, err)
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			b = fmt.Appendf(b, "<%v>", err)
		}
		res.Header.Del("Date")
		if len(res.TransferEncoding) > 0 {
			res.Header["X-Test-Transfer-Encoding"] = res.TransferEncoding
		}
		out = append(out, answer{res.StatusCode, res.Header, string(b)})
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	closed := err != nil && !errors.Is(err, errTimeout(err))
	return out, closed
}

// errTimeout returns err when it is a timeout (the connection is still
// open), so errors.Is tells a close from a wait.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

func TestSameAnswersAsNetHTTP(t *testing.T) {
	big := strings.Repeat("x", 10000)
	mux := http.NewServeMux()
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>x</body></html>") })
	mux.HandleFunc("/notype", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	mux.HandleFunc("/biglen", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		io.WriteString(w, big)
	})
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	})
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Etag", "1")
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/599", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%s %s %q host=%s len=%d close=%v te=%v q=%s", r.Method, r.RequestURI, b, r.Host, r.ContentLength, r.Close, r.TransferEncoding, r.URL.Query().Get("q"))
	})
	mux.HandleFunc("/ignore", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored") })
	mux.HandleFunc("/newline", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-A", "one\r\ntwo")
		w.Header()["bad name"] = []string{"x"}
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "12345")
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, err := io.WriteString(w, "12345")
		w.Header().Set("X-Err", fmt.Sprint(err)) // too late to be sent
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		extra, _ := brw.Reader.Peek(brw.Reader.Buffered())
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(extra), extra)
	})
	mux.HandleFunc("/fields", func(w http.ResponseWriter, r *http.Request) {
		// What the request's fields were, and a field only some answers set.
		fmt.Fprintf(w, "%q %d", r.Header["X-Req"], len(r.Header))
		if r.URL.Query().Has("set") {
			w.Header().Set("X-Set", "1")
		}
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	p := startPair(t, mux)

	get := func(path string, fields ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + strings.Join(fields, "") + "\r\n"
	}
	post := func(path, body string, fields ...string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n%s\r\n%s", path, len(body), strings.Join(fields, ""), body)
	}
	tests := []struct {
		name string
		raw  string
		n    int
		head bool
	}{
		{"sniffed text", get("/text"), 1, false},
		{"sniffed html", get("/html"), 1, false},
		{"no Content-Type", get("/notype"), 1, false},
		{"a large body is chunked", get("/big"), 1, false},
		{"a large body with its length", get("/biglen"), 1, false},
		{"flushed: chunked", get("/flushed"), 1, false},
		{"304 keeps neither length nor type", get("/304"), 1, false},
		{"204", get("/204"), 1, false},
		{"a status without a text", get("/599"), 1, false},
		{"an empty answer", get("/empty"), 1, false},
		{"HEAD of a body", "HEAD /text HTTP/1.1\r\nHost: test\r\n\r\n", 1, true},
		{"HEAD of nothing", "HEAD /empty HTTP/1.1\r\nHost: test\r\n\r\n", 1, true},
		{"a body read", post("/echo?q=1", "some body"), 1, false},
		{"a body left unread", post("/ignore", "some body") + get("/text"), 2, false},
		{"a large body left unread", post("/ignore", strings.Repeat("y", 300<<10)), 1, false},
		{"Connection: close asked", get("/text", "Connection: close\r\n"), 1, false},
		{"Connection: close answered", get("/close"), 1, false},
		{"a value with a line break", get("/newline"), 1, false},
		{"pipelined", get("/text") + get("/html") + post("/echo", "x"), 3, false},
		{"fields of one request and answer are not the next one's",
			get("/fields?set", "X-Req: a\r\nX-Req: b\r\nAccept: */*\r\n") + get("/fields") + get("/fields", "X-Req: c\r\n"), 3, false},
		{"shorter than its length", get("/short"), 1, false},
		{"longer than its length", get("/long"), 1, false},
		{"lower-case fields", "GET /echo HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n", 1, false},
		{"handed off: chunked body", "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/text"), 2, false},
		{"handed off: HTTP/1.0", "GET /echo HTTP/1.0\r\n\r\n", 1, false},
		{"handed off: no Host", "GET /echo HTTP/1.1\r\n\r\n", 1, false},
		{"handed off: malformed", "GET /echo HTTP/1.1\r\nHost: test\r\nBad Field: x\r\n\r\n", 1, false},
		{"handed off: a large head", get("/echo", "X-Big: "+strings.Repeat("z", 6000)+"\r\n"), 1, false},
		{"handed off: 100-continue", post("/echo", "abc", "Expect: 100-continue\r\n"), 1, false},
		{"handed off after a fast request", get("/text") + "GET /echo HTTP/1.0\r\n\r\n", 2, false},
		{"hijacked with data after the request", get("/hijack") + "extra", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, wantClosed := exchange(t, p.std, tt.raw, tt.n, tt.head)
			got, gotClosed := exchange(t, p.fast, tt.raw, tt.n, tt.head)
			for i := range want {
				if got[i].status != want[i].status || got[i].body != want[i].body || !sameHeader(got[i].header, want[i].header) {
					t.Errorf("answer %d:\n got %d %v %q\nwant %d %v %q", i+1, got[i].status, got[i].header, clip(got[i].body), want[i].status, want[i].header, clip(want[i].body))
				}
			}
			if gotClosed != wantClosed {
				t.Errorf("connection closed after: %v, net/http: %v", gotClosed, wantClosed)
			}
		})
	}
	t.Run("a panic closes the connection", func(t *testing.T) {
		c, err := net.Dial("tcp", p.fast)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, get("/panic"))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Errorf("read %q, %v; want a close and nothing", b, err)
		}
	})
}

func clip(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s... (%d bytes)", s[:80], len(s))
	}
	return s
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestClientGoneCancelsTheRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	p := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(5 * time.Second):
			cancelled <- errors.New("still waiting after 5s")
		}
	}))
	c, err := net.Dial("tcp", p.fast)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: test\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the handler waits
	c.Close()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler saw %v, want its context cancelled", err)
	}
}

func TestPipelinedRequestWhileWaiting(t *testing.T) {
	// A request that waits on its context while the next one is already
	// sent: the watch reads the next request's first byte, which must not
	// be lost, and must not cancel the first.
	release := make(chan struct{})
	p := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			select {
			case <-r.Context().Done():
				http.Error(w, "cancelled", 500)
				return
			case <-release:
			}
		}
		io.WriteString(w, r.URL.Path)
	}))
	c, err := net.Dial("tcp", p.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: test\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the handler waits, the watch reads
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: test\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	close(release)
	br := bufio.NewReader(c)
	for _, want := range []string{"/wait", "/next"} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != want {
			t.Fatalf("got %d %q, want 200 %q", res.StatusCode, b, want)
		}
	}
}

func TestShutdownWaitsForRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	p := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle, err := net.Dial("tcp", p.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", p.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
	<-started
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- p.fastSrv.Shutdown(ctx)
	}()
	// The idle connection is closed at once; the busy one is answered.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || errTimeout(err) == err {
		t.Fatalf("idle connection: %v, want it closed", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v before the request finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	res, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Close {
		t.Errorf("answer during shutdown without Connection: close")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", p.fast); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

func TestSlowHeadIsCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 10 * time.Second}
	go s.Serve(ln)
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Part of a head, then nothing: the connection is closed once
	// ReadHeaderTimeout has passed since its first byte.
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errTimeout(err) == err {
		t.Fatalf("read %v, want the connection closed", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v, before ReadHeaderTimeout", d)
	}
}

// TestHijackAfterward: a hijacked connection's reader and writer work for
// what comes after the request, whether the client sent it with the
// request (read ahead by the server) or only once answered; and the next
// connections, which reuse the pooled buffers, are served as well.
func TestHijackAfterward(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		brw.WriteString("ready\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		brw.WriteString("echo " + line)
		brw.Flush()
	})
	p := startPair(t, h)
	tests := []struct {
		name  string
		ahead bool // the line goes with the request
	}{
		{"line sent after the answer", false},
		{"line sent with the request", true},
	}
	for round := range 3 {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s, round %d", tc.name, round), func(t *testing.T) {
				c, err := net.DialTimeout("tcp", p.fast, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				req := "GET /x HTTP/1.1\r\nHost: test\r\n\r\n"
				if tc.ahead {
					req += "ping\n"
				}
				io.WriteString(c, req)
				rd := bufio.NewReader(c)
				if got, err := rd.ReadString('\n'); err != nil || got != "ready\n" {
					t.Fatalf("first line %q, %v", got, err)
				}
				if !tc.ahead {
					io.WriteString(c, "ping\n")
				}
				if got, err := rd.ReadString('\n'); err != nil || got != "echo ping\n" {
					t.Fatalf("echo %q, %v", got, err)
				}
			})
		}
	}
}

// goroutineID returns the calling goroutine's number, from its stack
// trace's first line.
func goroutineID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// TestConnectionsShareGoroutines checks that a goroutine which has served
// a connection serves the next one accepted, and that closing the server
// ends the goroutines waiting for one.
func TestConnectionsShareGoroutines(t *testing.T) {
	ids := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids <- goroutineID()
		io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, Handoff: func(c net.Conn) { c.Close() }, IdleTimeout: 10 * time.Second, BaseContext: context.Background()}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	const conns = 20
	seen := map[string]bool{}
	for range conns {
		// The server closes the connection after its answer; reading to
		// the end waits for that, and the pause lets the goroutine get
		// back to waiting for the next one.
		ans, closed := exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1, false)
		if len(ans) != 1 || ans[0].body != "ok" || !closed {
			t.Fatalf("answers %v, closed %v", ans, closed)
		}
		seen[<-ids] = true
		time.Sleep(20 * time.Millisecond)
	}
	if len(seen) > conns/4 {
		t.Errorf("%d connections served by %d goroutines, want at most %d", conns, len(seen), conns/4)
	}
	s.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	deadline := time.Now().Add(workerLinger / 2)
	for {
		buf := make([]byte, 1<<20)
		if !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "serveFrom") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a goroutine still waits for connections after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManyWaitingSomeLeave has requests wait on many connections at once,
// over several rounds on the same connections, with the clients of some
// leaving: exactly those requests are cancelled, and the others are
// answered when released.
func TestManyWaitingSomeLeave(t *testing.T) {
	const conns, rounds = 24, 3
	type result struct {
		path      string
		cancelled bool
	}
	results := make(chan result, conns)
	release := make(chan struct{})
	var waiting sync.WaitGroup
	p := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := r.Context().Done()
		waiting.Done()
		select {
		case <-done:
			results <- result{r.URL.Path, true}
		case <-release:
			results <- result{r.URL.Path, false}
			io.WriteString(w, r.URL.Path)
		}
	}))
	next := func() result {
		select {
		case r := <-results:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no request ended within 5s")
			return result{}
		}
	}
	cs := make([]net.Conn, conns)
	brs := make([]*bufio.Reader, conns)
	for i := range cs {
		c, err := net.Dial("tcp", p.fast)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		cs[i], brs[i] = c, bufio.NewReader(c)
	}
	for round := range rounds {
		release = make(chan struct{})
		waiting.Add(conns)
		for i, c := range cs {
			fmt.Fprintf(c, "GET /%d/%d HTTP/1.1\r\nHost: test\r\n\r\n", round, i)
		}
		waitGroup(t, &waiting)
		// In the last round, every third client leaves.
		leaving := map[string]bool{}
		if round == rounds-1 {
			for i := 0; i < conns; i += 3 {
				leaving[fmt.Sprintf("/%d/%d", round, i)] = true
				cs[i].Close()
			}
			for range len(leaving) {
				r := next()
				if !r.cancelled || !leaving[r.path] {
					t.Fatalf("round %d: %s cancelled %v, want only the leaving clients' requests cancelled", round, r.path, r.cancelled)
				}
			}
		}
		close(release)
		for range conns - len(leaving) {
			if r := next(); r.cancelled || leaving[r.path] {
				t.Fatalf("round %d: %s cancelled %v after release", round, r.path, r.cancelled)
			}
		}
		for i := range cs {
			want := fmt.Sprintf("/%d/%d", round, i)
			if leaving[want] {
				continue
			}
			res, err := http.ReadResponse(brs[i], nil)
			if err != nil {
				t.Fatalf("round %d, connection %d: %v", round, i, err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(b) != want {
				t.Fatalf("got %d %q, want 200 %q", res.StatusCode, b, want)
			}
		}
	}
}

// waitGroup waits for wg, at most 5 s.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("requests not all waiting within 5s")
	}
}
