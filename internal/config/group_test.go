package config

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// groupYAML is a configuration with one group location and extra keys.
func groupYAML(extra ...string) string {
	return `servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: ~ ^/group/(\w+)$
        channel_group: $1
        channel_group_accounting: on
        ` + strings.Join(extra, "\n        ") + "\n"
}

func TestGroupKeys(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		check func(l Location) bool
	}{
		{"on", []string{"group_location: true"}, func(l Location) bool { return l.GroupLocation == AllGroupOps && l.ChannelGroupAccounting }},
		{"nchan name", []string{"nchan_group_location: on"}, func(l Location) bool { return l.GroupLocation == AllGroupOps }},
		{"list", []string{"group_location: get delete"}, func(l Location) bool { return l.GroupLocation == GroupGet|GroupDelete }},
		{"yaml list", []string{"group_location: [set]"}, func(l Location) bool { return l.GroupLocation == GroupSet }},
		{"limits", []string{"group_location: get", "group_max_channels: 10", "nchan_group_max_messages_memory: 50M",
			"group_max_subscribers: $arg_s", "group_max_messages: ''", "group_max_messages_disk: 1G"},
			func(l Location) bool {
				return l.GroupMax[GroupMaxChannels].String() == "10" && l.GroupMax[GroupMaxMessagesMemory].String() == "50M" &&
					l.GroupMax[GroupMaxSubscribers].String() == "$arg_s" && l.GroupMax[GroupMaxMessages].IsEmpty() &&
					l.GroupMax[GroupMaxMessagesDisk].String() == "1G"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, groupYAML(tt.keys...))
			if l := c.Servers[0].Locations[0]; !tt.check(l) {
				t.Fatalf("%q: %+v", tt.keys, l)
			}
		})
	}
}

func TestGroupKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want string
	}{
		{"unknown op", []string{"group_location: read"}, `unknown operation "read"`},
		{"off with others", []string{"group_location: get off"}, "off goes alone"},
		{"bad count", []string{"group_location: true", "group_max_channels: ten"}, "bad group_max_channels value"},
		{"negative", []string{"group_location: true", "group_max_messages: -1"}, "bad group_max_messages value"},
		{"bad size", []string{"group_location: true", "group_max_messages_memory: lots"}, "bad size"},
		{"no location kind", []string{"group_max_channels: 1"}, "needs publisher, subscriber"},
		{"with publisher", []string{"group_location: true", "publisher: true", "channel_id: x"}, "group_location goes in a location of its own"},
		{"capture", []string{"group_location: true", "group_max_channels: $2"}, "uses $2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(groupYAML(tt.keys...)), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

func TestParseGroupLimit(t *testing.T) {
	tests := []struct {
		g    GroupLimit
		in   string
		want int64
		ok   bool
	}{
		{GroupMaxChannels, "0", 0, true},
		{GroupMaxChannels, "25", 25, true},
		{GroupMaxChannels, "", 0, false},
		{GroupMaxChannels, " 1", 0, false},
		{GroupMaxChannels, "+1", 0, false},
		{GroupMaxChannels, "1k", 0, false},
		{GroupMaxChannels, "1234567890123456789", 0, false},
		{GroupMaxMessagesMemory, "1k", 1024, true},
		{GroupMaxMessagesMemory, "0.5M", 512 << 10, true},
		{GroupMaxMessagesMemory, "-1", 0, false},
		{GroupMaxMessagesDisk, "2G", 2 << 30, true},
	}
	for _, tt := range tests {
		got, err := ParseGroupLimit(tt.g, tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseGroupLimit(%s, %q) = %d, %v; want %d (ok %v)", tt.g.Key(), tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseGroupLimit(f *testing.F) {
	for _, s := range []string{"0", "10", "1k", "0.5G", "", "-1", "99999999999999999999", "1e3"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, size bool) {
		g := GroupMaxChannels
		if size {
			g = GroupMaxMessagesMemory
		}
		v, err := ParseGroupLimit(g, s)
		if err == nil && v < 0 {
			t.Fatalf("ParseGroupLimit(%q) = %d: negative", s, v)
		}
	})
}

func FuzzGroupLocation(f *testing.F) {
	for _, s := range []string{"true", "off", "get set delete", "get,set", "get off", "GET", "", "delete delete"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, list bool) {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
		if list { // the same words as a YAML sequence
			seq := &yaml.Node{Kind: yaml.SequenceNode}
			for _, w := range strings.Fields(s) {
				seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: w})
			}
			n = seq
		}
		var l Location
		if err := setGroupLocation(&l, n); err != nil {
			return
		}
		if l.GroupLocation&^AllGroupOps != 0 {
			t.Fatalf("group_location %q gave %v", s, l.GroupLocation)
		}
	})
}
