package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
)

// startHerald starts Herald's built-in configuration on a random loopback
// port and returns its base URL.
func startHerald(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, servertest.Options{}).URL
}

// runBench runs a scenario against base with the options applied and
// checks the run passed with nothing lost, duplicated or out of order.
func runBench(t *testing.T, base, scenario string, opt func(*Config)) *Result {
	t.Helper()
	cfg, err := DefaultConfig(scenario)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pub = base + "/pub/{ch}"
	cfg.Sub = base + "/sub/{ch}"
	cfg.Timeout = 5 * time.Second
	cfg.Pace = time.Millisecond
	cfg.NoProgress = true
	if opt != nil {
		opt(&cfg)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := Run(ctx, &cfg, &out, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !res.Passed {
		t.Fatalf("run failed: %v\n%s", res.Failures, out.String())
	}
	d := res.Delivery
	if (d == nil) != (cfg.subscriberCount() == 0) {
		t.Fatalf("delivery %+v with %d subscribers", d, cfg.subscriberCount())
	}
	if d != nil && (d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 || d.Malformed != 0) {
		t.Fatalf("delivery %+v\n%s", d, out.String())
	}
	if cfg.JSON {
		var back Result
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("JSON output: %v\n%s", err, out.String())
		}
		if back.Scenario != scenario || back.Delivery == nil || d == nil || back.Delivery.Deliveries != d.Deliveries {
			t.Fatalf("JSON output does not match the result:\n%s", out.String())
		}
	} else if !strings.Contains(out.String(), "result      PASS") {
		t.Fatalf("table has no PASS line:\n%s", out.String())
	}
	return res
}

func TestFanout(t *testing.T) {
	base := startHerald(t)
	for _, tr := range []string{TransportEventSource, TransportWebSocket, TransportLongPoll, TransportChunked} {
		t.Run(tr, func(t *testing.T) {
			res := runBench(t, base, ScenarioFanout, func(c *Config) {
				c.Transport = tr
				c.Subscribers = 20
				c.Messages = 20
				c.JSON = tr == TransportWebSocket
				if tr == TransportLongPoll {
					c.Pace = 5 * time.Millisecond // stay within the 10-message buffer
				}
			})
			d := res.Delivery
			if d.Deliveries != 400 || d.Expected != 400 || d.Latency.Count != 400 || d.Complete != 20 {
				t.Fatalf("deliveries %d expected %d timed %d complete %d, want 400 400 400 20",
					d.Deliveries, d.Expected, d.Latency.Count, d.Complete)
			}
			if res.Connect.Established != 20 || res.Connect.ServerConfirmed != 20 || res.Publish.OK != 20 {
				t.Fatalf("connect %+v publish %+v", res.Connect, res.Publish)
			}
			if d.Latency.P50 <= 0 || d.Latency.P99 < d.Latency.P50 || d.Latency.Max < d.Latency.P99 {
				t.Fatalf("latency %+v", d.Latency)
			}
		})
	}
}

func TestPublish(t *testing.T) {
	base := startHerald(t)
	res := runBench(t, base, ScenarioPublish, func(c *Config) {
		c.Publishers = 2
		c.Channels = 4
		c.SubscribersPerChannel = 2
		c.Messages = 200
		c.Rate = 1000
	})
	if res.Publish.OK != 200 || res.Publish.Status["201"] != 200 || res.Publish.PerSecond <= 0 {
		t.Fatalf("publish %+v", res.Publish)
	}
	if res.Delivery.Deliveries != 400 || !res.Delivery.OrderChecked {
		t.Fatalf("delivery %+v", res.Delivery)
	}
	// Without subscribers: 202 Accepted, counted by status.
	res = runBench(t, base, ScenarioPublish, func(c *Config) {
		c.Publishers = 3
		c.Channels = 2
		c.Duration = 300 * time.Millisecond
	})
	if res.Publish.OK == 0 || res.Publish.Status["202"] != res.Publish.OK {
		t.Fatalf("publish %+v", res.Publish)
	}
}

func TestIdle(t *testing.T) {
	base := startHerald(t)
	res := runBench(t, base, ScenarioIdle, func(c *Config) {
		c.Subscribers = 50
		c.Settle = 100 * time.Millisecond
		c.ServerPIDs = []int{os.Getpid()}
		c.Transport = TransportWebSocket
	})
	b, m := res.Broadcast, res.Memory
	if b == nil || b.Subscribers != 50 || b.Reached != 50 || b.TimeToLastMs <= 0 {
		t.Fatalf("broadcast %+v", b)
	}
	if m == nil || len(m.After) != 2 || m.Before.VmRSS <= 0 || m.After[1].VmRSS <= 0 || m.Subscribers != 50 {
		t.Fatalf("memory %+v", m)
	}
	if res.CPU.ServerUser == nil || res.CPU.ToolUser+res.CPU.ToolSys <= 0 {
		t.Fatalf("cpu %+v", res.CPU)
	}
}

// TestIdlePushStream: idle subscribers of the push-stream preset's /ev/
// (messages in the module's JSON message template), confirmed by the
// publisher's channel statistics, reached by a broadcast to /pub?id=.
func TestIdlePushStream(t *testing.T) {
	cfg, err := config.Preset("pushstream")
	if err != nil {
		t.Fatal(err)
	}
	base := servertest.Start(t, servertest.Options{Config: cfg}).URL
	for _, tc := range []struct{ transport, sub string }{
		{TransportEventSource, "/ev/{ch}"},
		{TransportWebSocket, "/ws/{ch}"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			res := runBench(t, base, ScenarioIdle, func(c *Config) {
				c.Pub = base + "/pub?id={ch}"
				c.Sub = base + tc.sub
				c.Transport = tc.transport
				c.PushStream = true
				c.Subscribers = 50
				c.Settle = 100 * time.Millisecond
				c.ServerPIDs = []int{os.Getpid()}
			})
			if b := res.Broadcast; b == nil || b.Subscribers != 50 || b.Reached != 50 {
				t.Fatalf("broadcast %+v", b)
			}
			if d := res.Delivery; d.Backlog != 0 || d.Latency.Count != 50 {
				t.Errorf("delivery %+v: want the broadcast timed (its body found in the template)", d)
			}
			if res.Connect.ServerConfirmed != 50 {
				t.Errorf("the server confirmed %d subscribers, want 50", res.Connect.ServerConfirmed)
			}
		})
	}
}

