package pushstream

import (
	"testing"
	"time"
)

func TestNegotiate(t *testing.T) {
	for _, tt := range []struct{ accept, want string }{
		{"", "application/json"},
		{"*/*", "application/json"},
		{"text/plain", "text/plain"},
		{"application/json", "application/json"},
		{"application/yaml", "application/yaml"},
		{"application/xml", "application/xml"},
		{"text/x-json", "text/x-json"},
		{"text/x-yaml", "text/x-yaml"},
		{"text/html, application/xml;q=0.9, */*", "application/xml"},
		{"application/plaintext", "text/plain"},
		{"text/jsonp", "application/json"},
		{"application/json; charset=utf-8", "application/json"},
		{"text/", "application/json"},
	} {
		if got := Negotiate(tt.accept).ContentType; got != tt.want {
			t.Errorf("Negotiate(%q) = %s, want %s", tt.accept, got, tt.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "text/plain", "a/b/c/x-yaml", "//", "/json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		if Negotiate(accept) == nil {
			t.Fatal("no format")
		}
	})
}

// The expected bytes below are the module's answers, recorded from
// nginx-push-stream-module.
var (
	at     = time.Date(2026, 12, 3, 9, 24, 19, 0, time.UTC)
	header = Header{Hostname: "vm", Time: at, Channels: 6, Uptime: 45 * time.Second}
	chA    = ChannelStats{ID: "a", Published: 3, Stored: 3}
	chB    = ChannelStats{ID: "b", Published: 2, Stored: 2}
)

func TestAppendChannel(t *testing.T) {
	c := ChannelStats{ID: "ch1", Published: 3, Stored: 3}
	for _, tt := range []struct{ accept, want string }{
		{"", "{\"channel\": \"ch1\", \"published_messages\": 3, \"stored_messages\": 3, \"subscribers\": 0}\r\n"},
		{"text/plain", "channel: ch1\r\npublished_messages: 3\r\nstored_messages: 3\r\nactive_subscribers: 0\r\n"},
		{"application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <name>ch1</name>\r\n  <published_messages>3</published_messages>\r\n  <stored_messages>3</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n\r\n"},
		{"application/yaml", "  channel: ch1\r\n  published_messages: 3\r\n  stored_messages: 3\r\n  subscribers: 0\r\n"},
	} {
		if got := string(Negotiate(tt.accept).AppendChannel(nil, c)); got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.accept, got, tt.want)
		}
	}
}

