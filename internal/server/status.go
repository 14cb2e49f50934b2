package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Version is reported by the status page.
const Version = "0.1.0"

// stubStatus answers a stub_status location with Nchan's nchan_stub_status
// layout (so tools that parse it keep working) and Herald's own counters,
// summed over every store the server uses (memory and Redis locations
// alike; for Redis, this node's copies of the channels it follows).
func (s *Server) stubStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use GET.")
		return
	}
	st := s.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "total published messages: %d\n", st.Published)
	fmt.Fprintf(&b, "stored messages: %d\n", st.StoredMessages)
	fmt.Fprintf(&b, "shared memory used: %dK\n", st.MemoryUsed/1024)
	fmt.Fprintf(&b, "shared memory limit: %dK\n", st.MemoryLimit/1024)
	fmt.Fprintf(&b, "channels: %d\n", st.Channels)
	fmt.Fprintf(&b, "subscribers: %d\n", st.Subscribers)
	b.WriteString("redis pending commands: 0\nredis connected servers: 0\nredis unhealthy upstreams: 0\ntotal redis commands sent: 0\n")
	b.WriteString("total interprocess alerts received: 0\ninterprocess alerts in transit: 0\ninterprocess queued alerts: 0\ntotal interprocess send delay: 0\ntotal interprocess receive delay: 0\n")
	fmt.Fprintf(&b, "slow subscribers disconnected: %d\n", s.SlowSubscribers())
	fmt.Fprintf(&b, "herald version: %s\n", Version)
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte(b.String()))
	}
}
