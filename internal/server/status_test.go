package server_test

// The stub_status page.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// statusLocation is a stub_status location at /status.
var statusLocation = location("= /status", "stub_status: on")

func TestStubStatus(t *testing.T) {
	s := startServer(t, testConfig(nil, statusLocation, prefixLocation("pub", "publisher: true")))
	publish(t, s, "a", "one")
	publish(t, s, "b", "two")
	r := do(t, "GET", s.URL+"/status", "")
	for _, want := range []string{"total published messages: 2\n", "stored messages: 2\n", "channels: 2\n", "subscribers: 0\n", "redis connected servers: 0\n", "slow subscribers disconnected: 0\n"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("status page lacks %q:\n%s", want, r.Body)
		}
	}
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("status page: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	if r := do(t, "POST", s.URL+"/status", "x"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST status page: %d, want 405", r.Status)
	}
}

// TestStubStatusSumsStores: with locations on two stores, the status page
// counts both.
func TestStubStatusSumsStores(t *testing.T) {
	other := memory.New(memory.Options{})
	t.Cleanup(func() { other.Close() })
	cfg := testConfig(nil, statusLocation, prefixLocation("pub", "publisher: true"), prefixLocation("other", "publisher: true"))
	s := startServerWith(t, cfg, servertest.Options{StoreFor: func(l *config.Location) store.Store {
		if strings.Contains(l.Pattern.Path, "other") {
			return other
		}
		return nil
	}})
	publish(t, s, "a", "one")
	publishTo(t, s, "/other/b", "two")
	publishTo(t, s, "/other/c", "three")
	if st := other.Stats(); st.Channels != 2 {
		t.Fatalf("the second store has %d channels, want 2: the location did not use it", st.Channels)
	}
	r := do(t, "GET", s.URL+"/status", "")
	for _, want := range []string{"total published messages: 3\n", "stored messages: 3\n", "channels: 3\n"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("status page lacks %q:\n%s", want, r.Body)
		}
	}
}
