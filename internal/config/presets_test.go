package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPresets: every preset parses, and the push-stream one holds the
// module's sample layout.
func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		if _, err := Preset(name); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	if y, _ := PresetYAML("default"); !bytes.Equal(y, DefaultYAML()) {
		t.Error("preset default differs from DefaultYAML")
	}
	if _, err := PresetYAML("nginx"); err == nil || !strings.Contains(err.Error(), `unknown preset "nginx" (want default or pushstream)`) {
		t.Errorf("unknown preset: %v", err)
	}

	c, err := Preset("pushstream")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 1 || len(c.Servers[0].Listen) != 1 || c.Servers[0].Listen[0] != "127.0.0.1:9080" {
		t.Fatalf("listen %v, want 127.0.0.1:9080", c.Servers[0].Listen)
	}
	if c.MaxReservedMemory != 100<<20 {
		t.Errorf("shared memory %d, want 100m", c.MaxReservedMemory)
	}
	type want struct {
		pattern string
		pub     PSPublisher
		sub     PSSubscriber
		stats   bool
		path    string
	}
	wants := []want{
		{"/channels-stats", PSNoPublisher, PSNoSubscriber, true, "$arg_id"},
		{"/pub", PSAdmin, PSNoSubscriber, false, "$arg_id"},
		{"~ /sub/(.*)", PSNoPublisher, PSStreaming, false, "$1"},
		{"~ /ev/(.*)", PSNoPublisher, PSEventSource, false, "$1"},
		{"~ /lp/(.*)", PSNoPublisher, PSLongPolling, false, "$1"},
		{"~ /jsonp/(.*)", PSNoPublisher, PSLongPolling, false, "$1"},
		{"~ /ws/(.*)", PSNoPublisher, PSWebSocket, false, "$1"},
	}
	locs := c.Servers[0].Locations
	if len(locs) != len(wants) {
		t.Fatalf("%d locations, want %d", len(locs), len(wants))
	}
	for i, w := range wants {
		l := &locs[i]
		p := &l.PushStream
		if got := l.Pattern.String(); got != w.pattern {
			t.Errorf("location %d: %q, want %q", i, got, w.pattern)
		}
		if p.Publisher != w.pub || p.Subscriber != w.sub || p.Statistics != w.stats || p.ChannelsPath.String() != w.path {
			t.Errorf("%s: publisher %v subscriber %v statistics %v path %q; want %v %v %v %q", w.pattern,
				p.Publisher, p.Subscriber, p.Statistics, p.ChannelsPath, w.pub, w.sub, w.stats, w.path)
		}
		// The http block's settings reach every location.
		if p.MessageTTL != 5*time.Minute || p.MaxMessagesStoredPerChannel != 20 || p.PingMessageInterval != 30*time.Second ||
			p.SubscriberConnectionTTL != 15*time.Minute || p.LongPollingConnectionTTL != 30*time.Second ||
			p.WildcardChannelPrefix != "broad_" || p.WildcardChannelMaxQtd != 3 || p.AllowedOrigins.String() != "*" ||
			l.MaxChannelIDLength != 200 || l.SubscribeExistingChannelsOnly {
			t.Errorf("%s: http-level settings not inherited: %+v", w.pattern, p)
		}
	}
	pub, sub, ws := &locs[1], &locs[2].PushStream, &locs[6].PushStream
	if !pub.PushStream.StoreMessages || pub.ClientMaxBodySize != 32<<10 {
		t.Errorf("/pub: store_messages %v, client_max_body_size %d", pub.PushStream.StoreMessages, pub.ClientMaxBodySize)
	}
	if !strings.HasPrefix(sub.HeaderTemplate, "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n") ||
		!strings.Contains(sub.HeaderTemplate, `match(/^(\d{1,3}\.){3}\d{1,3}$/)`) || !strings.HasSuffix(sub.HeaderTemplate, "</head>\r\n<body>") ||
		sub.MessageTemplate != `<script>p(~id~,'~channel~','~text~','~event-id~', '~time~', '~tag~');</script>` ||
		sub.FooterTemplate != "</body></html>" || locs[2].DefaultType != "text/html; charset=utf-8" {
		t.Errorf("/sub/ templates: %q %q %q %q", sub.HeaderTemplate, sub.MessageTemplate, sub.FooterTemplate, locs[2].DefaultType)
	}
	if got := locs[3].PushStream.MessageTemplate; got != `{"id":~id~,"channel":"~channel~","text":"~text~", "tag":"~tag~", "time":"~time~", "eventid":"~event-id~"}` {
		t.Errorf("/ev/ message template %q", got)
	}
	if !ws.StoreMessages || !ws.WebSocketAllowPublish {
		t.Errorf("/ws/: store_messages %v websocket_allow_publish %v", ws.StoreMessages, ws.WebSocketAllowPublish)
	}
	if j := &locs[5].PushStream; j.LastReceivedMessageTime.String() != "$arg_time" || j.LastReceivedMessageTag.String() != "$arg_tag" || j.LastEventID.String() != "$arg_eventid" {
		t.Errorf("/jsonp/: %q %q %q", j.LastReceivedMessageTime, j.LastReceivedMessageTag, j.LastEventID)
	}
}
