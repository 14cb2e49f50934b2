package route

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/config"
)

func TestAuthorizeStageOnlyWhereConfigured(t *testing.T) {
	const yamlText = `
channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/auth/(.+)$
        subscriber: true
        channel_id: $1
        authorize_request: http://127.0.0.1:9/auth
      - location: ~ ^/open/(.+)$
        subscriber: true
        channel_id: $1
`
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"access channels limits authorize", "access channels limits"}
	for i := range cfg.Servers[0].Locations {
		var names []string
		for _, st := range Provision(&cfg.Servers[0].Locations[i], nil).Stages() {
			names = append(names, st.Name())
		}
		if got := strings.Join(names, " "); got != want[i] {
			t.Errorf("location %d: stages %q, want %q", i, got, want[i])
		}
	}
}

func TestNchanVars(t *testing.T) {
	prepare := routes(t, testConfig)
	tests := []struct {
		name              string
		r                 *http.Request
		ids               string
		sub, pub, prevMsg string
	}{
		{"subscriber", request("GET", "/sub/a,b,c,d,e", "Accept", "text/event-stream"), "a b c d", "eventsource", "", "0:0"},
		{"subscriber resuming", request("GET", "/sub/a", "Last-Event-ID", "1450755280:3"), "a", "longpoll", "", "1450755280:3"},
		{"http publisher", request("POST", "/pub/x"), "x", "", "http", ""},
		{"websocket publisher", request("GET", "/wspub/x", wsUpgrade...), "x", "", "websocket", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, rf := prepare(tt.r)
			if rf != nil {
				t.Fatal(rf)
			}
			n := q.NchanVars().Nchan
			if got := strings.Join(n.ChannelIDs, " "); got != tt.ids || n.SubscriberType != tt.sub || n.PublisherType != tt.pub || n.PrevMessageID != tt.prevMsg || n.MessageID != "" {
				t.Errorf("vars %+v, want ids %q sub %q pub %q prev %q", n, tt.ids, tt.sub, tt.pub, tt.prevMsg)
			}
		})
	}
}
