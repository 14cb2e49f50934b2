package cli_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// testServeRedis runs two herald processes on one redis-server: Redis
// locations are shared between them, memory locations are not.
func testServeRedis(t *testing.T, bin string) {
	srv := redistest.Start(t)
	cfg := writeFile(t, "redis.yaml", `redis_url: redis://`+srv.Addr+`/0
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)$
        publisher: true
        channel_id: $1
        use_redis: on
      - location: ~ ^/sub/(\w+)$
        subscriber: [longpoll]
        channel_id: $1
        use_redis: on
      - location: ~ ^/mem/(\w+)$
        publisher: true
        channel_id: $1
`)
	if code, out, errOut := run(t, bin, "config", "check", "-c", cfg); code != 0 {
		t.Fatalf("config check: %d %s %s", code, out, errOut)
	}
	p1, addr1 := startHerald(t, bin, "-c", cfg)
	p2, addr2 := startHerald(t, bin, "-c", cfg)
	if r := httpDo(t, "POST", "http://"+addr1+"/pub/shared", "hello"); r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d %q", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", "http://"+addr2+"/sub/shared", ""); r.StatusCode != 200 || r.body != "hello" {
		t.Fatalf("subscribe on the other process: %d %q", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", "http://"+addr2+"/pub/shared", ""); !strings.Contains(r.body, "queued messages: 1") {
		t.Fatalf("info on the other process: %d %q", r.StatusCode, r.body)
	}
	if got, _ := srv.Do("EXISTS", "{/shared}:s"); got != ":1" {
		t.Fatalf("stream key not in Redis: %s", got)
	}
	if r := httpDo(t, "POST", "http://"+addr1+"/mem/local", "x"); r.StatusCode != http.StatusAccepted {
		t.Fatalf("memory publish: %d", r.StatusCode)
	}
	if r := httpDo(t, "GET", "http://"+addr2+"/mem/local", ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("memory channel seen by the other process: %d", r.StatusCode)
	}
	if got, _ := srv.Do("EXISTS", "{/local}:m"); got != ":0" {
		t.Fatalf("memory channel in Redis: %s", got)
	}
	for _, p := range []*heraldProc{p1, p2} {
		stopHerald(t, p)
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit %d; log:\n%s", code, p.log.String())
		}
	}
	_ = os.Remove(cfg)
}
