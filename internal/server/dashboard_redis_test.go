package server_test

import (
	"testing"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// TestDashboardRedis: on two nodes sharing a Redis, node B's dashboard
// lists a channel published on node A (the listing is cluster-wide) and
// shows its connection to Redis.
func TestDashboardRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisHerald(t, dashboardConfig(nil), []string{srv.Addr}, false)
	b := startRedisHerald(t, dashboardConfig(nil), []string{srv.Addr}, false)
	if r := do(t, "POST", a.URL+"/pub/on-a", "hello"); r.Status != 202 {
		t.Fatalf("publish on A: %d %q", r.Status, r.Body)
	}
	d := openDashStream(t, b.URL+"/dash?events")
	d.until(t, "channel on-a listed on B and B connected to Redis", func(x snapshot) bool {
		return len(x.Channels) == 1 && x.Channels[0].ID == "on-a" && x.Channels[0].Messages == 1 &&
			x.Status.RedisConnected == 1 && x.Status.RedisUnhealthy == 0
	})
}
