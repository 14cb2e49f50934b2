package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/store"
)

// TestHandover: after another process took over the listeners, the old
// server ends each subscriber within the spread, after delivering what was
// published meanwhile: EventSource with a retry hint and no error status,
// WebSocket with close 1012 (service restart), a waiting long-poll with its
// timeout answer (408, so it polls again); answers on kept-alive
// connections say Connection: close; the listener accepts nothing more.
func TestHandover(t *testing.T) {
	s := startServer(t, defaultConfig())
	es := openEventSource(t, s, "/sub/es")
	wsc := openWebSocket(t, s, "/sub/ws")
	waitSubscribers(t, s, "es", 1)
	waitSubscribers(t, s, "ws", 1)
	first, _ := publish(t, s, "lp", "first")
	parked := async(t, 10*time.Second, "GET", s.URL+"/sub/lp", "", "If-Modified-Since", first.httpDate(), "If-None-Match", strconv.Itoa(int(first.Tag)))
	waitSubscribers(t, s, "lp", 1)

	const spread = 800 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.srv.Server.Handover(context.Background(), spread) }()
	waitFor(t, 5*time.Second, "listener closed", func() bool {
		_, err := http.Get(s.URL + "/pub/es")
		return err != nil
	})
	// Subscribers still receive until their moment comes: publish through
	// the store, as a request can no longer reach this server.
	if _, err := s.srv.Store.Publish(context.Background(), storeKey(t, "/es"), store.Publication{Body: []byte("during")}, store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, err := s.srv.Store.Publish(context.Background(), storeKey(t, "/ws"), store.Publication{Body: []byte("during")}, store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	rest, _ := es.drain(5 * time.Second) // to the end of the stream
	if !regexp.MustCompile(`^id: \d+:\d+\ndata: during\n\nretry: \d+\n\n$`).MatchString(rest) {
		t.Errorf("EventSource got %q, want the message published in the handover, then a retry in milliseconds and the end", rest)
	}
	wsc.expectFrame(t, ws.OpText, "during")
	wsc.expectClose(t, ws.StatusCode(1012), "")
	r := recv(t, parked)
	expectStatus(t, r, http.StatusRequestTimeout, "long-poll in a handover")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("handover: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handover did not finish")
	}
}
