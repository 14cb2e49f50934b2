package hook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/location"
)

func mustCompile(t testing.TB, c Config) *Hook {
	t.Helper()
	h, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", c, err)
	}
	return h
}

func TestCompile(t *testing.T) {
	off := false
	tests := []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"url", Config{URL: "http://127.0.0.1:9/auth"}, ""},
		{"https with variables", Config{URL: "https://app.example/auth/$nchan_channel_id?x=$arg_x"}, ""},
		{"headers", Config{URL: "http://a/", Headers: [][2]string{{"X-Channel-Id", "$nchan_channel_id"}, {"X-Empty", ""}}}, ""},
		{"no pass", Config{URL: "http://a/", PassRequestHeaders: &off}, ""},
		{"relative", Config{URL: "/auth"}, "http:// or https://"},
		{"other scheme", Config{URL: "ftp://a/"}, "http:// or https://"},
		{"no host", Config{URL: "http:///x"}, "no host"},
		{"bad variable", Config{URL: "http://a/$nope"}, "unknown variable"},
		{"bad header name", Config{URL: "http://a/", Headers: [][2]string{{"X Bad", "1"}}}, "not a valid header name"},
		{"empty header name", Config{URL: "http://a/", Headers: [][2]string{{"", "1"}}}, "not a valid header name"},
		{"bad header template", Config{URL: "http://a/", Headers: [][2]string{{"X-A", "${"}}}, "unterminated"},
		{"negative timeout", Config{URL: "http://a/", Timeout: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Compile(tt.c)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				if h.Timeout != DefaultTimeout && tt.c.Timeout == 0 {
					t.Errorf("timeout %v, want the default %v", h.Timeout, DefaultTimeout)
				}
				if h.PassRequestHeaders != (tt.c.PassRequestHeaders == nil || *tt.c.PassRequestHeaders) {
					t.Errorf("PassRequestHeaders = %v", h.PassRequestHeaders)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Compile error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func clientRequest() *http.Request {
	r := httptest.NewRequest("GET", "/sub/chan?x=1&y=two", nil)
	r.RemoteAddr = "192.0.2.9:5555"
	r.Header.Set("Cookie", "sid=abc")
	r.Header.Set("Authorization", "Bearer tok")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", "k")
	r.Header.Set("X-Drop", "client value")
	return r
}

func TestBuild(t *testing.T) {
	vars := location.Request{HTTP: clientRequest(), Nchan: &location.Nchan{ChannelIDs: []string{"chan", "b"}, SubscriberType: "websocket", PrevMessageID: "0:0"}}
	off := false
	tests := []struct {
		name       string
		c          Config
		wantURL    string
		wantHeader map[string]string // "" means absent
	}{
		{
			name:    "client headers and query pass",
			c:       Config{URL: "http://app.test/auth"},
			wantURL: "http://app.test/auth?x=1&y=two",
			wantHeader: map[string]string{"Cookie": "sid=abc", "Authorization": "Bearer tok", "Connection": "",
				"Upgrade": "", "Sec-Websocket-Key": "", "X-Drop": "client value"},
		},
		{
			name:    "templates; empty value leaves the header out",
			c:       Config{URL: "http://app.test/auth/$nchan_channel_id", Headers: [][2]string{{"X-Channel-Id", "$nchan_channel_id"}, {"x-sub", "$nchan_subscriber_type"}, {"X-Drop", ""}, {"X-Arg", "$arg_y-$cookie_sid"}, {"X-Prev", "$nchan_prev_message_id"}, {"X-Two", "$nchan_channel_id2"}}},
			wantURL: "http://app.test/auth/chan?x=1&y=two",
			wantHeader: map[string]string{"X-Channel-Id": "chan", "X-Sub": "websocket", "X-Drop": "",
				"X-Arg": "two-abc", "X-Prev": "0:0", "X-Two": "b"},
		},
		{
			name:       "own query wins",
			c:          Config{URL: "http://app.test/auth?c=$nchan_channel_id"},
			wantURL:    "http://app.test/auth?c=chan",
			wantHeader: map[string]string{},
		},
		{
			name:       "headers not passed",
			c:          Config{URL: "http://app.test/auth", PassRequestHeaders: &off, Headers: [][2]string{{"Cookie", "$http_cookie"}}},
			wantURL:    "http://app.test/auth?x=1&y=two",
			wantHeader: map[string]string{"Authorization": "", "X-Drop": "", "Cookie": "sid=abc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustCompile(t, tt.c)
			req, err := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL {
				t.Errorf("URL %s, want %s", req.URL, tt.wantURL)
			}
			for k, want := range tt.wantHeader {
				if got := req.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if req.ContentLength != 0 {
				t.Errorf("ContentLength %d, want 0", req.ContentLength)
			}
		})
	}
}

// app is a real HTTP application: handle answers each request, and every
// request it got is recorded.
type app struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func startApp(t testing.TB, handle http.HandlerFunc) *app {
	a := &app{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, r)
		a.body = append(a.body, string(b))
		a.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

// deadURL is an address nothing listens on.
func deadURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + "/hook"
	l.Close()
	return u
}

func TestAuthorize(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/allow":
			w.WriteHeader(http.StatusNoContent)
		case "/deny":
			w.Header().Set("X-Banana", "too-ripe")
			w.Header().Set("Content-Type", "text/x-beef")
			w.WriteHeader(406)
			io.WriteString(w, "nope")
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	vars := location.Request{HTTP: clientRequest()}
	tests := []struct {
		name       string
		url        string
		ok         bool
		status     int // refusal or failure status
		body       string
		failStatus int
	}{
		{"allow", a.URL + "/allow", true, 0, "", 0},
		{"deny", a.URL + "/deny", false, 406, "nope", 0},
		{"slow", a.URL + "/slow", false, 0, "", http.StatusGatewayTimeout},
		{"unreachable", deadURL(t), false, 0, "", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustCompile(t, Config{URL: tt.url, Timeout: 300 * time.Millisecond})
			ok, ans, err := h.Authorize(context.Background(), vars, []byte("ignored"))
			if tt.failStatus != 0 {
				if err == nil || FailureStatus(err) != tt.failStatus {
					t.Fatalf("err %v (status %d), want status %d", err, FailureStatus(err), tt.failStatus)
				}
				if tt.failStatus == http.StatusGatewayTimeout && !errors.Is(err, ErrTimeout) {
					t.Errorf("err %v is not ErrTimeout", err)
				}
				return
			}
			if err != nil || ok != tt.ok {
				t.Fatalf("Authorize = %v, %v; want %v", ok, err, tt.ok)
			}
			if !ok {
				if ans.Status != tt.status || string(ans.Body) != tt.body {
					t.Errorf("refusal %d %q, want %d %q", ans.Status, ans.Body, tt.status, tt.body)
				}
				hd := ans.RefusalHeader()
				if hd.Get("X-Banana") != "too-ripe" || hd.Get("Content-Type") != "text/x-beef" || hd.Get("Content-Length") != "" || hd.Get("Date") != "" {
					t.Errorf("refusal headers %v", hd)
				}
			}
		})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.reqs {
		if r.Method != http.MethodGet || a.body[i] != "" || r.URL.RawQuery != "x=1&y=two" || r.Header.Get("Cookie") != "sid=abc" {
			t.Errorf("request %d: %s %s body %q cookie %q", i, r.Method, r.URL, a.body[i], r.Header.Get("Cookie"))
		}
	}
}

func TestPublish(t *testing.T) {
	a := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rewrite":
			w.Header().Set("Content-Type", "text/x-new")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "rewritten")
		case "/keep":
			w.WriteHeader(http.StatusNotModified)
		case "/drop":
			w.WriteHeader(http.StatusNoContent)
		case "/reject":
			w.WriteHeader(418)
			io.WriteString(w, "teapot")
		}
	})
	tests := []struct {
		path    string
		publish bool
		body    string
		ct      string
		status  int
	}{
		{"/rewrite", true, "rewritten", "text/x-new", 0},
		{"/keep", true, "orig", "text/orig", 0},
		{"/drop", false, "", "", http.StatusNoContent},
		{"/reject", false, "", "", http.StatusForbidden},
	}
	client := clientRequest()
	client.Header.Set("Accept-Encoding", "gzip")
	vars := location.Request{HTTP: client}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := mustCompile(t, Config{URL: a.URL + tt.path})
			up, err := h.Publish(context.Background(), vars, []byte("orig"), "text/orig", "websocket")
			if err != nil {
				t.Fatal(err)
			}
			if up.Publish != tt.publish || string(up.Body) != tt.body || up.ContentType != tt.ct || up.Status != tt.status {
				t.Errorf("Publish = %+v, want publish %v body %q type %q status %d", up, tt.publish, tt.body, tt.ct, tt.status)
			}
		})
	}
	a.mu.Lock()
	for i, r := range a.reqs {
		if r.Method != http.MethodPost || a.body[i] != "orig" || r.Header.Get("Content-Type") != "text/orig" || r.Header.Get("X-Publisher-Type") != "websocket" || r.Header.Get("Accept-Encoding") != "" || r.Header.Get("Cookie") != "sid=abc" {
			t.Errorf("request %d: %s body %q type %q publisher %q", i, r.Method, a.body[i], r.Header.Get("Content-Type"), r.Header.Get("X-Publisher-Type"))
		}
	}
	a.mu.Unlock()
	h := mustCompile(t, Config{URL: deadURL(t)})
	up, err := h.Publish(context.Background(), vars, []byte("orig"), "", "http")
	if err == nil || up.Publish || up.Status != http.StatusInternalServerError {
		t.Errorf("unreachable: %+v, %v; want status 500 and an error", up, err)
	}
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueRetries(t *testing.T) {
	var mu sync.Mutex
	fails := 2
	a := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/flaky" && fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/no" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	q := NewQueue(nil, QueueOptions{Backoff: time.Millisecond})
	defer q.Close(context.Background())
	vars := location.Request{HTTP: clientRequest()}
	for _, path := range []string{"/flaky", "/no"} {
		h := mustCompile(t, Config{URL: a.URL + path})
		req, err := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		q.Notify(h, req, q.Shard())
	}
	waitUntil(t, "one sent and one refused", func() bool { return q.Sent() == 1 && q.Failed() == 1 })
	if n := a.count(); n != 4 { // flaky: 2 failures and a success; no: once (the application said no)
		t.Errorf("%d requests, want 4", n)
	}
	h := mustCompile(t, Config{URL: deadURL(t)})
	req, _ := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
	q.Notify(h, req, 0)
	waitUntil(t, "the unreachable notification to fail", func() bool { return q.Failed() == 2 })
}

