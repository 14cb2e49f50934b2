package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

func parse(t *testing.T, yamlText string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// start runs an App and stops it when the test ends.
func start(t *testing.T, cfg *config.Config, o app.Options) *app.App {
	t.Helper()
	a, err := app.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	return a
}

func get(t *testing.T, method, url, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

const oneLocation = `
shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pubsub/(.+)$
        pubsub: true
        channel_id: $1
        store: %s
`

// countingEngine is a third engine: memory stores that count publishes.
func countingEngine(published *atomic.Int64) app.Engine {
	return app.Engine{
		Name:     "counting",
		Instance: func(*config.Config, *config.Location) (string, error) { return "", nil },
		Open: func(context.Context, app.Env, *config.Config, *config.Location) (store.Store, error) {
			return &countingStore{Store: memory.New(memory.Options{}), n: published}, nil
		},
	}
}

type countingStore struct {
	*memory.Store
	n *atomic.Int64
}

func (c *countingStore) Publish(ctx context.Context, ch store.ChannelKey, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	c.n.Add(1)
	return c.Store.Publish(ctx, ch, p, o)
}

func TestThirdEngine(t *testing.T) {
	var published atomic.Int64
	reg := app.DefaultRegistry()
	if err := reg.Register(countingEngine(&published)); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(app.MemoryEngine()); err == nil {
		t.Fatal("registering memory twice was accepted")
	}
	cfg := parse(t, strings.Replace(oneLocation, "%s", "counting", 1))
	if err := app.Check(cfg, reg); err != nil {
		t.Fatalf("check with the engine registered: %v", err)
	}
	a := start(t, cfg, app.Options{Engines: reg, NoMemoryTrim: true})
	url := "http://" + a.Addrs()[0].String() + "/pubsub/x"
	if status, _, _ := get(t, "POST", url, "hi"); status != http.StatusAccepted {
		t.Fatalf("publish: %d", status)
	}
	if published.Load() != 1 {
		t.Fatalf("the counting engine saw %d publishes, want 1", published.Load())
	}
	if status, body, _ := get(t, "GET", url, ""); status != http.StatusOK || body != "hi" {
		t.Fatalf("subscribe: %d %q", status, body)
	}
}

func TestUnknownEngine(t *testing.T) {
	cfg := parse(t, strings.Replace(oneLocation, "%s", "file", 1))
	err := app.Check(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown store "file" (have: memory, redis)`) {
		t.Fatalf("check: %v", err)
	}
	if _, err := app.New(context.Background(), cfg, app.Options{}); err == nil {
		t.Fatal("New accepted an unknown store")
	}
}

func TestRedisLocationsShareAStore(t *testing.T) {
	// New does not wait for Redis, so no server is needed to see how many
	// engines the locations make.
	cfg := parse(t, `
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: "~ ^/a/(.+)$", pubsub: true, channel_id: $1, use_redis: on, redis_url: "127.0.0.1:1"}
      - {location: "~ ^/b/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1"}
      - {location: "~ ^/c/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1", redis_namespace: other}
      - {location: "~ ^/d/(.+)$", pubsub: true, channel_id: $1}
      - {location: "~ ^/e/(.+)$", pubsub: true, channel_id: $1, store: memory}
`)
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	if n := len(a.Stores()); n != 3 {
		t.Fatalf("%d stores, want 3 (one Redis per namespace, one memory)", n)
	}
}

func TestHandedInListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The configured address is a placeholder nothing else could bind:
	// the handed-in socket serves it.
	cfg := parse(t, `
servers:
  - listen: 127.0.0.1:1
    locations:
      - {location: "~ ^/pubsub/(.+)$", pubsub: true, channel_id: $1}
`)
	a := start(t, cfg, app.Options{Listeners: map[string]net.Listener{"127.0.0.1:1": ln}, NoMemoryTrim: true})
	if got := a.Addrs()[0].String(); got != ln.Addr().String() {
		t.Fatalf("listening on %s, want the handed-in %s", got, ln.Addr())
	}
	if status, _, _ := get(t, "POST", "http://"+ln.Addr().String()+"/pubsub/x", "hi"); status != http.StatusAccepted {
		t.Fatalf("publish through the handed-in listener: %d", status)
	}
}

func TestDrainAnswersWaitingSubscribersThenStopCloses(t *testing.T) {
	cfg := parse(t, strings.Replace(oneLocation, "%s", "memory", 1))
	a := start(t, cfg, app.Options{NoMemoryTrim: true})
	base := "http://" + a.Addrs()[0].String()
	type answer struct {
		status int
		retry  string
	}
	got := make(chan answer, 1)
	go func() {
		res, err := http.Get(base + "/pubsub/wait")
		if err != nil {
			got <- answer{status: -1}
			return
		}
		res.Body.Close()
		got <- answer{res.StatusCode, res.Header.Get("Retry-After")}
	}()
	// Wait until the long-poll is parked.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if a.Server().Stats().Subscribers >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the long-poll never parked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	select {
	case ans := <-got:
		if ans.status != http.StatusServiceUnavailable || ans.retry == "" {
			t.Fatalf("waiting subscriber got %d (Retry-After %q), want 503 with Retry-After", ans.status, ans.retry)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting subscriber not answered by Drain")
	}
	if _, err := net.DialTimeout("tcp", a.Addrs()[0].String(), time.Second); err == nil {
		t.Fatal("still accepting connections after Drain")
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_, err := a.Stores()[0].Publish(context.Background(), store.ChannelKey{ID: "x"}, store.Publication{Body: []byte("late")}, store.ChannelOptions{BufferLength: 1})
	if !errors.Is(err, store.ErrClosed) {
		t.Fatalf("publish after Stop: %v, want the store closed", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	cfg := parse(t, strings.Replace(oneLocation, "%s", "memory", 1))
	a, err := app.New(context.Background(), cfg, app.Options{NoMemoryTrim: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(a.Addrs()) == 0 || a.Addrs()[0] == nil {
		if time.Now().After(deadline) {
			t.Fatal("never listened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRedisStorageModes(t *testing.T) {
	// Each redis_storage_mode makes its engine (New does not wait for
	// Redis), and locations of different modes do not share one.
	tests := []struct {
		mode, want string
	}{
		{"", "*redis.Store"},
		{"redis_storage_mode: distributed", "*redis.Store"},
		{"redis_storage_mode: backup", "*redis.Backup"},
		{"redis_storage_mode: nostore", "*redis.Nostore"},
	}
	for _, tt := range tests {
		t.Run(tt.want+" "+tt.mode, func(t *testing.T) {
			loc := `{location: "~ ^/a/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1"`
			if tt.mode != "" {
				loc += ", " + tt.mode
			}
			cfg := parse(t, "servers:\n  - listen: 127.0.0.1:0\n    locations:\n      - "+loc+"}\n")
			a, err := app.New(context.Background(), cfg, app.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Stop(context.Background())
			if st := a.Stores(); len(st) != 1 || fmt.Sprintf("%T", st[0]) != tt.want {
				t.Fatalf("stores %T, want one %s", st, tt.want)
			}
		})
	}
	cfg := parse(t, `
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: "~ ^/a/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1"}
      - {location: "~ ^/b/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1", redis_storage_mode: backup, redis_namespace: copy}
      - {location: "~ ^/c/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1", redis_storage_mode: nostore}
`)
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	if n := len(a.Stores()); n != 3 {
		t.Fatalf("%d stores, want one per mode", n)
	}
}

func TestRedisBackupNeedsANamespaceOfItsOwn(t *testing.T) {
	tests := []struct {
		name, b string
		ok      bool
	}{
		{"backup beside distributed", "redis_storage_mode: backup", false},
		{"backup in a namespace of its own", "redis_storage_mode: backup, redis_namespace: copy", true},
		{"nostore beside distributed", "redis_storage_mode: nostore", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, `
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: "~ ^/a/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1"}
      - {location: "~ ^/b/(.+)$", pubsub: true, channel_id: $1, store: redis, redis_url: "127.0.0.1:1", `+tt.b+`}
`)
			err := app.Check(cfg, nil)
			if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "namespace")) {
				t.Fatalf("check: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
