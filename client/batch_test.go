package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/protocol/msgid"
)

const batchYAML = `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: = /batch
        publisher: true
        publish_batch: on
        client_max_body_size: 16
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
`

// TestPublishBatch publishes to several channels in one request; a message
// the server refuses is reported and the others are published.
func TestPublishBatch(t *testing.T) {
	ctx := testCtx(t)
	if _, err := newClient(t, "http://127.0.0.1:1").PublishBatch(ctx, nil); !errors.Is(err, client.ErrNoBatch) {
		t.Fatalf("PublishBatch without BatchURL: %v", err)
	}
	cfg, err := config.Parse([]byte(batchYAML), "batch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{Config: cfg})
	c, err := client.New(srv.URL, &client.Options{BatchURL: srv.URL + "/batch"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PublishBatch(ctx, []client.BatchMessage{
		{Channel: "a", Message: client.Message{Body: []byte("one")}},
		{Channel: "b", Message: client.Message{Body: []byte("two"), ContentType: "text/x-two"}},
		{Channel: "a", Message: client.Message{Body: []byte("larger than sixteen bytes")}},
		{Channel: "a", Message: client.Message{Body: []byte("three")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{http.StatusAccepted, http.StatusAccepted, http.StatusRequestEntityTooLarge, http.StatusAccepted}
	for i, r := range res {
		if r.Status != want[i] || r.Published() != (r.ID != "") {
			t.Errorf("result %d: %+v, want status %d", i, r, want[i])
		}
	}
	first, err1 := msgid.Parse(res[0].ID, 1)
	last, err2 := msgid.Parse(res[3].ID, 1)
	if err1 != nil || err2 != nil || !last.Cursors()[0].After(first.Cursors()[0]) {
		t.Errorf("ids %q then %q on one channel do not increase (%v, %v)", res[0].ID, res[3].ID, err1, err2)
	}
	info, err := c.Info(ctx, "a")
	if err != nil || info.Messages != 2 {
		t.Errorf("channel a: %+v, %v; want 2 messages", info, err)
	}
	if _, err := c.PublishBatch(ctx, []client.BatchMessage{{Message: client.Message{Body: []byte("x")}}}); err == nil {
		t.Error("a message without a channel was sent")
	}
}
