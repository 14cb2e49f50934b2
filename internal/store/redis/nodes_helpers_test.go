package redis_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	redisstore "github.com/heraldpush/herald/internal/store/redis"
)

// Several Herald nodes in one test: each a server.Server with a Redis
// engine of its own, on 127.0.0.1:0, all pointed at one Redis (or cluster).

const nodeConfig = `
message_buffer_length: 1000
message_timeout: 1h
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: [longpoll, eventsource, websocket]
        channel_id: $1
      - location: ~ ^/mem/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/mem/sub/(.+)$
        subscriber: true
        channel_id: $1
      - location: = /status
        stub_status: on
`

// node is one running Herald node.
type node struct {
	URL   string
	Store *redisstore.Store
	srv   *servertest.Server
	once  sync.Once
}

func nodeOpts(addrs []string, cluster bool) redisstore.Options {
	return redisstore.Options{
		Addrs:           addrs,
		Cluster:         cluster,
		Namespace:       "h:",
		RefreshInterval: 200 * time.Millisecond,
		NodeTTL:         time.Second,
		OpTimeout:       time.Second,
		DialTimeout:     300 * time.Millisecond,
		PingInterval:    300 * time.Millisecond,
		WaitForReplica:  true,
	}
}

// startNode starts a Herald node whose /pub and /sub locations use a Redis
// engine and whose /mem locations use memory.
func startNode(t testing.TB, o redisstore.Options) *node {
	t.Helper()
	cfg, err := config.Parse([]byte(nodeConfig), "node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownTimeout = 2 * time.Second
	st, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(memory.Options{})
	storeFor := func(l *config.Location) store.Store {
		if strings.HasPrefix(l.Pattern.String(), "~ ^/mem/") {
			return mem
		}
		return st
	}
	s := servertest.Start(t, servertest.Options{Config: cfg, Store: st, StoreFor: storeFor})
	n := &node{URL: s.URL, Store: st, srv: s}
	t.Cleanup(func() {
		n.stop(t, false)
		mem.Close()
	})
	return n
}

// stop shuts the node down; crash leaves its subscriber counts in Redis to
// expire, as a node that died would.
func (n *node) stop(t testing.TB, crash bool) {
	n.once.Do(func() {
		if err := n.srv.Stop(); err != nil {
			t.Errorf("node %s did not stop: %v", n.URL, err)
		}
		if crash {
			n.Store.Crash()
		} else {
			n.Store.Close()
		}
	})
}

func (n *node) host() string { return strings.TrimPrefix(n.URL, "http://") }

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// publish POSTs a message and returns the status and the message id from
// the channel info in the answer.
func publish(t testing.TB, n *node, ch, body string) (int, string) {
	t.Helper()
	return publishAt(t, n, "/pub/"+ch, body)
}

func publishAt(t testing.TB, n *node, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", n.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, field(string(b), "last message id")
}

// info GETs the channel info from a publisher location.
func info(t testing.TB, n *node, ch string) (status int, text string) {
	t.Helper()
	res, err := client.Get(n.URL + "/pub/" + ch)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func field(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func activeSubscribers(t testing.TB, n *node, ch string) int {
	t.Helper()
	status, text := info(t, n, ch)
	if status != 200 {
		return -1
	}
	v, _ := strconv.Atoi(field(text, "active subscribers"))
	return v
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received is what one subscriber got.
type received struct {
	bodies []string
	ids    []string
	err    error
}

// collector is a subscriber running in the background.
type collector struct {
	name string
	mu   sync.Mutex
	got  received
	stop context.CancelFunc
	done chan struct{}
	// reconnects counts new connections after the first (long-poll makes
	// one per message and is not counted).
	reconnects int
}

func (c *collector) add(id, body string) {
	c.mu.Lock()
	c.got.ids = append(c.got.ids, id)
	c.got.bodies = append(c.got.bodies, body)
	c.mu.Unlock()
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	if c.got.err == nil {
		c.got.err = err
	}
	c.mu.Unlock()
}

func (c *collector) snapshot() received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return received{bodies: append([]string(nil), c.got.bodies...), ids: append([]string(nil), c.got.ids...), err: c.got.err}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got.bodies)
}

func (c *collector) close() received {
	c.stop()
	<-c.done
	return c.snapshot()
}

// waitFor waits until the collector holds body last.
func (c *collector) waitFor(t testing.TB, last string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := c.snapshot()
		if len(r.bodies) > 0 && r.bodies[len(r.bodies)-1] == last {
			return
		}
		if r.err != nil {
			t.Fatalf("%s: %v after %d messages", c.name, r.err, len(r.bodies))
		}
		if time.Now().After(deadline) {
			tail := r.bodies[max(0, len(r.bodies)-3):]
			t.Fatalf("%s: no %q within %v; has %d messages ending %q", c.name, last, within, len(r.bodies), tail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newCollector(name string) (*collector, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	return &collector{name: name, stop: cancel, done: make(chan struct{})}, ctx
}

// longPoll subscribes with long-poll requests, each sending back the
// Last-Modified and Etag of the previous answer (Nchan's traversal).
func longPoll(t testing.TB, n *node, ch string) *collector {
	c, ctx := newCollector("long-poll@" + n.URL)
	go func() {
		defer close(c.done)
		var lastMod, etag string
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			req, _ := http.NewRequestWithContext(rctx, "GET", n.URL+"/sub/"+ch, nil)
			if lastMod != "" {
				req.Header.Set("If-Modified-Since", lastMod)
				req.Header.Set("If-None-Match", etag)
			}
			res, err := client.Do(req)
			if err != nil {
				cancel()
				if ctx.Err() == nil {
					c.fail(fmt.Errorf("long-poll request: %w", err))
				}
				return
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			cancel()
			switch {
			case err != nil:
				if ctx.Err() == nil {
					c.fail(fmt.Errorf("long-poll body: %w", err))
				}
				return
			case res.StatusCode == http.StatusOK:
				lastMod, etag = res.Header.Get("Last-Modified"), res.Header.Get("Etag")
				t, _ := http.ParseTime(lastMod)
				c.add(fmt.Sprintf("%d:%s", t.Unix(), etag), string(b))
			case res.StatusCode == http.StatusServiceUnavailable:
				// Redis is away: ask again, as clients do.
				time.Sleep(100 * time.Millisecond)
			default:
				c.fail(fmt.Errorf("long-poll status %d: %s", res.StatusCode, b))
				return
			}
		}
	}()
	return c
}

// eventSource subscribes over one EventSource connection; lastEventID
// resumes after a message id.
func eventSource(t testing.TB, n *node, ch, lastEventID string) *collector {
	t.Helper()
	c, ctx := newCollector("eventsource@" + n.URL)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/sub/"+ch, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("eventsource: %v", err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("eventsource status %d", res.StatusCode)
	}
	go func() {
		defer close(c.done)
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		var id, data string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				if ctx.Err() == nil {
					c.fail(fmt.Errorf("eventsource stream ended: %w", err))
				}
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if id != "" {
					c.add(id, data)
				}
				id, data = "", ""
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}()
	return c
}

// webSocket subscribes over one WebSocket connection.
func webSocket(t testing.TB, n *node, ch string) *collector {
	t.Helper()
	c, ctx := newCollector("websocket@" + n.URL)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{Timeout: 5 * time.Second}.Dial(dctx, "ws://"+n.host()+"/sub/"+ch)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	var rd io.Reader = conn
	if br != nil {
		rd = io.MultiReader(br, conn)
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	go func() {
		defer close(c.done)
		rw := struct {
			io.Reader
			io.Writer
		}{rd, conn}
		for {
			data, op, err := wsutil.ReadServerData(rw)
			if err != nil {
				if ctx.Err() == nil {
					c.fail(fmt.Errorf("websocket ended: %w", err))
				}
				return
			}
			if op == ws.OpText || op == ws.OpBinary {
				c.add("", string(data))
			}
		}
	}()
	return c
}

// checkSequence checks that got holds want in order, once each.
func checkSequence(t testing.TB, name string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d (got %q)", name, len(got), len(want), abbreviate(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: message %d is %q, want %q (got %q)", name, i, got[i], want[i], abbreviate(got))
		}
	}
}

func abbreviate(s []string) []string {
	if len(s) <= 12 {
		return s
	}
	return append(append(append([]string(nil), s[:6]...), "..."), s[len(s)-6:]...)
}

// warnings keeps the messages a node logs at warn level or above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, r.Message)
	w.mu.Unlock()
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// count returns how many warnings contain sub.
func (w *warnings) count(sub string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}
