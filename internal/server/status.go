package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/chaninfo"
	"github.com/heraldpush/herald/internal/store"
)

// Version is Herald's release version.
const Version = "0.1.0"

// NchanVersion is the Nchan release whose protocol Herald speaks; the
// status page reports it where Nchan reports its own version, for tools
// that parse the page.
const NchanVersion = "1.3.6"

// status is what the status page reports, summed over every store the
// server uses (memory and Redis locations alike; for Redis, this node's
// copies of the channels it follows and its connection to Redis).
type status struct {
	Published      uint64 `json:"total_published_messages"`
	Stored         int    `json:"stored_messages"`
	MemoryUsedK    int64  `json:"shared_memory_used_kb"`
	MemoryLimitK   int64  `json:"shared_memory_limit_kb"`
	Channels       int    `json:"channels"`
	Subscribers    int    `json:"subscribers"`
	RedisPending   int64  `json:"redis_pending_commands"`
	RedisConnected int    `json:"redis_connected_servers"`
	RedisUnhealthy int    `json:"redis_unhealthy_upstreams"`
	RedisSent      uint64 `json:"total_redis_commands_sent"`
	NchanVersion   string `json:"nchan_version"`

	// Herald's own figures, in the JSON form only.
	Version                  string `json:"herald_version"`
	SlowSubscribers          uint64 `json:"slow_subscribers_disconnected"`
	RedisChannelsLost        int    `json:"redis_channels_lost"`
	RedisChannelsNotFollowed int    `json:"redis_channels_not_followed"`
	RedisLosses              uint64 `json:"redis_channel_losses"`
	RedisRestores            uint64 `json:"redis_channel_restores"`
	EventsDropped            uint64 `json:"events_dropped"`
}

// status gathers the status page's figures.
func (s *Server) status() status {
	st := s.Stats()
	out := status{
		Published: st.Published, Stored: st.StoredMessages,
		MemoryUsedK: st.MemoryUsed / 1024, MemoryLimitK: st.MemoryLimit / 1024,
		Channels: st.Channels, Subscribers: st.Subscribers,
		NchanVersion: NchanVersion, Version: Version,
		SlowSubscribers: s.SlowSubscribers(), EventsDropped: s.events.Dropped(),
	}
	for _, x := range s.stores {
		hr, ok := x.(store.HealthReporter)
		if !ok {
			continue
		}
		h := hr.Health()
		out.RedisPending += h.PendingCommands
		out.RedisConnected += h.ConnectedServers
		out.RedisSent += h.CommandsSent
		if !h.Reachable || h.ChannelsLost > 0 {
			out.RedisUnhealthy++
		}
		out.RedisChannelsLost += h.ChannelsLost
		out.RedisChannelsNotFollowed += h.ChannelsUnfollowed
		out.RedisLosses += h.Losses
		out.RedisRestores += h.Restores
	}
	return out
}

// stubStatus answers a stub_status location: exactly Nchan's
// nchan_stub_status lines in Nchan's order (tools parse them), or with
// Accept: application/json the same figures and Herald's own.
func (s *Server) stubStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use GET.")
		return
	}
	st := s.status()
	var body []byte
	ct := "text/plain"
	if chaninfo.Negotiate(r.Header.Get("Accept")) == chaninfo.JSON {
		body, _ = json.Marshal(st)
		body = append(body, '\n')
		ct = "application/json"
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "total published messages: %d\n", st.Published)
		fmt.Fprintf(&b, "stored messages: %d\n", st.Stored)
		fmt.Fprintf(&b, "shared memory used: %dK\n", st.MemoryUsedK)
		fmt.Fprintf(&b, "shared memory limit: %dK\n", st.MemoryLimitK)
		fmt.Fprintf(&b, "channels: %d\n", st.Channels)
		fmt.Fprintf(&b, "subscribers: %d\n", st.Subscribers)
		fmt.Fprintf(&b, "redis pending commands: %d\n", st.RedisPending)
		fmt.Fprintf(&b, "redis connected servers: %d\n", st.RedisConnected)
		fmt.Fprintf(&b, "redis unhealthy upstreams: %d\n", st.RedisUnhealthy)
		fmt.Fprintf(&b, "total redis commands sent: %d\n", st.RedisSent)
		// Herald has no worker processes and so no interprocess alerts.
		b.WriteString("total interprocess alerts received: 0\ninterprocess alerts in transit: 0\ninterprocess queued alerts: 0\ntotal interprocess send delay: 0\ntotal interprocess receive delay: 0\n")
		fmt.Fprintf(&b, "nchan version: %s\n", st.NchanVersion)
		body = []byte(b.String())
	}
	hd := w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}
