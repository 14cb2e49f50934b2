package config

import (
	"strings"
	"testing"
)

const redisYAML = `redis_url: redis://10.0.0.1:6380/2
redis_upstreams:
  main:
    servers: [redis://10.0.0.5:7000, "10.0.0.6:7000"]
    cluster: true
    namespace: "herald:"
    password: secret
  one:
    servers: redis://10.0.0.9
  watched:
    sentinels: [10.0.0.20:26379, redis://10.0.0.21:26379]
    master_name: mymaster
servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /memory
        pubsub: true
        channel_id: $arg_id
      - location: /url
        pubsub: true
        channel_id: $arg_id
        use_redis: on
      - location: /url-ns
        pubsub: true
        channel_id: $arg_id
        nchan_use_redis: on
        nchan_redis_url: 127.0.0.1
        nchan_redis_namespace: "x:"
      - location: /cluster
        pubsub: true
        channel_id: $arg_id
        redis_pass: main
      - location: /cluster-ns
        pubsub: true
        channel_id: $arg_id
        redis_pass: main
        redis_namespace: "other:"
      - location: /one
        pubsub: true
        channel_id: $arg_id
        redis_pass: one
        use_redis: off
      - location: /watched
        pubsub: true
        channel_id: $arg_id
        redis_pass: watched
        redis_storage_mode: nostore
        redis_ping_interval: 2s
        redis_follow_timeout: 5s
      - location: /fast
        pubsub: true
        channel_id: $arg_id
        redis_pass: watched
        nchan_redis_storage_mode: nostore
        nchan_redis_nostore_fastpublish: on
`

func TestRedisTargets(t *testing.T) {
	c, err := Parse([]byte(redisYAML), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	locs := c.Servers[0].Locations
	const tuning = " mode distributed connect 10s ping 1s idle 30s follow 15s wait true"
	want := []struct {
		redis bool
		key   string
		t     RedisTarget
	}{
		{false, "", RedisTarget{}},
		{true, "url redis://10.0.0.1:6380/2 ns " + tuning, RedisTarget{URLs: []string{"redis://10.0.0.1:6380/2"}}},
		{true, "url redis://127.0.0.1:6379 ns x:" + tuning, RedisTarget{URLs: []string{"redis://127.0.0.1:6379"}, Namespace: "x:"}},
		{true, "upstream main ns herald:" + tuning, RedisTarget{Upstream: "main", URLs: []string{"redis://10.0.0.5:7000", "redis://10.0.0.6:7000"}, Cluster: true, Namespace: "herald:", Password: "secret"}},
		{true, "upstream main ns other:" + tuning, RedisTarget{Upstream: "main", URLs: []string{"redis://10.0.0.5:7000", "redis://10.0.0.6:7000"}, Cluster: true, Namespace: "other:", Password: "secret"}},
		{true, "upstream one ns " + tuning, RedisTarget{Upstream: "one", URLs: []string{"redis://10.0.0.9"}}},
		{true, "upstream watched ns  mode nostore connect 10s ping 2s idle 30s follow 5s wait true", RedisTarget{Upstream: "watched",
			Sentinels: []string{"redis://10.0.0.20:26379", "redis://10.0.0.21:26379"}, MasterName: "mymaster"}},
		{true, "upstream watched ns  mode nostore connect 10s ping 1s idle 30s follow 15s wait true fastpublish", RedisTarget{Upstream: "watched",
			Sentinels: []string{"redis://10.0.0.20:26379", "redis://10.0.0.21:26379"}, MasterName: "mymaster", FastPublish: true}},
	}
	for i, w := range want {
		got, ok := c.Redis(&locs[i])
		if ok != w.redis || (ok && (got.Key() != w.key || strings.Join(got.URLs, " ") != strings.Join(w.t.URLs, " ") ||
			strings.Join(got.Sentinels, " ") != strings.Join(w.t.Sentinels, " ") || got.MasterName != w.t.MasterName ||
			got.Cluster != w.t.Cluster || got.Namespace != w.t.Namespace || got.Password != w.t.Password || got.Upstream != w.t.Upstream ||
			got.FastPublish != w.t.FastPublish)) {
			t.Errorf("location %s: Redis() = %+v %v (key %q), want %+v %v (key %q)", locs[i].Pattern, got, ok, got.Key(), w.t, w.redis, w.key)
		}
	}
	// The default configuration keeps everything in memory.
	d := Default()
	for i := range d.Servers[0].Locations {
		if _, ok := d.Redis(&d.Servers[0].Locations[i]); ok {
			t.Fatal("built-in configuration uses Redis")
		}
	}
}

func TestRedisErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown upstream", locYAML("redis_pass: nope"), []string{"test.yaml:4:", `redis_pass "nope" names no redis_upstreams entry`}},
		{"bad url", locYAML("redis_url: http://x"), []string{"test.yaml:7:", "want redis:// or rediss://"}},
		{"upstream without servers", "redis_upstreams: {a: {cluster: true}}\n" + locYAML(""), []string{"test.yaml:1:", `upstream "a" has no servers`}},
		{"several servers without cluster", "redis_upstreams: {a: {servers: [h1:1, h2:2]}}\n" + locYAML(""), []string{"test.yaml:1:", "need cluster: true"}},
		{"unknown upstream key", "redis_upstreams: {a: {servers: h, slaves: x}}\n" + locYAML(""), []string{"test.yaml:1:", `unknown key "slaves"`}},
		{"sentinels without a master name", "redis_upstreams: {a: {sentinels: [h:26379]}}\n" + locYAML(""), []string{"test.yaml:1:", "need master_name"}},
		{"sentinels and servers", "redis_upstreams: {a: {sentinels: [h:26379], master_name: m, servers: [h:1]}}\n" + locYAML(""), []string{"both servers and sentinels"}},
		{"master name alone", "redis_upstreams: {a: {servers: [h:1], master_name: m}}\n" + locYAML(""), []string{"master_name goes with sentinels"}},
		{"bad storage mode", locYAML("redis_storage_mode: everywhere"), []string{"test.yaml:7:", "want distributed, backup or nostore"}},
		{"upstreams in a server", strings.Replace(locYAML(""), "  - listen: 127.0.0.1:8080\n", "  - listen: 127.0.0.1:8080\n    redis_upstreams: {}\n", 1), []string{"goes at the top level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "test.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
