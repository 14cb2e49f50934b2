package config

import (
	"os"
	"strings"
	"testing"
)

func TestMultiplexAndFileKeys(t *testing.T) {
	tests := []struct {
		name string
		loc  string
		err  string // "" for valid
	}{
		{"multiplex needs no channel_id", "pubsub: true\n        websocket_multiplex: on", ""},
		{"multiplex on a subscriber", "subscriber: true\n        websocket_multiplex: on", ""},
		{"multiplex alone", "websocket_multiplex: on", "websocket_multiplex needs publisher, subscriber or pubsub"},
		{"herald_js", "herald_js: on", ""},
		{"root", "root: examples/chat", ""},
		{"herald_js with a role", "herald_js: on\n        subscriber: true\n        channel_id: $arg_id", "herald_js and root go in a location of their own"},
		{"herald_js with root", "herald_js: on\n        root: x", "herald_js and root go in a location of their own"},
		{"plain subscriber still needs channel_id", "subscriber: true", "subscriber needs channel_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "servers:\n  - listen: 127.0.0.1:0\n    locations:\n      - location: /x\n        " + tt.loc + "\n"
			c, err := Parse([]byte(y), "test.yaml")
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				l := c.Servers[0].Locations[0]
				if strings.Contains(tt.loc, "websocket_multiplex") != l.WebSocketMultiplex ||
					strings.Contains(tt.loc, "herald_js") != l.HeraldJS || (strings.Contains(tt.loc, "root") != (l.Root != "")) {
					t.Fatalf("location %+v", l)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want one saying %q", err, tt.err)
			}
		})
	}
}

// The YAML examples of the multiplexing and browser client docs, and the
// chat example's configuration, are valid.
func TestMultiplexDocExamples(t *testing.T) {
	for _, f := range []string{"../../docs/multiplex.md", "../../docs/browser-client.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := strings.Split(string(data), "```yaml\n")[1:]
		if len(blocks) == 0 {
			t.Fatalf("%s: no YAML example", f)
		}
		for i, b := range blocks {
			text, _, _ := strings.Cut(b, "```")
			if _, err := Parse([]byte(text), "example"); err != nil {
				t.Errorf("%s example %d: %v\n%s", f, i+1, err, text)
			}
		}
	}
	data, err := os.ReadFile("../../examples/chat/herald.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data, "examples/chat/herald.yaml"); err != nil {
		t.Fatal(err)
	}
}
