package server_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// TestPublishOutlivesPublisher: a publish to several channels that has
// reached the store goes to every channel even when the publisher hangs up
// while its first one waits (here: Redis pauses writes, and other
// publishes hold every pipeline the node keeps in flight, so the call
// waits in the queue).
func TestPublishOutlivesPublisher(t *testing.T) {
	srv := redistest.Start(t)
	h := startRedisHerald(t, testConfig(nil, prefixLocation("pub", "publisher: true")), []string{srv.Addr}, false)
	for _, ch := range []string{"a", "b"} { // the channels exist: the publish is all that is left
		if r := do(t, "PUT", h.URL+"/pub/"+ch, ""); r.Status != 200 {
			t.Fatalf("create %s: %d %q", ch, r.Status, r.Body)
		}
	}
	srv.MustDo("CLIENT", "PAUSE", "800", "WRITE")
	var held sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for i := range 8 {
		held.Go(func() { request(ctx, "POST", fmt.Sprintf("%s/pub/other-%d", h.URL, i), "x", false, nil) })
	}
	t.Cleanup(func() { held.Wait(); cancel() })
	time.Sleep(150 * time.Millisecond) // they wait in Redis
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.URL, "http://"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /pub/a,b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	time.Sleep(200 * time.Millisecond) // the publish waits in Redis
	c.Close()
	for _, ch := range []string{"a", "b"} {
		var last response
		if !poll(waitTimeout, func() bool {
			last = do(t, "GET", h.URL+"/pub/"+ch, "")
			return last.Status == 200 && strings.Contains(last.Body, "queued messages: 1")
		}) {
			t.Fatalf("channel %s after the publisher left: %d %q, want its message", ch, last.Status, last.Body)
		}
	}
}
