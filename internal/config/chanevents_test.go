package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/clientaddr"
)

// TestChannelEventsKeys checks the keys of channel events and the channel
// listing: their defaults (a listing answers loopback clients only) and
// what they refuse, naming the line.
func TestChannelEventsKeys(t *testing.T) {
	c := mustParse(t, `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: ~ ^/sub/(\w+)$
        subscriber: true
        channel_id: $1
        nchan_channel_events_channel_id: ev-$1
      - location: = /channels
        channel_list: on
      - location: = /all
        channel_list: on
        channel_list_allow: all
      - location: = /some
        channel_list: on
        channel_list_allow: [10.0.0.0/8, "2001:db8::1"]
`)
	locs := c.Servers[0].Locations
	sub, list, all, some := locs[0], locs[1], locs[2], locs[3]
	if sub.ChannelEventsChannelID.String() != "ev-$1" || sub.ChannelEventString.String() != "$nchan_channel_event $nchan_channel_id" ||
		sub.ChannelEventsReceive || sub.ChannelList {
		t.Errorf("subscriber: %q %q %v %v", sub.ChannelEventsChannelID, sub.ChannelEventString, sub.ChannelEventsReceive, sub.ChannelList)
	}
	want := func(unix bool, prefixes ...string) clientaddr.Trusted {
		t := clientaddr.Trusted{Unix: unix}
		for _, p := range prefixes {
			t.Prefixes = append(t.Prefixes, netip.MustParsePrefix(p))
		}
		return t
	}
	for _, tc := range []struct {
		name string
		got  clientaddr.Trusted
		want clientaddr.Trusted
	}{
		{"default", list.ChannelListAllow, want(true, "127.0.0.0/8", "::1/128")},
		{"all", all.ChannelListAllow, want(true, "0.0.0.0/0", "::/0")},
		{"some", some.ChannelListAllow, want(false, "10.0.0.0/8", "2001:db8::1/128")},
	} {
		if !list.ChannelList || tc.got.Unix != tc.want.Unix || !slices.Equal(tc.got.Prefixes, tc.want.Prefixes) {
			t.Errorf("%s listing allows %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}

	for _, tt := range []struct {
		name, loc string
		want      []string
	}{
		{"capture the pattern lacks", "location: ~ ^/sub/(\\w+)$\n        subscriber: true\n        channel_id: $1\n        channel_events_channel_id: $2",
			[]string{"test.yaml:4:", "$2"}},
		{"unknown variable", "location: /x\n        subscriber: true\n        channel_id: x\n        channel_event_string: \"$nchan_nope\"",
			[]string{"test.yaml:7:", "channel_event_string", "nchan_nope"}},
		{"bad address", "location: /x\n        channel_list: on\n        channel_list_allow: 10.0.0.0/33",
			[]string{"test.yaml:6:", "channel_list_allow", "10.0.0.0/33"}},
	} {
		_, err := Parse([]byte("servers:\n  - listen: 127.0.0.1:8080\n    locations:\n      - "+tt.loc+"\n"), "test.yaml")
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