func TestAppendGroup(t *testing.T) {
	for _, tt := range []struct {
		accept string
		cs     []ChannelStats
		want   string
	}{
		{"", []ChannelStats{chA, chB}, "{\"hostname\": \"vm\", \"time\": \"2026-12-03T09:24:19\", \"channels\": 6, \"wildcard_channels\": 0, \"uptime\": 45, \"infos\": [\r\n{\"channel\": \"a\", \"published_messages\": 3, \"stored_messages\": 3, \"subscribers\": 0},\r\n{\"channel\": \"b\", \"published_messages\": 2, \"stored_messages\": 2, \"subscribers\": 0}\r\n]}\r\n"},
		{"", nil, "{\"hostname\": \"vm\", \"time\": \"2026-12-03T09:24:19\", \"channels\": 6, \"wildcard_channels\": 0, \"uptime\": 45, \"infos\": [\r\n]}\r\n"},
		{"text/plain", []ChannelStats{chA, chB}, "hostname: vm, time: 2026-12-03T09:24:19, channels: 6, wildcard_channels: 0, uptime: 45, infos: \r\nchannel: a\r\npublished_messages: 3\r\nstored_messages: 3\r\nactive_subscribers: 0,\r\nchannel: b\r\npublished_messages: 2\r\nstored_messages: 2\r\nactive_subscribers: 0\r\n"},
		{"application/xml", []ChannelStats{chA, chB}, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<root>\r\n  <hostname>vm</hostname>\r\n  <time>2026-12-03T09:24:19</time>\r\n  <channels>6</channels>\r\n  <wildcard_channels>0</wildcard_channels>\r\n  <uptime>45</uptime>\r\n  <infos>\r\n<channel>\r\n  <name>a</name>\r\n  <published_messages>3</published_messages>\r\n  <stored_messages>3</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n<channel>\r\n  <name>b</name>\r\n  <published_messages>2</published_messages>\r\n  <stored_messages>2</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n  </infos>\r\n</root>\r\n"},
		{"application/yaml", []ChannelStats{chA, chB}, "hostname: vm\r\ntime: 2026-12-03T09:24:19\r\nchannels: 6\r\nwildcard_channels: 0\r\nuptime: 45\r\ninfos: \r\n -\r\n  channel: a\r\n  published_messages: 3\r\n  stored_messages: 3\r\n  subscribers: 0\r\n -\r\n  channel: b\r\n  published_messages: 2\r\n  stored_messages: 2\r\n  subscribers: 0\r\n"},
	} {
		if got := string(Negotiate(tt.accept).AppendGroup(nil, header, tt.cs)); got != tt.want {
			t.Errorf("%q, %d channels:\n got %q\nwant %q", tt.accept, len(tt.cs), got, tt.want)
		}
	}
}

func TestAppendSummary(t *testing.T) {
	up := 151 * time.Second
	s := Summary{Header: Header{Hostname: "vm", Time: time.Date(2026, 12, 3, 9, 26, 5, 0, time.UTC), Channels: 50, WildcardChannels: 1, Uptime: up},
		Published: 64, Stored: 56, Workers: []Worker{{PID: 3339, Uptime: up}}}
	for _, tt := range []struct{ accept, want string }{
		{"", "{\"hostname\": \"vm\", \"time\": \"2026-12-03T09:26:05\", \"channels\": 50, \"wildcard_channels\": 1, \"published_messages\": 64, \"stored_messages\": 56, \"messages_in_trash\": 0, \"channels_in_delete\": 0, \"channels_in_trash\": 0, \"subscribers\": 0, \"uptime\": 151, \"by_worker\": [\r\n{\"pid\": \"3339\", \"subscribers\": 0, \"uptime\": 151}\r\n]}\r\n"},
		{"text/plain", "hostname: vm\r\ntime: 2026-12-03T09:26:05\r\nchannels: 50\r\nwildcard_channels: 1\r\npublished_messages: 64\r\nstored_messages: 56\r\nmessages_in_trash: 0\r\nchannels_in_delete: 0\r\nchannels_in_trash: 0\r\nsubscribers: 0\r\nuptime: 151\r\nby_worker:\r\n  pid: 3339\r\n  subscribers: 0\r\n  uptime: 151\r\n"},
		{"application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<infos>\r\n  <hostname>vm</hostname>\r\n  <time>2026-12-03T09:26:05</time>\r\n  <channels>50</channels>\r\n  <wildcard_channels>1</wildcard_channels>\r\n  <published_messages>64</published_messages>\r\n  <stored_messages>56</stored_messages>\r\n  <messages_in_trash>0</messages_in_trash>\r\n  <channels_in_delete>0</channels_in_delete>\r\n  <channels_in_trash>0</channels_in_trash>\r\n  <subscribers>0</subscribers>\r\n  <uptime>151</uptime>\r\n  <by_worker><worker>\r\n  <pid>3339</pid>\r\n  <subscribers>0</subscribers>\r\n  <uptime>151</uptime>\r\n</worker>\r\n</by_worker>\r\n</infos>\r\n"},
		{"application/yaml", "  hostname: vm\r\n  time: 2026-12-03T09:26:05\r\n  channels: 50\r\n  wildcard_channels: 1\r\n  published_messages: 64\r\n  stored_messages: 56\r\n  messages_in_trash: 0\r\n  channels_in_delete: 0\r\n  channels_in_trash: 0\r\n  subscribers: 0\r\n  uptime: 151\r\n  by_worker:\r\n   -\r\n    pid: 3339\r\n    subscribers: 0\r\n    uptime: 151\r\n"},
	} {
		if got := string(Negotiate(tt.accept).AppendSummary(nil, s)); got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.accept, got, tt.want)
		}
	}
}
