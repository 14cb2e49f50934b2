package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
)

func TestDefault(t *testing.T) {
	c := Default()
	if len(c.Servers) != 1 {
		t.Fatalf("%d servers, want 1", len(c.Servers))
	}
	s := c.Servers[0]
	if len(s.Listen) != 1 || s.Listen[0] != "127.0.0.1:8080" {
		t.Fatalf("listen = %q, want [127.0.0.1:8080]", s.Listen)
	}
	if len(s.Locations) != 6 {
		t.Fatalf("%d locations, want 6", len(s.Locations))
	}
	want := []struct {
		pattern string
		pub     bool
		sub     Transport
		id      string
	}{
		{"= /pub", true, 0, "$arg_id"},
		{"~ ^/pub/(.+)$", true, 0, "$1"},
		{"= /sub", false, DefaultTransports, "$arg_id"},
		{"~ ^/sub/(.+)$", false, DefaultTransports, "$1"},
		{"= /pubsub", true, DefaultTransports, "$arg_id"},
		{"~ ^/pubsub/(.+)$", true, DefaultTransports, "$1"},
	}
	for i, l := range s.Locations {
		w := want[i]
		if l.Pattern.String() != w.pattern {
			t.Errorf("location %d pattern %q, want %q", i, l.Pattern, w.pattern)
		}
		if l.Publisher.Enabled() != w.pub || l.Subscriber != w.sub {
			t.Errorf("location %q: publisher %v subscriber %v, want %v %v", w.pattern, l.Publisher, l.Subscriber, w.pub, w.sub)
		}
		if len(l.ChannelID) != 1 || l.ChannelID[0].String() != w.id {
			t.Errorf("location %q: channel_id %v, want %q", w.pattern, l.ChannelID, w.id)
		}
		if l.SplitDelimiter != "," {
			t.Errorf("location %q: split delimiter %q, want \",\"", w.pattern, l.SplitDelimiter)
		}
	}
	if c.MaxReservedMemory != 128<<20 || c.MaxBodyMemory != 64<<20 || c.ShutdownTimeout != 10*time.Second || c.LogLevel != "info" || c.LogFormat != "text" {
		t.Errorf("globals = %d %d %v %q %q", c.MaxReservedMemory, c.MaxBodyMemory, c.ShutdownTimeout, c.LogLevel, c.LogFormat)
	}

	// DefaultYAML is a copy: changing it does not change the built-in.
	b := DefaultYAML()
	b[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML returns the shared slice")
	}
}

func TestLocationDefaults(t *testing.T) {
	c := mustParse(t, `
servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /
        pubsub: true
        channel_id: $uri
`)
	l := c.Servers[0].Locations[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"MessageBufferLength", l.MessageBufferLength, 10},
		{"MinMessageBufferLength", l.MinMessageBufferLength, 0},
		{"MessageTimeout", l.MessageTimeout, time.Hour},
		{"StoreMessages", l.StoreMessages, true},
		{"BufferLength()", l.BufferLength(), 10},
		{"ChannelTimeout", l.ChannelTimeout, time.Hour},
		{"SubscriberFirstMessage", l.SubscriberFirstMessage, store.Start{Kind: store.StartOldest}},
		{"SubscriberTimeout", l.SubscriberTimeout, time.Duration(0)},
		{"SubscriberConcurrency", l.SubscriberConcurrency, store.Broadcast},
		{"SubscribeExistingChannelsOnly", l.SubscribeExistingChannelsOnly, false},
		{"MaxChannelSubscribers", l.MaxChannelSubscribers, 0},
		{"MaxChannelIDLength", l.MaxChannelIDLength, 1024},
		{"SubscriberLastMessageID", exprStrings(l.SubscriberLastMessageID), "$http_last_event_id $arg_last_event_id"},
		{"CompoundEtagMessageID", l.CompoundEtagMessageID, false},
		{"CustomEtagHeader", l.CustomEtagHeader, ""},
		{"ClientMaxBodySize", l.ClientMaxBodySize, int64(1 << 20)},
		{"ClientBodyTimeout", l.ClientBodyTimeout, 60 * time.Second},
		{"DefaultType", l.DefaultType, ""},
		{"SplitDelimiter", l.SplitDelimiter, ""},
		{"Line", l.Line, 4},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func exprStrings(es []location.Expr) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, " ")
}

