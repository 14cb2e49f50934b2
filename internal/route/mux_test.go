package route

import (
	"context"
	"net/http"
	"testing"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

func TestPrepareNamed(t *testing.T) {
	cfg, err := config.Parse([]byte(`
channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: = /mux
        pubsub: true
        websocket_multiplex: on
        channel_group: $arg_group
        max_channel_id_length: 5
        subscriber_first_message: newest
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt := Provision(&cfg.Servers[0].Locations[0], nil)
	if !rt.Multiplex {
		t.Fatal("Multiplex not set")
	}
	hs := request(http.MethodGet, "/mux?group=g", "Upgrade", "websocket", "Connection", "Upgrade")
	tests := []struct {
		name   string
		role   Role
		n      Named
		status int
		want   ChannelSpec
	}{
		{"location's start", Subscribe, Named{ID: "a,b"}, 0,
			ChannelSpec{Key: store.ChannelKey{Group: "g", ID: "a,b"}, Start: store.Start{Kind: store.StartNewest}}},
		{"frame's start", Subscribe, Named{ID: "a", Start: store.Start{Kind: store.StartOldest}, StartSet: true}, 0,
			ChannelSpec{Key: store.ChannelKey{Group: "g", ID: "a"}, Start: store.Start{Kind: store.StartOldest}}},
		{"frame's id", Subscribe, Named{ID: "a", Cursor: msgid.ID{Time: 5, Tag: 1}, Given: true}, 0,
			ChannelSpec{Key: store.ChannelKey{Group: "g", ID: "a"}, Cursor: msgid.ID{Time: 5, Tag: 1}, Given: true, Start: store.Start{Kind: store.StartNewest}}},
		{"publisher", PublishSocket, Named{ID: "p"}, 0,
			ChannelSpec{Key: store.ChannelKey{Group: "g", ID: "p"}, Start: store.Start{Kind: store.StartNewest}}},
		{"too long", Subscribe, Named{ID: "abcdef"}, http.StatusForbidden, ChannelSpec{}},
		{"no id", Subscribe, Named{}, http.StatusNotFound, ChannelSpec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, rf := rt.PrepareNamed(context.Background(), hs, nil, tt.role, tt.n)
			defer q.Done()
			if tt.status != 0 {
				if rf == nil || rf.Status != tt.status {
					t.Fatalf("refusal %v, want %d", rf, tt.status)
				}
				return
			}
			if rf != nil {
				t.Fatal(rf)
			}
			if len(q.Channels) != 1 || q.Channels[0] != tt.want {
				t.Fatalf("channels %+v, want %+v (one, never split)", q.Channels, tt.want)
			}
			if tt.role == Subscribe && (q.Transport != config.WebSocket || q.Cursor.Given != tt.n.Given) {
				t.Fatalf("transport %v cursor %+v", q.Transport, q.Cursor)
			}
		})
	}
	bad := request(http.MethodGet, "/mux?group=m")
	if _, rf := rt.PrepareNamed(context.Background(), bad, nil, Subscribe, Named{ID: "a"}); rf == nil || rf.Status != http.StatusForbidden {
		t.Fatalf("group m: %v, want 403", rf)
	}
}