func TestChurn(t *testing.T) {
	base := startHerald(t)
	res := runBench(t, base, ScenarioChurn, func(c *Config) {
		c.Subscribers = 10
		c.Duration = 1500 * time.Millisecond
		c.ChurnRate = 20
		c.Rate = 40
	})
	ch := res.Churn
	if ch == nil || ch.Disconnects < 10 || ch.Reconnects != ch.Disconnects {
		t.Fatalf("churn %+v", ch)
	}
	if res.Connect.Attempted != 10+ch.Reconnects || res.Connect.Failed != 0 {
		t.Fatalf("connect %+v", res.Connect)
	}
	if res.Delivery.Deliveries == 0 || res.Delivery.Subscribers < 20 {
		t.Fatalf("delivery %+v", res.Delivery)
	}
}

func TestChannels(t *testing.T) {
	base := startHerald(t)
	res := runBench(t, base, ScenarioChannels, func(c *Config) {
		c.Channels = 30
		c.Messages = 2
		c.Transport = TransportLongPoll
	})
	if res.Delivery.Deliveries != 60 || res.Delivery.Complete != 30 {
		t.Fatalf("delivery %+v", res.Delivery)
	}
}

func TestStorm(t *testing.T) {
	base := startHerald(t)
	tests := []struct {
		transport string
		n         int
		at        float64
	}{
		{TransportEventSource, 200, 0.5},
		{TransportWebSocket, 200, 0.5},
		{TransportEventSource, 50, 0}, // published before anyone is back: all resume into it
		{TransportWebSocket, 50, 1},   // published once all are back
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d/%g", tt.transport, tt.n, tt.at), func(t *testing.T) {
			res := runBench(t, base, ScenarioStorm, func(c *Config) {
				c.Transport = tt.transport
				c.Subscribers = tt.n
				c.Channels = 2
				c.StormPublishAt = tt.at
				c.JSON = tt.transport == TransportWebSocket
			})
			n := int64(tt.n)
			st := res.Storm
			if st == nil {
				t.Fatal("no storm result")
			}
			if st.Dropped != tt.n || st.Reconnected != n || st.Failed != 0 || st.Resumed != n {
				t.Fatalf("storm %+v", st)
			}
			if st.Seconds <= 0 || st.PerSecond <= 0 || st.Handshake.Count != uint64(n) || st.Handshake.P50 <= 0 ||
				st.Handshake.P90 < st.Handshake.P50 || st.Handshake.P99 < st.Handshake.P90 || st.Handshake.Max < st.Handshake.P99 {
				t.Fatalf("reconnect phase %+v", st)
			}
			if want := int64(math.Ceil(tt.at * float64(n))); st.PublishedAfter < want {
				t.Fatalf("published after %d reconnections, want at least %d", st.PublishedAfter, want)
			}
			if st.SpanFirstMs <= 0 || st.SpanLastMs < st.SpanFirstMs {
				t.Fatalf("span %v .. %v ms", st.SpanFirstMs, st.SpanLastMs)
			}
			if st.Received != n || st.Lost != 0 || st.Duplicated != 0 || st.Replayed != 0 || st.OutOfOrder != 0 {
				t.Fatalf("integrity %+v", st)
			}
			// Each client is accounted once, its two messages on both sides of the drop.
			d := res.Delivery
			if d.Deliveries != 2*n || d.Expected != uint64(2*n) || d.Subscribers != tt.n || d.Complete != tt.n {
				t.Fatalf("delivery %+v", d)
			}
			if res.Connect.Established != 2*n || res.Connect.Latency.Count != uint64(n) || res.Publish.OK != 4 {
				t.Fatalf("connect %+v publish %+v", res.Connect, res.Publish)
			}
		})
	}
}

