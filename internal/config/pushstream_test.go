package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPushStreamSample reads the layout of the module's sample
// configuration (misc/nginx.conf) written in Herald's YAML, with and
// without the push_stream_ prefix, and checks every value and default.
func TestPushStreamSample(t *testing.T) {
	c := mustParse(t, `
push_stream_shared_memory_size: 100m
push_stream_max_channel_id_length: 200
push_stream_max_messages_stored_per_channel: 20
push_stream_message_ttl: 5m
push_stream_ping_message_interval: 30s
subscriber_connection_ttl: 15m
push_stream_longpolling_connection_ttl: 30s
push_stream_timeout_with_body: off
push_stream_wildcard_channel_prefix: "broad_"
push_stream_wildcard_channel_max_qtd: 3
push_stream_message_template: "{\"id\":~id~,\"channel\":\"~channel~\",\"text\":\"~text~\"}"
push_stream_authorized_channels_only: off
push_stream_allowed_origins: "*"
events_channel_id: events
servers:
  - listen: 127.0.0.1:9080
    locations:
      - location: /channels-stats
        push_stream_channels_statistics:
        push_stream_channels_path: $arg_id
      - location: /pub
        push_stream_publisher: admin
        push_stream_channels_path: $arg_id
        push_stream_store_messages: on
        client_max_body_size: 32k
      - location: ~ /sub/(.*)
        push_stream_subscriber:
        channels_path: $1
        push_stream_header_template: "<html>"
        push_stream_message_template: "<script>p(~id~,'~channel~','~text~');</script>"
        footer_template: "</html>"
        push_stream_last_received_message_time: $arg_time
        push_stream_last_received_message_tag: $arg_tag
        push_stream_last_event_id: $arg_eventid
      - location: ~ /ev/(.*)
        push_stream_subscriber: eventsource
        push_stream_channels_path: $1
      - location: ~ /lp/(.*)
        push_stream_subscriber: long-polling
        push_stream_channels_path: $1
      - location: ~ /ws/(.*)
        push_stream_subscriber: websocket
        push_stream_channels_path: $1
        push_stream_websocket_allow_publish: on
        allow_connections_to_events_channel: on
      - location: /pub2
        push_stream_publisher:
        push_stream_channels_path: $arg_id
        channel_info_on_publish: off
`)
	if c.MaxReservedMemory != 100<<20 {
		t.Errorf("shared memory %d", c.MaxReservedMemory)
	}
	locs := c.Servers[0].Locations
	stats, pub, sub, ev, lp, ws, pub2 := locs[0].PushStream, locs[1].PushStream, locs[2].PushStream, locs[3].PushStream, locs[4].PushStream, locs[5].PushStream, locs[6].PushStream
	for i, l := range locs {
		if !l.PushStream.Enabled() {
			t.Errorf("location %d is no push-stream location", i)
		}
		p := l.PushStream
		if l.MaxChannelIDLength != 200 || p.MaxMessagesStoredPerChannel != 20 || p.MessageTTL != 5*time.Minute ||
			p.ChannelInactivityTime != 30*time.Second || p.WildcardChannelPrefix != "broad_" || p.EventsChannelID != "events" ||
			p.ChannelDeletedMessageText != "Channel deleted" || p.PingMessageText != "" || p.TimeoutWithBody ||
			p.AllowedOrigins.String() != "*" || p.PingMessageInterval != 30*time.Second ||
			p.SubscriberConnectionTTL != 15*time.Minute || p.LongPollTTL() != 30*time.Second || p.WildcardMax() != 3 {
			t.Errorf("location %d: http-level values %+v (max id %d)", i, p, l.MaxChannelIDLength)
		}
	}
	if !stats.Statistics || stats.ChannelsPath.String() != "$arg_id" {
		t.Errorf("stats %+v", stats)
	}
	if pub.Publisher != PSAdmin || !pub.StoreMessages || !pub.ChannelInfoOnPublish || locs[1].ClientMaxBodySize != 32<<10 {
		t.Errorf("pub %+v", pub)
	}
	if pub2.Publisher != PSNormal || pub2.StoreMessages || pub2.ChannelInfoOnPublish {
		t.Errorf("pub2 %+v", pub2)
	}
	if sub.Subscriber != PSStreaming || sub.HeaderTemplate != "<html>" || sub.FooterTemplate != "</html>" ||
		sub.MessageTemplate != "<script>p(~id~,'~channel~','~text~');</script>" ||
		sub.LastReceivedMessageTime.String() != "$arg_time" || sub.LastReceivedMessageTag.String() != "$arg_tag" || sub.LastEventID.String() != "$arg_eventid" {
		t.Errorf("sub %+v", sub)
	}
	if ev.Subscriber != PSEventSource || ev.MessageTemplate != `{"id":~id~,"channel":"~channel~","text":"~text~"}` || ev.HeaderTemplate != "" {
		t.Errorf("ev %+v", ev)
	}
	if lp.Subscriber != PSLongPolling || ws.Subscriber != PSWebSocket || !ws.WebSocketAllowPublish || !ws.AllowConnectionsToEventsChannel || lp.AllowConnectionsToEventsChannel {
		t.Errorf("lp %+v ws %+v", lp, ws)
	}
}

