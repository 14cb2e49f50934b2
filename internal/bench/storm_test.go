package bench

import (
	"strings"
	"testing"
)

func TestStormConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		set    func(*Config)
		errHas string // "" means valid
	}{
		{name: "defaults", set: func(*Config) {}},
		{name: "websocket", set: func(c *Config) { c.Transport = TransportWebSocket }},
		{name: "publish at the drop", set: func(c *Config) { c.StormPublishAt = 0 }},
		{name: "publish when all are back", set: func(c *Config) { c.StormPublishAt = 1 }},
		{name: "channels up to n", set: func(c *Config) { c.Subscribers, c.Channels = 10, 10 }},
		{name: "several publishers", set: func(c *Config) { c.Channels, c.Publishers = 4, 8 }},
		{name: "long-poll", set: func(c *Config) { c.Transport = TransportLongPoll }, errHas: "--transport"},
		{name: "chunked", set: func(c *Config) { c.Transport = TransportChunked }, errHas: "--transport"},
		{name: "no subscribers", set: func(c *Config) { c.Subscribers = 0 }, errHas: "-n must be at least 1"},
		{name: "negative subscribers", set: func(c *Config) { c.Subscribers = -1 }, errHas: "-n must not be negative"},
		{name: "publish at below 0", set: func(c *Config) { c.StormPublishAt = -0.1 }, errHas: "--storm-publish-at"},
		{name: "publish at above 1", set: func(c *Config) { c.StormPublishAt = 1.5 }, errHas: "--storm-publish-at"},
		{name: "more channels than subscribers", set: func(c *Config) { c.Subscribers, c.Channels = 3, 4 }, errHas: "--channels must not exceed -n"},
		{name: "no channels", set: func(c *Config) { c.Channels = 0 }, errHas: "--channels must be at least 1"},
		{name: "batch", set: func(c *Config) { c.Batch, c.BatchURL = 10, "http://127.0.0.1:8080/batch" }, errHas: "--batch"},
		{name: "no concurrency", set: func(c *Config) { c.Concurrency = 0 }, errHas: "--concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := DefaultConfig(ScenarioStorm)
			if err != nil {
				t.Fatal(err)
			}
			tt.set(&cfg)
			err = cfg.Validate()
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("got %v, want an error with %q", err, tt.errHas)
			}
		})
	}
}

func TestStormDefaults(t *testing.T) {
	cfg, err := DefaultConfig(ScenarioStorm)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Subscribers != 1000 || cfg.Channels != 1 || cfg.StormPublishAt != 0.5 || cfg.Transport != TransportEventSource {
		t.Fatalf("defaults %+v", cfg)
	}
	// The other scenarios do not care about the fraction: 0 is valid there.
	for _, sc := range Scenarios {
		c, _ := DefaultConfig(sc)
		if sc != ScenarioStorm && c.StormPublishAt != 0 {
			t.Errorf("%s: StormPublishAt %v", sc, c.StormPublishAt)
		}
	}
}

func TestLastMessageIDFromAnswer(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"json", `{"messages": 1, "requested": 0, "subscribers": 3, "last_message_id": "1764755000:0" }`, "1764755000:0"},
		{"json with a newline", "\n{\"last_message_id\": \"1764755000:1\"}\r\n", "1764755000:1"},
		{"plain", "queued messages: 1\r\nlast requested: 0 sec. ago\r\nactive subscribers: 3\r\nlast message id: 1764755000:2", "1764755000:2"},
		{"plain with a trailing newline", "queued messages: 1\nlast message id: 17:0\n", "17:0"},
		{"json without the id", `{"messages": 1}`, ""},
		{"broken json", `{"last_message_id": `, ""},
		{"empty", "", ""},
		{"something else", "<html>201 Created</html>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastMessageID([]byte(tt.body)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStormResumeID(t *testing.T) {
	ch := &channel{ids: map[uint64]string{0: "100:0", 1: "101:0"}}
	tests := []struct {
		name   string
		lastID string
		seen   []uint64
		want   string
	}{
		{"eventsource id field", "100:0", []uint64{0}, "100:0"},
		{"from the publish answer", "", []uint64{0}, "100:0"},
		{"the latest received", "", []uint64{0, 1}, "101:0"},
		{"nothing received", "", nil, ""},
		{"no answer id", "", []uint64{5}, ""},
		{"control characters", "100:0\r\nX-Evil: 1", []uint64{0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &subscriber{ch: ch, lastID: []byte(tt.lastID)}
			for _, q := range tt.seen {
				s.tr.add(q, true)
			}
			if got := s.lastMessageID(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStormResultFailures(t *testing.T) {
	ok := StormResult{Dropped: 10, Reconnected: 10, Received: 10, PublishedAfter: 5}
	tests := []struct {
		name   string
		set    func(*StormResult)
		errHas string // "" means no failure
	}{
		{name: "clean", set: func(*StormResult) {}},
		{name: "lost", set: func(r *StormResult) { r.Lost, r.Received = 1, 9 }, errHas: "missed the mid-storm message"},
		{name: "duplicated", set: func(r *StormResult) { r.Duplicated = 2 }, errHas: "2 extra copies"},
		{name: "replayed", set: func(r *StormResult) { r.Replayed = 10 }, errHas: "received again"},
		{name: "out of order", set: func(r *StormResult) { r.OutOfOrder = 1 }, errHas: "out of order"},
		{name: "not reconnected", set: func(r *StormResult) { r.Reconnected, r.Failed = 7, 3 }, errHas: "3 of 10 subscribers did not reconnect"},
		{name: "not published", set: func(r *StormResult) { r.PublishedAfter = -1 }, errHas: "not published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.set(&r)
			f := strings.Join(r.failures(), "; ")
			if (tt.errHas == "") != (f == "") || !strings.Contains(f, tt.errHas) {
				t.Fatalf("failures %q, want %q", f, tt.errHas)
			}
		})
	}
	if (*StormResult)(nil).failures() != nil {
		t.Fatal("a nil result fails")
	}
}
