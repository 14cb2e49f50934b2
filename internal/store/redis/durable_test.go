package redis

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// TestWaitForReplica: with a replica, a publish is acknowledged once the
// replica has it (a replica that does not answer in time makes the publish
// fail with ErrUnavailable: the publisher gets 503, instead of the message
// being acknowledged on the master alone). Without waiting, the same publish is
// acknowledged at once.
func TestWaitForReplica(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", itoa(master.Port), "--enable-debug-command", "yes")
	waits, _ := newStore(t, master, func(o *Options) { o.WaitForReplica = true; o.PingInterval = 100 * time.Millisecond })
	plain, _ := newStore(t, master, func(o *Options) { o.PingInterval = 100 * time.Millisecond })
	key := store.ChannelKey{ID: "durable"}
	deadline := time.Now().Add(10 * time.Second)
	for waits.replicas.get(master.Addr) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the probe never saw the replica in sync")
		}
		time.Sleep(20 * time.Millisecond)
	}
	publishSoon := func(body string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := waits.Publish(ctx, key, store.Publication{Body: []byte(body)}, buffered)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %q with a healthy replica: %v", body, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	publishSoon("one")
	if r := replica.MustDo("DBSIZE"); r == ":0" {
		t.Fatal("an acknowledged message is not on the replica")
	}

	// The replica stops answering for two seconds.
	slept := make(chan struct{})
	go func() {
		if r, err := replica.Do("DEBUG", "SLEEP", "2"); err != nil || r != "+OK" {
			t.Errorf("DEBUG SLEEP: %q %v", r, err)
		}
		close(slept)
	}()
	time.Sleep(100 * time.Millisecond)
	_, err := waits.Publish(ctx, key, store.Publication{Body: []byte("two")}, buffered)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errNoReplica) {
		t.Fatalf("publish while the replica sleeps: %v, want no replica confirmed it", err)
	}
	if _, err := plain.Publish(ctx, key, store.Publication{Body: []byte("three")}, buffered); err != nil {
		t.Fatalf("publish without waiting while the replica sleeps: %v", err)
	}
	<-slept
	publishSoon("four")
	if waits.waitMisses.Load() == 0 {
		t.Fatal("no publish counted as unconfirmed")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// logRecorder keeps the messages of the records logged at warn level or
// above.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// TestStartWithoutRedis: a store whose Redis is down at start-up says so at
// warn level, reports it, keeps retrying, and says when Redis answers.
func TestStartWithoutRedis(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	rec := &logRecorder{}
	s, _ := newStore(t, srv, func(o *Options) { o.PingInterval = 50 * time.Millisecond; o.Logger = slog.New(rec) })
	deadline := time.Now().Add(5 * time.Second)
	for !rec.has("cannot reach Redis at start-up") {
		if time.Now().After(deadline) {
			t.Fatal("no warning that Redis cannot be reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h := s.Health(); h.Reachable || h.ConnectedServers != 0 {
		t.Fatalf("health with Redis down: %+v", h)
	}
	if _, err := s.Publish(ctx, store.ChannelKey{ID: "x"}, store.Publication{Body: []byte("x")}, buffered); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("publish with Redis down: %v", err)
	}
	srv.Restart()
	for !rec.has("reachable again") || !s.Health().Reachable {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("no word that Redis is reachable again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h := s.Health(); h.ConnectedServers != 1 || h.CommandsSent == 0 {
		t.Fatalf("health with Redis up: %+v", h)
	}
}
