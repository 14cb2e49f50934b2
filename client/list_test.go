package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
)

const listYAML = `channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: = /channels
        channel_list: on
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
`

// TestList reads a channel listing location page by page. It needs a
// build with channel_list locations.
func TestList(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, "http://127.0.0.1:1")
	if _, err := c.List(ctx, client.ListOptions{}); !errors.Is(err, client.ErrNoListing) {
		t.Fatalf("List without ListURL: %v", err)
	}
	cfg, err := config.Parse([]byte(listYAML), "list.yaml")
	if err != nil {
		if strings.Contains(err.Error(), "channel_list") {
			t.Skipf("this build has no channel listing location: %v", err)
		}
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{Config: cfg})
	c, err = client.New(srv.URL, &client.Options{ListURL: srv.URL + "/channels"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.Publish(ctx, fmt.Sprintf("room-%d", i), client.Message{Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Publish(ctx, "other", client.Message{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.List(ctx, client.ListOptions{Prefix: "room-", Limit: 2})
	if err != nil || len(p.Channels) != 2 || p.Next == "" || p.Channels[0].Info.Channel != "room-0" || p.Channels[0].Info.Messages != 1 {
		t.Fatalf("first page: %+v, %v", p, err)
	}
	var ids []string
	for ch, err := range c.ListAll(ctx, client.ListOptions{Prefix: "room-", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.Info.Channel)
	}
	if strings.Join(ids, " ") != "room-0 room-1 room-2 room-3 room-4" {
		t.Fatalf("ListAll: %v", ids)
	}
	n := 0
	for _, err := range c.ListAll(ctx, client.ListOptions{Group: "", OnlyGroup: true}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("default group: %d channels, want 6", n)
	}
}
