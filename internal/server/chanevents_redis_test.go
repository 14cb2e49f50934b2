package server_test

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	redisstore "github.com/heraldpush/herald/internal/store/redis"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// startRedisHerald starts a Herald node whose every location keeps its
// channels in Redis at addrs (a cluster's seeds with cluster set); it is
// stopped, then its store closed, when the test ends.
func startRedisHerald(t *testing.T, yamlText string, addrs []string, cluster bool) *servertest.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := redisstore.New(redisstore.Options{
		Addrs: addrs, Cluster: cluster, Namespace: "h:",
		RefreshInterval: 200 * time.Millisecond, NodeTTL: time.Second,
		OpTimeout: 2 * time.Second, DialTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server stops (cleanups run last first)
	return servertest.Start(t, servertest.Options{Config: cfg, Store: st})
}

// TestChannelEventsRedis runs the channel event scenarios on two Herald
// nodes sharing a Redis: every event is caused on node A and read by an
// events channel subscriber on node B.
func TestChannelEventsRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisHerald(t, eventsConfig(), []string{srv.Addr}, false)
	b := startRedisHerald(t, eventsConfig(), []string{srv.Addr}, false)
	runEventScenarios(t, evTarget{base: a.URL, meta: b.URL}, eventScenarios())
}

// TestChannelEventsReceiveRedis runs receiveScenarios on two nodes
// sharing a Redis, as TestChannelEventsRedis does.
func TestChannelEventsReceiveRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisHerald(t, eventsConfig(receiveLocations()...), []string{srv.Addr}, false)
	b := startRedisHerald(t, eventsConfig(receiveLocations()...), []string{srv.Addr}, false)
	runEventScenarios(t, evTarget{base: a.URL, meta: b.URL}, receiveScenarios())
}
