package server_test

import (
	"testing"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// TestPushStreamPublisherRedis runs publishing, statistics and DELETE on
// two Herald nodes sharing a Redis: what one node publishes, the other's
// statistics count, in the module's bytes.
func TestPushStreamPublisherRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisHerald(t, psPubConfig(), []string{srv.Addr}, false)
	b := startRedisHerald(t, psPubConfig(), []string{srv.Addr}, false)
	info := func(ch, pub, stored string) string {
		return `{"channel": "` + ch + `", "published_messages": ` + pub + `, "stored_messages": ` + stored + `, "subscribers": 0}`
	}
	for _, step := range []struct {
		node *testServer
		x    psPubExchange
	}{
		{&testServer{URL: a.URL}, psPubExchange{name: "publish on a", method: "POST", path: "/pub?id=r1", body: "one", status: 200, contentType: jsonType, want: info("r1", "1", "1") + "\r\n"}},
		{&testServer{URL: b.URL}, psPubExchange{name: "publish on b", method: "POST", path: "/pub?id=r1", body: "two", headers: []string{"Event-Id", "e2"}, status: 200, contentType: jsonType, want: info("r1", "2", "2") + "\r\n"}},
		{&testServer{URL: a.URL}, psPubExchange{name: "another channel", method: "POST", path: "/pub?id=r2", body: "x", status: 200, contentType: jsonType, want: info("r2", "1", "1") + "\r\n"}},
		{&testServer{URL: b.URL}, psPubExchange{name: "GET on b", method: "GET", path: "/pub?id=r1", status: 200, contentType: jsonType, want: info("r1", "2", "2") + "\r\n"}},
		{&testServer{URL: b.URL}, psPubExchange{name: "ALL on b, in the order made", method: "GET", path: "/channels-stats?id=ALL", status: 200, contentType: jsonType,
			want: `{"hostname": "HOST", "time": "X", "channels": 2, "wildcard_channels": 0, "uptime": X, "infos": [` + "\r\n" + info("r1", "2", "2") + ",\r\n" + info("r2", "1", "1") + "\r\n]}\r\n"}},
		{&testServer{URL: a.URL}, psPubExchange{name: "DELETE on a", method: "DELETE", path: "/pub?id=r1", status: 200, explain: "Channel deleted."}},
		{&testServer{URL: b.URL}, psPubExchange{name: "gone on b", method: "GET", path: "/channels-stats?id=r1", status: 404}},
		{&testServer{URL: b.URL}, psPubExchange{name: "made again counts from 1", method: "POST", path: "/pub?id=r1", body: "again", status: 200, contentType: jsonType, want: info("r1", "1", "1") + "\r\n"}},
	} {
		step.x.run(t, step.node)
	}
}