func TestQueueOrderAndDrops(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(block) }) }
	var mu sync.Mutex
	var order []string
	a := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		mu.Lock()
		order = append(order, r.URL.Query().Get("n"))
		mu.Unlock()
	})
	t.Cleanup(unblock) // before the application closes
	q := NewQueue(nil, QueueOptions{Size: 4, Workers: 2})
	vars := location.Request{}
	hb := mustCompile(t, Config{URL: a.URL + "/block", Timeout: time.Minute})
	blockReq, _ := hb.Build(context.Background(), http.MethodGet, vars, nil, nil)
	// Shard 1 is held by a request the application does not answer; its
	// queue (2 places) fills, and further notifications are dropped.
	q.Notify(hb, blockReq, 1)
	waitUntil(t, "the blocked request", func() bool { return a.count() == 1 })
	for range 5 {
		q.Notify(hb, blockReq, 1)
	}
	if d := q.Dropped(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	// Shard 0 keeps order.
	for _, n := range []string{"1", "2", "3"} {
		h := mustCompile(t, Config{URL: a.URL + "/o?n=" + n})
		req, _ := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
		q.Notify(h, req, 0)
	}
	waitUntil(t, "three notifications", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 3 })
	mu.Lock()
	if got := strings.Join(order, ","); got != "1,2,3" {
		t.Errorf("order %s, want 1,2,3", got)
	}
	mu.Unlock()
	unblock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Close(ctx)
	q.Notify(hb, blockReq, 0)
	if d := q.Dropped(); d != 4 {
		t.Errorf("dropped %d after Close and one more, want 4", d)
	}
}

