package server_test

// The stub_status page.

import (
	"encoding/json"
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
	// Nchan's lines, in Nchan's order, and nothing else.
	want := []string{
		"total published messages: 2",
		"stored messages: 2",
		"shared memory used: ",
		"shared memory limit: 131072K",
		"channels: 2",
		"subscribers: 0",
		"redis pending commands: 0",
		"redis connected servers: 0",
		"redis unhealthy upstreams: 0",
		"total redis commands sent: 0",
		"total interprocess alerts received: 0",
		"interprocess alerts in transit: 0",
		"interprocess queued alerts: 0",
		"total interprocess send delay: 0",
		"total interprocess receive delay: 0",
		"nchan version: 1.3.6",
	}
	lines := strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("status page has %d lines, want %d:\n%s", len(lines), len(want), r.Body)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) || (!strings.HasSuffix(w, " ") && lines[i] != w) {
			t.Errorf("line %d is %q, want %q", i+1, lines[i], w)
		}
	}
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("status page: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	if r := do(t, "POST", s.URL+"/status", "x"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST status page: %d, want 405", r.Status)
	}

	// The JSON form has the same figures and Herald's own.
	r = do(t, "GET", s.URL+"/status", "", "Accept", "application/json")
	var st map[string]any
	if err := json.Unmarshal([]byte(r.Body), &st); err != nil || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON status %q (%q): %v", r.Body, r.Header.Get("Content-Type"), err)
	}
	for k, v := range map[string]float64{"total_published_messages": 2, "stored_messages": 2, "channels": 2, "subscribers": 0,
		"redis_connected_servers": 0, "slow_subscribers_disconnected": 0, "redis_channels_lost": 0} {
		if st[k] != v {
			t.Errorf("JSON status %s = %v, want %v", k, st[k], v)
		}
	}
	if st["herald_version"] == "" || st["nchan_version"] != "1.3.6" {
		t.Errorf("JSON status versions: %v %v", st["herald_version"], st["nchan_version"])
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