// TestStormCatchesReplays runs the storm against a server that ignores
// Last-Event-ID: every reconnected subscriber gets the first message again
// from the channel's buffer, and the run fails saying so.
func TestStormCatchesReplays(t *testing.T) {
	cfg := config.Default()
	for i := range cfg.Servers[0].Locations {
		cfg.Servers[0].Locations[i].SubscriberLastMessageID = nil
	}
	base := servertest.Start(t, servertest.Options{Config: cfg}).URL
	for _, tr := range []string{TransportEventSource, TransportWebSocket} {
		t.Run(tr, func(t *testing.T) {
			c, _ := DefaultConfig(ScenarioStorm)
			c.Pub, c.Sub = base+"/pub/{ch}", base+"/sub/{ch}"
			c.Transport = tr
			c.Subscribers = 20
			c.Timeout = 5 * time.Second
			c.NoProgress = true
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			res, err := Run(ctx, &c, &out, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			st := res.Storm
			if res.Passed || st == nil || st.Replayed != 20 || st.Received != 20 || res.Delivery.Duplicated != 20 {
				t.Fatalf("passed %v storm %+v\n%s", res.Passed, st, out.String())
			}
			if !strings.Contains(out.String(), "storm: 20 messages received again after resuming") {
				t.Fatalf("no replay failure in the table:\n%s", out.String())
			}
		})
	}
}

func TestRunRefusesRemote(t *testing.T) {
	cfg, _ := DefaultConfig(ScenarioFanout)
	cfg.Sub = "http://198.51.100.1:8080/sub/{ch}"
	if _, err := Run(context.Background(), &cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("got %v", err)
	}
}

// TestFanoutIntervalPoll: interval-poll subscribers of an interval-poll
// location get every message once, in order, walking the channel with the
// answers' Etag and Last-Modified and asking again after each 304.
func TestFanoutIntervalPoll(t *testing.T) {
	cfg, err := config.Parse([]byte(`
servers:
  - listen: 127.0.0.1:0
    locations:
      - {location: ~ ^/pub/(.+)$, publisher: true, channel_id: $1}
      - {location: ~ ^/isub/(.+)$, subscriber: intervalpoll, channel_id: $1}
`), "intervalpoll.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := servertest.Start(t, servertest.Options{Config: cfg}).URL
	res := runBench(t, base, ScenarioFanout, func(c *Config) {
		c.Sub = base + "/isub/{ch}"
		c.Transport = TransportIntervalPoll
		c.PollInterval = 20 * time.Millisecond
		c.Subscribers = 20
		c.Messages = 20
		c.Rate = 20 // stay within the 10-message buffer
	})
	d := res.Delivery
	if d.Deliveries != 400 || d.Expected != 400 || d.Complete != 20 {
		t.Fatalf("deliveries %d expected %d complete %d, want 400 400 20", d.Deliveries, d.Expected, d.Complete)
	}
	if res.Connect.ServerConfirmed != -1 {
		t.Fatalf("server confirmed %d interval-poll subscribers; no server counts them", res.Connect.ServerConfirmed)
	}
}