// TestPushStreamDefaults checks the module's defaults on a location that
// sets only its role.
func TestPushStreamDefaults(t *testing.T) {
	c := mustParse(t, `
servers:
  - listen: 127.0.0.1:9080
    locations:
      - location: /sub
        push_stream_subscriber: ""
        push_stream_channels_path: $arg_id
`)
	p := c.Servers[0].Locations[0].PushStream
	if p.Subscriber != PSStreaming || p.MessageTemplate != "~text~" || p.StoreMessages || !p.ChannelInfoOnPublish ||
		p.MessageTTL != 30*time.Minute || p.ChannelInactivityTime != 30*time.Second || p.MaxMessagesStoredPerChannel != 0 ||
		p.ChannelDeletedMessageText != "Channel deleted" || p.PingMessageInterval != 0 || p.LongPollTTL() != 0 ||
		p.WildcardMax() != 0 || p.AllowConnectionsToEventsChannel || p.WebSocketAllowPublish {
		t.Errorf("defaults %+v", p)
	}
	if c.Servers[0].Locations[0].SubscribeExistingChannelsOnly {
		t.Error("authorized_channels_only on by default")
	}
}

// TestPushStreamTemplateFile reads templates from files at load, and
// refuses a file that cannot be read, naming the line.
func TestPushStreamTemplateFile(t *testing.T) {
	dir := t.TempDir()
	hdr := filepath.Join(dir, "header.html")
	if err := os.WriteFile(hdr, []byte("<html>\r\n<body>"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, `
servers:
  - listen: 127.0.0.1:9080
    locations:
      - location: /sub
        push_stream_subscriber: streaming
        push_stream_channels_path: $arg_id
        push_stream_header_template_file: `+hdr+`
`)
	if got := c.Servers[0].Locations[0].PushStream.HeaderTemplate; got != "<html>\r\n<body>" {
		t.Errorf("header template %q", got)
	}
	_, err := Parse([]byte("servers:\n  - listen: 127.0.0.1:9080\n    locations:\n      - location: /sub\n        push_stream_subscriber: streaming\n        push_stream_channels_path: $arg_id\n        push_stream_header_template_file: "+filepath.Join(dir, "missing")+"\n"), "test.yaml")
	if err == nil || !strings.Contains(err.Error(), "test.yaml:7:") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

// TestPushStreamErrors checks what the configuration refuses, each error
// naming the line and the key.
func TestPushStreamErrors(t *testing.T) {
	loc := func(body string) string {
		return "servers:\n  - listen: 127.0.0.1:9080\n    locations:\n      - location: ~ ^/x/(.*)$\n" + body
	}
	for _, tt := range []struct {
		name, conf string
		want       []string
	}{
		{"bad publisher mode", loc("        push_stream_publisher: root\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:5:", "push_stream_publisher", "root"}},
		{"bad subscriber mode", loc("        push_stream_subscriber: chunked\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:5:", "push_stream_subscriber", "chunked"}},
		{"no channels path", loc("        push_stream_publisher: admin\n"),
			[]string{"test.yaml:4:", "push_stream_channels_path must be set"}},
		{"two roles", loc("        push_stream_publisher: admin\n        push_stream_subscriber: polling\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:4:", "locations of their own"}},
		{"with nchan role", loc("        push_stream_publisher: admin\n        publisher: on\n        channel_id: $1\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:4:", "cannot also be an Nchan publisher"}},
		{"http-level in a location", loc("        push_stream_publisher: admin\n        push_stream_channels_path: $1\n        push_stream_message_ttl: 5m\n"),
			[]string{"test.yaml:7:", "push_stream_message_ttl", "top level"}},
		{"http-level in a server", "servers:\n  - listen: 127.0.0.1:9080\n    message_ttl: 5m\n    locations:\n      - location: /x\n        push_stream_publisher:\n        push_stream_channels_path: $arg_id\n",
			[]string{"test.yaml:3:", "message_ttl", "top level"}},
		{"zero ttl", "push_stream_message_ttl: 0\n" + loc("        push_stream_publisher: admin\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:1:", "push_stream_message_ttl cannot be zero"}},
		{"zero channels", "push_stream_max_number_of_channels: 0\n" + loc("        push_stream_publisher: admin\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:1:", "push_stream_max_number_of_channels cannot be zero"}},
		{"zero ping", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_ping_message_interval: 0\n"),
			[]string{"test.yaml:7:", "cannot be zero"}},
		{"blank template", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_message_template: \"\"\n"),
			[]string{"test.yaml:4:", "push_stream_message_template cannot be blank"}},
		{"wildcard qtd without prefix", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_wildcard_channel_max_qtd: 3\n"),
			[]string{"test.yaml:4:", "wildcard_channel_prefix"}},
		{"wildcard qtd over the max", "push_stream_wildcard_channel_prefix: b_\npush_stream_max_number_of_wildcard_channels: 2\n" + loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_wildcard_channel_max_qtd: 3\n"),
			[]string{"test.yaml:6:", "smaller than"}},
		{"capture the pattern lacks", loc("        push_stream_subscriber:\n        push_stream_channels_path: $2\n"),
			[]string{"test.yaml:4:", "$2"}},
		{"bad padding", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_padding_by_user_agent: \"MSIE,a,2\"\n"),
			[]string{"test.yaml:7:", "padding_by_user_agent"}},
		{"bad padding regexp", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_padding_by_user_agent: \"(MSIE,1,2\"\n"),
			[]string{"test.yaml:7:", "padding"}},
		{"unknown key", loc("        push_stream_subscriber:\n        push_stream_channels_path: $1\n        push_stream_mesage_ttl: 5m\n"),
			[]string{"test.yaml:7:", "push_stream_mesage_ttl"}},
		{"bad shared memory", "push_stream_shared_memory_size: lots\n" + loc("        push_stream_publisher:\n        push_stream_channels_path: $1\n"),
			[]string{"test.yaml:1:", "lots"}},
	} {
		_, err := Parse([]byte(tt.conf), "test.yaml")
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tt.name, err, w)
			}
		}
	}
}