func mustParse(t *testing.T, y string) *Config {
	t.Helper()
	c, err := Parse([]byte(strings.TrimPrefix(y, "\n")), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"5m", 5 * time.Minute},
		{"1h", time.Hour},
		{"1d", 24 * time.Hour},
		{"2d", 48 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1y", 365 * 24 * time.Hour},
		{"500ms", 500 * time.Millisecond},
		{"1h30m", 90 * time.Minute},
		{"1m30s", 90 * time.Second},
		{"1h30", time.Hour + 30*time.Second},
		{"1.5h", 90 * time.Minute},
		{"0", 0},
		{"0s", 0},
		{"45", 45 * time.Second},
		{" 10s ", 10 * time.Second},
		{"10S", 10 * time.Second},
		{"1H", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "  ", "abc", "s", "5x", "5 s", "-5", "-5s", "1.2.3s", "1h-5m", "5mm", "99999999999", "300y", "1e3s"} {
		t.Run("error "+in, func(t *testing.T) {
			if got, err := ParseDuration(in); err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", in, got)
			}
		})
	}
}

func TestFormatDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 30 * time.Second, 5 * time.Minute, 90 * time.Minute, time.Hour, 48 * time.Hour} {
		s := FormatDuration(d)
		back, err := ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, s, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"128M", 128 << 20},
		{"128m", 128 << 20},
		{"1k", 1 << 10},
		{"1K", 1 << 10},
		{"0.5G", 512 << 20},
		{"2g", 2 << 30},
		{"1000", 1000},
		{"0", 0},
		{" 64k ", 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if back, err := ParseSize(FormatSize(got)); err != nil || back != got {
				t.Fatalf("ParseSize(FormatSize(%d) = %q) = %d, %v", got, FormatSize(got), back, err)
			}
		})
	}
	for _, in := range []string{"", " ", "abc", "M", "-1", "-1M", "1T", "1 MB", "1MB", "10kk", "2000000G", "Inf", "NaN", "nanM"} {
		t.Run("error "+in, func(t *testing.T) {
			if got, err := ParseSize(in); err == nil {
				t.Fatalf("ParseSize(%q) = %d, want an error", in, got)
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"on", true}, {"ON", true}, {"true", true}, {"True", true}, {"yes", true}, {"1", true},
		{"off", false}, {"false", false}, {"no", false}, {"0", false}, {" off ", false},
	}
	for _, tt := range tests {
		got, err := ParseBool(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "maybe", "2", "enabled", "o"} {
		if got, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseStart(t *testing.T) {
	tests := []struct {
		in   string
		want store.Start
	}{
		{"oldest", store.Start{Kind: store.StartOldest}},
		{"1", store.Start{Kind: store.StartOldest}},
		{"newest", store.Start{Kind: store.StartNewest}},
		{"0", store.Start{Kind: store.StartNewest}},
		{"2", store.Start{Kind: store.StartNth, N: 2}},
		{"32", store.Start{Kind: store.StartNth, N: 32}},
		{"-1", store.Start{Kind: store.StartNth, N: -1}},
		{"-32", store.Start{Kind: store.StartNth, N: -32}},
	}
	for _, tt := range tests {
		got, err := ParseStart(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseStart(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"33", "-33", "40", "first", ""} {
		if got, err := ParseStart(in); err == nil {
			t.Errorf("ParseStart(%q) = %+v, want an error", in, got)
		}
	}
}

// locYAML is a configuration whose single location ends with extra on line 7.
func locYAML(extra string) string {
	return `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: ~ ^/sub/(\w+)$
        subscriber: true
        channel_id: $1
        ` + extra + "\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{
			"unknown key with suggestion", locYAML("mesage_timeout: 5m"),
			[]string{"test.yaml:7:", `unknown key "mesage_timeout"`, `did you mean "message_timeout"`},
		},
		{
			"unknown prefixed key with suggestion", locYAML("nchan_mesage_timeout: 5m"),
			[]string{"test.yaml:7:", `"nchan_mesage_timeout"`, `did you mean "message_timeout"`},
		},
		{
			"unknown key without suggestion", locYAML("completely_unrelated_thing: 1"),
			[]string{"test.yaml:7:", `unknown key "completely_unrelated_thing"`},
		},
		{
			"negative buffer length", locYAML("message_buffer_length: -1"),
			[]string{"test.yaml:7:", "message_buffer_length", `"-1"`},
		},
		{
			"first message out of range", locYAML("subscriber_first_message: 40"),
			[]string{"test.yaml:7:", "subscriber_first_message", "40"},
		},
		{
			"bogus transport", locYAML("pubsub: [bogus]"),
			[]string{"test.yaml:7:", "pubsub", `unknown transport "bogus"`},
		},
		{
			"bogus publisher", locYAML("publisher: [carrier-pigeon]"),
			[]string{"test.yaml:7:", "publisher", "carrier-pigeon"},
		},
		{
			"bad duration", locYAML("message_timeout: soon"),
			[]string{"test.yaml:7:", "message_timeout", "soon"},
		},
		{
			"bad bool", locYAML("store_messages: maybe"),
			[]string{"test.yaml:7:", "store_messages", "maybe"},
		},
		{
			"bad concurrency", locYAML("subscriber_concurrency: sometimes"),
			[]string{"test.yaml:7:", "subscriber_concurrency", "sometimes"},
		},
		{
			"bad size", locYAML("client_max_body_size: lots"),
			[]string{"test.yaml:7:", "client_max_body_size", "lots"},
		},
		{
			"mapping where a value goes", locYAML("message_timeout: {a: 1}"),
			[]string{"test.yaml:7:", "message_timeout"},
		},
		{
			"bad variable", locYAML("channel_group: $nope"),
			[]string{"test.yaml:7:", "channel_group", "unknown variable $nope"},
		},
		{
			"capture beyond the regex", locYAML("publisher_channel_id: $2"),
			[]string{"test.yaml:4:", "$2", "1 capture group"},
		},
		{
			"too many channel ids", locYAML("subscriber_channel_id: [a, b, c, d, e, f, g, h]"),
			[]string{"test.yaml:7:", "subscriber_channel_id", "at most 7"},
		},
		{
			"duplicate key", locYAML("subscriber: [longpoll]"),
			[]string{"test.yaml:7:", "subscriber is set twice (first at line 5)"},
		},
		{
			"duplicate key through an alias", locYAML("push_subscriber: [longpoll]"),
			[]string{"test.yaml:7:", "push_subscriber is set twice (first at line 5)"},
		},
		{
			"min buffer above buffer", locYAML("min_message_buffer_length: 11"),
			[]string{"test.yaml:4:", "min_message_buffer_length"},
		},
		{
			"global key in a location", locYAML("log_level: debug"),
			[]string{"test.yaml:7:", "log_level", "top level", "not in a location"},
		},
		{
			"global key in a server", "servers:\n  - listen: 127.0.0.1:8080\n    max_reserved_memory: 1G\n    locations: [{location: /, pubsub: true, channel_id: x}]\n",
			[]string{"test.yaml:3:", "max_reserved_memory", "not in a server"},
		},
		{
			"unknown top-level key", "servers: []\nmesage_timeout: 5m\n",
			[]string{"test.yaml:2:", "mesage_timeout", "at the top level", `did you mean "message_timeout"`},
		},
		{
			"unknown server key", "servers:\n  - listen: 127.0.0.1:8080\n    lisen: 127.0.0.1:9090\n",
			[]string{"test.yaml:3:", `"lisen"`, `did you mean "listen"`},
		},
		{
			"bad top-level value", "log_level: loud\nservers: []\n",
			[]string{"test.yaml:1:", "log_level", "loud"},
		},
		{
			"bad body timeout", locYAML("client_body_timeout: forever"),
			[]string{"test.yaml:7:", "client_body_timeout", "forever"},
		},
		{
			"bad body memory", "max_body_memory: plenty\nservers: []\n",
			[]string{"test.yaml:1:", "max_body_memory", "plenty"},
		},
		{
			"small memory", "max_reserved_memory: 1k\nservers: []\n",
			[]string{"test.yaml:1:", "max_reserved_memory"},
		},
		{
			"invalid YAML", "servers:\n  - listen: 127.0.0.1:8080\n    locations: [\n",
			[]string{"test.yaml:", "invalid YAML"},
		},
		{
			"invalid YAML indentation", "log_level: info\nshutdown_timeout: 5s\n message_timeout: 3\n",
			[]string{"test.yaml:3:", "invalid YAML"},
		},
		{
			"tab indentation", "servers:\n\t- listen: x\n",
			[]string{"test.yaml:2:", "invalid YAML"},
		},
		{
			"empty file", "",
			[]string{"test.yaml", "empty configuration"},
		},
		{
			"not a mapping", "- a\n- b\n",
			[]string{"test.yaml:1:", "mapping"},
		},
		{
			"missing servers", "message_timeout: 5m\n",
			[]string{"test.yaml:1:", "no servers"},
		},
		{
			"empty servers", "servers: []\n",
			[]string{"test.yaml:1:", "servers must be a non-empty list"},
		},
		{
			"server without listen", "servers:\n  - locations: [{location: /, pubsub: true, channel_id: x}]\n",
			[]string{"test.yaml:2:", "no listen address"},
		},
		{
			"bad listen address", "servers:\n  - listen: localhost\n    locations: [{location: /, pubsub: true, channel_id: x}]\n",
			[]string{"test.yaml:2:", "listen", "host:port"},
		},
		{
			"server without locations", "servers:\n  - listen: 127.0.0.1:8080\n",
			[]string{"test.yaml:2:", "locations"},
		},
		{
			"location without location key", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /ok
        pubsub: true
        channel_id: x
      - subscriber: true
        channel_id: x
`,
			[]string{"test.yaml:7:", "`location` key"},
		},
		{
			"location without a role", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /x
        channel_id: x
`,
			[]string{"test.yaml:4:", "/x", "needs publisher, subscriber, pubsub or stub_status"},
		},
		{
			"location with publisher off", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /x
        publisher: off
        channel_id: x
`,
			[]string{"test.yaml:4:", "needs publisher, subscriber, pubsub or stub_status"},
		},
		{
			"location without channel id", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /x
        subscriber: true
`,
			[]string{"test.yaml:4:", "channel_id"},
		},
		{
			"bad location pattern", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: ~ ^/sub/(.+$
        subscriber: true
        channel_id: x
`,
			[]string{"test.yaml:4:", "location"},
		},
		{
			"channel id $2 with one group", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: ~ ^/sub/(\w+)$
        subscriber: true
        channel_id: $2
`,
			[]string{"test.yaml:4:", `"$2" uses $2`, "1 capture group"},
		},
		{
			"duplicate listen address", `servers:
  - listen: 127.0.0.1:8080
    locations: [{location: /, pubsub: true, channel_id: x}]
  - listen: [127.0.0.1:9090, 127.0.0.1:8080]
    locations: [{location: /, pubsub: true, channel_id: x}]
`,
			[]string{"test.yaml:4:", "127.0.0.1:8080", "already used", "line 2"},
		},
		{
			"bad indentation names its own line", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /a
        pubsub: true
       channel_id: $1
`,
			[]string{"test.yaml:6:", "invalid YAML"},
		},
		{
			"duplicate location", `servers:
  - listen: 127.0.0.1:8080
    locations:
      - {location: "~ ^/a/(.+)$", pubsub: true, channel_id: $1}
      - {location: "= /b", pubsub: true, channel_id: x}
      - {location: "~ ^/a/(.+)$", subscriber: true, channel_id: $1}
`,
			[]string{"test.yaml:6:", `duplicate location "~ ^/a/(.+)$"`, "line 4"},
		},
		{
			"store conflicts with use_redis", locYAML("store: memory\n        use_redis: on"),
			[]string{"store: memory conflicts with use_redis"},
		},
		{
			"bad engine name", locYAML("store: Mem ory"),
			[]string{"test.yaml:7:", "not an engine name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "test.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want an error containing %q", c, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseErrorType(t *testing.T) {
	_, err := Parse([]byte(locYAML("mesage_timeout: 5m")), "test.yaml")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if ce.File != "test.yaml" || ce.Line != 7 || ce.Column != 9 {
		t.Fatalf("error at %s:%d:%d, want test.yaml:7:9", ce.File, ce.Line, ce.Column)
	}
	want := `test.yaml:7:9: unknown key "mesage_timeout" in a location (did you mean "message_timeout"?)`
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yaml"); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	path := t.TempDir() + "/herald.yaml"
	if err := os.WriteFile(path, []byte(locYAML("message_buffer_length: x")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path+":7:") {
		t.Fatalf("Load error %v does not name %s:7", err, path)
	}
}

func TestAliases(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		check func(l Location) bool
	}{
		{"push_authorized_channels_only", "push_authorized_channels_only: on", func(l Location) bool { return l.SubscribeExistingChannelsOnly }},
		{"authorized_channels_only", "authorized_channels_only: on", func(l Location) bool { return l.SubscribeExistingChannelsOnly }},
		{"nchan_subscribe_existing_channels_only", "nchan_subscribe_existing_channels_only: yes", func(l Location) bool { return l.SubscribeExistingChannelsOnly }},
		{"subscribe_existing_channels_only", "subscribe_existing_channels_only: true", func(l Location) bool { return l.SubscribeExistingChannelsOnly }},
		{"nchan_message_buffer_length", "nchan_message_buffer_length: 5", func(l Location) bool { return l.MessageBufferLength == 5 }},
		{"push_max_message_buffer_length", "push_max_message_buffer_length: 3", func(l Location) bool { return l.MessageBufferLength == 3 }},
		{"max_message_buffer_length", "max_message_buffer_length: 4", func(l Location) bool { return l.MessageBufferLength == 4 }},
		{"nchan_message_max_buffer_length", "nchan_message_max_buffer_length: 6", func(l Location) bool { return l.MessageBufferLength == 6 }},
		{"push_message_timeout", "push_message_timeout: 2m", func(l Location) bool { return l.MessageTimeout == 2*time.Minute }},
		{"nchan_store_messages", "nchan_store_messages: off", func(l Location) bool { return !l.StoreMessages && l.BufferLength() == 0 }},
		{"upper case", "NCHAN_MESSAGE_BUFFER_LENGTH: 7", func(l Location) bool { return l.MessageBufferLength == 7 }},
		{"push_subscriber_concurrency", "push_subscriber_concurrency: last", func(l Location) bool { return l.SubscriberConcurrency == store.Last }},
		{"push_max_channel_subscribers", "push_max_channel_subscribers: 2", func(l Location) bool { return l.MaxChannelSubscribers == 2 }},
		{"push_max_channel_id_length", "push_max_channel_id_length: 64", func(l Location) bool { return l.MaxChannelIDLength == 64 }},
		{"push_min_message_buffer_length", "push_min_message_buffer_length: 2", func(l Location) bool { return l.MinMessageBufferLength == 2 }},
		{"sub_channel_id", "nchan_subscriber_channel_id: a", func(l Location) bool { return exprStrings(l.SubscriberChannelID) == "a" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, locYAML(tt.line))
			if l := c.Servers[0].Locations[0]; !tt.check(l) {
				t.Fatalf("%q did not set its field: %+v", tt.line, l)
			}
		})
	}

	// The global key aliases too.
	c := mustParse(t, "nchan_shared_memory_size: 64M\nservers: [{listen: \"127.0.0.1:1\", locations: [{location: /, pubsub: true, channel_id: x}]}]\n")
	if c.MaxReservedMemory != 64<<20 {
		t.Fatalf("nchan_shared_memory_size: MaxReservedMemory = %d", c.MaxReservedMemory)
	}
}

func TestInheritance(t *testing.T) {
	c := mustParse(t, `
message_timeout: 5m
nchan_message_buffer_length: 20
channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:8080
    push_message_buffer_length: 30
    locations:
      - location: = /a
        publisher: true
        channel_id: a
      - location: = /b
        publisher: true
        channel_id: b
        message_timeout: 1m
        message_buffer_length: 5
        channel_id_split_delimiter: ""
    subscriber_first_message: newest
  - listen: 127.0.0.1:8081
    locations:
      - location: /
        subscriber: true
        channel_id: $uri
`)
	tests := []struct {
		name    string
		l       Location
		timeout time.Duration
		buffer  int
		first   store.Start
		split   string
	}{
		{"server 1 /a: top-level and server defaults", c.Servers[0].Locations[0], 5 * time.Minute, 30, store.Start{Kind: store.StartNewest}, ","},
		{"server 1 /b: own values win", c.Servers[0].Locations[1], time.Minute, 5, store.Start{Kind: store.StartNewest}, ""},
		{"server 2: top-level defaults only", c.Servers[1].Locations[0], 5 * time.Minute, 20, store.Start{Kind: store.StartOldest}, ","},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.l.MessageTimeout != tt.timeout {
				t.Errorf("MessageTimeout = %v, want %v", tt.l.MessageTimeout, tt.timeout)
			}
			if tt.l.MessageBufferLength != tt.buffer {
				t.Errorf("MessageBufferLength = %d, want %d", tt.l.MessageBufferLength, tt.buffer)
			}
			if tt.l.SubscriberFirstMessage != tt.first {
				t.Errorf("SubscriberFirstMessage = %v, want %v", tt.l.SubscriberFirstMessage, tt.first)
			}
			if tt.l.SplitDelimiter != tt.split {
				t.Errorf("SplitDelimiter = %q, want %q", tt.l.SplitDelimiter, tt.split)
			}
		})
	}
}

func TestTransports(t *testing.T) {
	tests := []struct {
		line string
		pub  Publisher
		sub  Transport
	}{
		{"subscriber: true", Publisher{}, WebSocket | EventSource | LongPoll | Chunked | Multipart},
		{"subscriber: on", Publisher{}, DefaultTransports},
		{"subscriber: [longpoll, intervalpoll]", Publisher{}, LongPoll | IntervalPoll},
		{"subscriber: longpoll eventsource", Publisher{}, LongPoll | EventSource},
		{"subscriber: [websocket, eventsource, longpoll, intervalpoll, chunked, multipart-mixed, http-raw-stream]", Publisher{}, WebSocket | EventSource | LongPoll | IntervalPoll | Chunked | Multipart | RawStream},
		{"subscriber: [WS, SSE, long-poll]", Publisher{}, WebSocket | EventSource | LongPoll},
		{"pubsub: [http, longpoll]", Publisher{HTTP: true}, LongPoll},
		{"pubsub: [websocket]", Publisher{WebSocket: true}, WebSocket},
		{"pubsub: true", Publisher{HTTP: true, WebSocket: true}, DefaultTransports},
		{"publisher: [websocket]", Publisher{WebSocket: true}, 0},
		{"publisher: [http]", Publisher{HTTP: true}, 0},
		{"publisher: true", Publisher{HTTP: true, WebSocket: true}, 0},
		{"publisher: http websocket", Publisher{HTTP: true, WebSocket: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c := mustParse(t, `
servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /
        channel_id: x
        `+tt.line+"\n")
			l := c.Servers[0].Locations[0]
			if l.Publisher != tt.pub {
				t.Errorf("Publisher = %v, want %v", l.Publisher, tt.pub)
			}
			if l.Subscriber != tt.sub {
				t.Errorf("Subscriber = %v, want %v", l.Subscriber, tt.sub)
			}
		})
	}
	if DefaultTransports.Has(IntervalPoll) || DefaultTransports.Has(RawStream) || !DefaultTransports.Has(WebSocket|LongPoll) {
		t.Error("DefaultTransports.Has wrong")
	}
	if got := DefaultTransports.String(); got != "websocket eventsource longpoll chunked multipart-mixed" {
		t.Errorf("DefaultTransports.String() = %q", got)
	}
	if got := Transport(0).String(); got != "off" {
		t.Errorf("Transport(0).String() = %q", got)
	}
}

// TestReferenceInDocs checks that docs/configuration.md carries the
// generated reference unchanged between its markers.
func TestReferenceInDocs(t *testing.T) {
	const begin, end = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	doc := string(data)
	_, rest, ok := strings.Cut(doc, begin)
	if !ok {
		t.Fatalf("docs/configuration.md has no %s marker", begin)
	}
	inside, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("docs/configuration.md has no %s marker", end)
	}
	if got, want := strings.TrimSpace(inside), strings.TrimSpace(Reference()); got != want {
		t.Fatalf("docs/configuration.md reference is out of date; regenerate it with scripts/update-config-docs.sh.\n--- docs\n%s\n--- Reference()\n%s", got, want)
	}
}

func TestReferenceListsEveryKey(t *testing.T) {
	ref := Reference()
	for _, d := range Directives() {
		if !strings.Contains(ref, "| `"+d.Name+"` |") {
			t.Errorf("Reference() lacks %s", d.Name)
		}
		for _, a := range d.Aliases {
			if !strings.Contains(ref, "`"+a+"`") {
				t.Errorf("Reference() lacks alias %s of %s", a, d.Name)
			}
		}
	}
}

// FuzzParse: any input gives a configuration or an error, never a panic,
// and errors name the file.
func FuzzParse(f *testing.F) {
	f.Add(string(DefaultYAML()))
	f.Add(locYAML("mesage_timeout: 5m"))
	f.Add("servers:\n  - listen: [127.0.0.1:0\n")
	f.Add("servers: []\n")
	f.Add("access_log: stderr\naccess_log_format: '$status ${http_x}'\n" + locYAML("metrics_allow: [10.0.0.0/8, ::1]"))
	f.Add(locYAML("health: ready"))
	f.Fuzz(func(t *testing.T, text string) {
		_, err := Parse([]byte(text), "fuzz.yaml")
		if err != nil && !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// TestTLSFilesAreLoadedAtCheck: a certificate file that exists but holds no
// PEM data fails validation, as it would fail serve.
func TestTLSFilesAreLoadedAtCheck(t *testing.T) {
	dir := t.TempDir()
	cert, key := dir+"/cert.pem", dir+"/key.pem"
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("not PEM at all\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yamlText := "servers:\n  - listen: 127.0.0.1:8443\n    ssl_certificate: " + cert + "\n    ssl_certificate_key: " + key +
		"\n    locations: [{location: /, pubsub: true, channel_id: x}]\n"
	_, err := Parse([]byte(yamlText), "test.yaml")
	if err == nil || !strings.Contains(err.Error(), "test.yaml:2:") || !strings.Contains(err.Error(), "ssl_certificate") {
		t.Fatalf("error %v, want one naming ssl_certificate at line 2", err)
	}
}

// TestTransportSpellings: every spelling Nchan accepts for a subscriber
// transport is accepted, and is named in the configuration reference; on
// a pubsub location "http" is HTTP publishing instead.
func TestTransportSpellings(t *testing.T) {
	docs, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spelling string
		want     Transport
	}{
		{"websocket", WebSocket}, {"ws", WebSocket}, {"websockets", WebSocket},
		{"eventsource", EventSource}, {"event-source", EventSource}, {"es", EventSource}, {"sse", EventSource},
		{"longpoll", LongPoll}, {"long-poll", LongPoll},
		{"intervalpoll", IntervalPoll}, {"interval-poll", IntervalPoll}, {"poll", IntervalPoll}, {"http", IntervalPoll},
		{"chunked", Chunked}, {"http-chunked", Chunked},
		{"multipart-mixed", Multipart}, {"multipart", Multipart}, {"multipart/mixed", Multipart}, {"http-multipart", Multipart},
		{"http-raw-stream", RawStream},
	}
	for _, tt := range tests {
		c := mustParse(t, "servers: [{listen: \"127.0.0.1:1\", locations: [{location: /, subscriber: \""+tt.spelling+"\", channel_id: x}]}]\n")
		if got := c.Servers[0].Locations[0].Subscriber; got != tt.want {
			t.Errorf("subscriber: %s gives %v, want %v", tt.spelling, got, tt.want)
		}
		if !strings.Contains(string(docs), "`"+tt.spelling+"`") {
			t.Errorf("docs/configuration.md does not name the spelling %q", tt.spelling)
		}
	}
	c := mustParse(t, "servers: [{listen: \"127.0.0.1:1\", locations: [{location: /, pubsub: [http, sse], channel_id: x}]}]\n")
	if l := c.Servers[0].Locations[0]; l.Subscriber != EventSource || !l.Publisher.HTTP || l.Publisher.WebSocket {
		t.Errorf("pubsub: [http, sse] gives subscriber %v publisher %v, want eventsource and HTTP publishing", l.Subscriber, l.Publisher)
	}
}
