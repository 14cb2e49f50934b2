package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// testServer is a real Herald listening on a random loopback port.
type testServer struct {
	URL   string
	Store *memory.Store
}

// startServer starts Herald with the given YAML configuration (listen
// addresses are replaced by 127.0.0.1:0); an empty string uses the built-in
// default. It is stopped when the test ends.
func startServer(t testing.TB, yamlText string) *testServer {
	t.Helper()
	var cfg *config.Config
	if yamlText != "" {
		var err error
		if cfg, err = config.Parse([]byte(yamlText), "test.yaml"); err != nil {
			t.Fatalf("config: %v", err)
		}
	}
	s := servertest.Start(t, servertest.Options{Config: cfg})
	return &testServer{URL: s.URL, Store: s.Store.(*memory.Store)}
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// do sends one request with a bounded timeout and reads the whole answer.
func do(t testing.TB, method, url, body string, headers ...string) response {
	t.Helper()
	return doTimeout(t, 5*time.Second, method, url, body, headers...)
}

func doTimeout(t testing.TB, timeout time.Duration, method, url, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

// async runs do in a goroutine; the result arrives on the returned channel.
func async(t testing.TB, timeout time.Duration, method, url, body string, headers ...string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			ch <- response{Status: -1, Body: err.Error()}
			return
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- response{Status: -1, Body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ch <- response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	}()
	return ch
}

// storeKey parses a channel key in its "group/id" form.
func storeKey(t testing.TB, s string) store.ChannelKey {
	t.Helper()
	k, err := store.ParseChannelKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitSubscribers polls the store until channel key ("/<id>" without a
// group) has n subscribers, so a test knows its long-poll is parked.
func waitSubscribers(t testing.TB, s *testServer, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := s.Store.Info(context.Background(), storeKey(t, key)); err == nil && info.Subscribers == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("channel %q never reached %d subscribers", key, n)
}

func TestSmoke(t *testing.T) {
	s := startServer(t, "")
	got := async(t, 5*time.Second, "GET", s.URL+"/sub/chat", "")
	waitSubscribers(t, s, "/chat", 1)
	pub := do(t, "POST", s.URL+"/pub/chat", "hello", "Content-Type", "text/plain")
	if pub.Status != http.StatusCreated {
		t.Fatalf("publish: got %d, want 201", pub.Status)
	}
	r := <-got
	if r.Status != 200 || r.Body != "hello" || r.Header.Get("Etag") != "0" {
		t.Fatalf("subscriber got %d %q etag %q", r.Status, r.Body, r.Header.Get("Etag"))
	}
}
