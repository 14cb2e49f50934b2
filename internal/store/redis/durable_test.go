package redis

import (
	"errors"
	"strconv"
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