// TestPushStreamPrefixes checks that every push-stream directive is
// accepted with the push_stream_ prefix, and those without an Nchan
// namesake also without it.
func TestPushStreamPrefixes(t *testing.T) {
	ix := newIndex()
	for _, name := range []string{"channels_statistics", "publisher", "subscriber", "shared_memory_size",
		"channel_deleted_message_text", "channel_inactivity_time", "ping_message_text", "timeout_with_body",
		"message_ttl", "max_subscribers_per_channel", "max_messages_stored_per_channel", "max_channel_id_length",
		"max_number_of_channels", "max_number_of_wildcard_channels", "wildcard_channel_prefix", "events_channel_id",
		"channels_path", "store_messages", "channel_info_on_publish", "authorized_channels_only",
		"header_template_file", "header_template", "message_template", "footer_template", "wildcard_channel_max_qtd",
		"ping_message_interval", "subscriber_connection_ttl", "longpolling_connection_ttl", "websocket_allow_publish",
		"last_received_message_time", "last_received_message_tag", "last_event_id", "user_agent",
		"padding_by_user_agent", "allowed_origins", "allow_connections_to_events_channel"} {
		key := canonical("push_stream_" + name)
		d := ix.loc[key]
		if d == nil {
			d = ix.glob[key]
		}
		if d == nil {
			t.Errorf("push_stream_%s is not accepted", name)
			continue
		}
		plain := ix.loc[canonical(name)]
		if plain == nil {
			plain = ix.glob[canonical(name)]
		}
		switch name {
		case "publisher", "subscriber", "store_messages":
			if plain == d {
				t.Errorf("%s without the prefix is the push-stream directive; it is Nchan's", name)
			}
		default:
			if plain != d {
				t.Errorf("%s without the prefix is not push_stream_%s", name, name)
			}
		}
	}
}

// FuzzPSPaddings checks that any padding value parses or is refused
// without a panic, and that what parses has sane sizes.
func FuzzPSPaddings(f *testing.F) {
	for _, s := range []string{"", "MSIE,1024,256", "Android 2,4097,4097:MSIE [6-8],2049,1025", "a:b,1,2", "x,1,2:", ",1,2", "a,1", "a,,2", "(a,1,2", "a,999999999999,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePSPaddings(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.UserAgent == nil || p.HeaderMin < 0 || p.MessageMin < 0 {
				t.Fatalf("%q: bad entry %+v", s, p)
			}
		}
	})
}
