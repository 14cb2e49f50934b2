package server_test

import (
	"context"
	"testing"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// storeRead returns the message of channel ch (default group) whose number
// is n, read from the test server's store.
func storeRead(t testing.TB, s *testServer, ch string, n uint64) *store.Message {
	t.Helper()
	sub, err := s.Store.Subscribe(context.Background(), store.ChannelKey{ID: ch}, store.SubscribeOptions{})
	if err != nil {
		t.Fatalf("subscribe to %s: %v", ch, err)
	}
	defer sub.Close()
	b, err := sub.Read(msgid.ID{}, nil, 1000)
	if err != nil {
		t.Fatalf("read %s: %v", ch, err)
	}
	for _, m := range b.Messages {
		if m.Number == n {
			return m
		}
	}
	t.Fatalf("channel %s has no message number %d", ch, n)
	return nil
}
