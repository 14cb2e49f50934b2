package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// waitUntil polls cond every 20ms for at most d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadinessFollowsRedis: a Herald whose channels are in Redis is ready
// while Redis answers and not ready once it is stopped (liveness does not
// change), and the metrics report the Redis server down.
func TestReadinessFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	cfg := parse(t, fmt.Sprintf(`
shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: "~ ^/pubsub/(.+)$", pubsub: true, channel_id: $1, use_redis: on, redis_url: "redis://%s", redis_ping_interval: 200ms}
      - {location: "= /live", health: live}
      - {location: "= /ready", health: ready}
      - {location: "= /metrics", metrics: on}
`, rs.Addr))
	a := start(t, cfg, app.Options{})
	base := "http://" + a.Addrs()[0].String()
	type readiness struct {
		Ready, Listening bool
		Stores           []struct {
			Store     string
			Reachable bool
		}
	}
	ready := func() (int, readiness) {
		req, _ := http.NewRequest("GET", base+"/ready", nil)
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("ready: %v", err)
		}
		defer res.Body.Close()
		var r readiness
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			t.Fatalf("ready body: %v", err)
		}
		return res.StatusCode, r
	}
	var st int
	var rd readiness
	if !waitUntil(10*time.Second, func() bool { st, rd = ready(); return st == http.StatusOK }) {
		t.Fatalf("with Redis up: ready answers %d %+v, want 200", st, rd)
	}
	if !rd.Ready || !rd.Listening || len(rd.Stores) != 1 || !rd.Stores[0].Reachable {
		t.Errorf("with Redis up: %+v", rd)
	}
	redisUp := func() (up, node float64) {
		_, body, _ := get(t, "GET", base+"/metrics", "")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		up, node = -1, -1
		if mf := mfs["herald_redis_up"]; mf != nil && len(mf.Metric) == 1 {
			up = mf.Metric[0].GetGauge().GetValue()
		}
		if mf := mfs["herald_redis_node_up"]; mf != nil {
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "node" && l.GetValue() == rs.Addr {
						node = m.GetGauge().GetValue()
					}
				}
			}
		}
		return up, node
	}
	if up, node := redisUp(); up != 1 || node != 1 {
		t.Errorf("with Redis up: herald_redis_up %v, herald_redis_node_up{node=%q} %v, want 1 and 1", up, rs.Addr, node)
	}

	rs.Kill()
	if !waitUntil(10*time.Second, func() bool { st, rd = ready(); return st == http.StatusServiceUnavailable }) {
		t.Fatalf("with Redis stopped: ready answers %d %+v, want 503", st, rd)
	}
	if rd.Ready || !rd.Listening || len(rd.Stores) != 1 || rd.Stores[0].Reachable {
		t.Errorf("with Redis stopped: %+v, want listening but the store unreachable", rd)
	}
	if code, body, _ := get(t, "GET", base+"/ready", ""); code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Errorf("with Redis stopped, plain ready: %d %q", code, body)
	}
	if code, body, _ := get(t, "GET", base+"/live", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("with Redis stopped, live: %d %q, want 200 ok", code, body)
	}
	if up, node := redisUp(); up != 0 || node != 0 {
		t.Errorf("with Redis stopped: herald_redis_up %v, herald_redis_node_up{node=%q} %v, want 0 and 0", up, rs.Addr, node)
	}
}

// TestReloadSwitchesAccessLogAndStartsMetrics: a reload that turns on the
// access log and adds a metrics location puts both in force for the
// requests after it; one that moves the log writes to the new file.
func TestReloadSwitchesAccessLogAndStartsMetrics(t *testing.T) {
	dir := t.TempDir()
	first, second := dir+"/first.log", dir+"/second.log"
	conf := func(top, extra string) string {
		return top + `
shutdown_timeout: 2s
access_log_format: "$request_method $uri $status"
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: "~ ^/pub/(\\w+)$", publisher: true, channel_id: $1}
` + extra
	}
	a := start(t, parse(t, conf("", "")), app.Options{})
	base := "http://" + a.Addrs()[0].String()
	if code, _, _ := get(t, "GET", base+"/metrics", ""); code != http.StatusNotFound {
		t.Fatalf("metrics before the reload: %d, want 404", code)
	}
	if err := a.Reload(context.Background(), parse(t, conf("access_log: "+first, `      - {location: "= /metrics", metrics: on}`+"\n"))); err != nil {
		t.Fatal(err)
	}
	get(t, "POST", base+"/pub/a", "x")
	if code, body, _ := get(t, "GET", base+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "herald_messages_published_total 1\n") {
		t.Errorf("metrics after the reload: %d, want 200 with the publish counted:\n%s", code, body)
	}
	waitContent := func(path, want string) {
		t.Helper()
		var got []byte
		if !waitUntil(5*time.Second, func() bool { got, _ = os.ReadFile(path); return string(got) == want }) {
			t.Fatalf("%s holds %q, want %q", path, got, want)
		}
	}
	waitContent(first, "POST /pub/a 202\nGET /metrics 200\n")
	if err := a.Reload(context.Background(), parse(t, conf("access_log: "+second, ""))); err != nil {
		t.Fatal(err)
	}
	get(t, "POST", base+"/pub/a", "y")
	waitContent(second, "POST /pub/a 202\n")
	waitContent(first, "POST /pub/a 202\nGET /metrics 200\n")
}