func FuzzCompileBuild(f *testing.F) {
	f.Add("http://app.test/auth/$nchan_channel_id", "X-Channel-Id", "$nchan_channel_id", "$http_x_a")
	f.Add("https://a/${arg_x}?q=$cookie_c", "X-A", "pre-${nchan_subscriber_type}-post", "v\r\nInjected: 1")
	f.Add("http://a/", "Bad Name", "$", "")
	f.Add("http://$host/x", "X", "${", "\x00")
	f.Add("http://[::1]:80/$nchan_message_id", "X-Prev", "$nchan_prev_message_id", "ok")
	f.Fuzz(func(t *testing.T, url, name, value, header string) {
		h, err := Compile(Config{URL: url, Headers: [][2]string{{name, value}, {"X-Fixed", "$http_x_in"}}})
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/sub/x?x=1", nil)
		r.Header["X-In"] = []string{header}
		vars := location.Request{HTTP: r, Nchan: &location.Nchan{ChannelIDs: []string{header}, SubscriberType: value}}
		req, err := h.Build(context.Background(), http.MethodGet, vars, nil, nil)
		if err != nil {
			return
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			t.Fatalf("scheme %q", req.URL.Scheme)
		}
		for k, vs := range req.Header {
			if !validHeaderName(k) {
				t.Fatalf("header name %q", k)
			}
			for _, v := range vs {
				if k != "X-In" && !validHeaderValue(v) {
					t.Fatalf("header %s value %q", k, v)
				}
			}
		}
	})
}
