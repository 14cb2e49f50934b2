package memory

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

func TestImport(t *testing.T) {
	ctx := context.Background()
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	key := store.ChannelKey{ID: "ch"}
	tests := []struct {
		name     string
		id, want msgid.ID
		retagged bool
	}{
		{"a newer id is kept", msgid.ID{Time: 100, Tag: 0}, msgid.ID{Time: 100, Tag: 0}, false},
		{"a later tag of the second is kept", msgid.ID{Time: 100, Tag: 3}, msgid.ID{Time: 100, Tag: 3}, false},
		{"an id already had is given the next", msgid.ID{Time: 100, Tag: 3}, msgid.ID{Time: 100, Tag: 4}, true},
		{"an older id is given the next", msgid.ID{Time: 99, Tag: 7}, msgid.ID{Time: 100, Tag: 5}, true},
		{"a later second is kept", msgid.ID{Time: 101, Tag: 2}, msgid.ID{Time: 101, Tag: 2}, false},
	}
	s := New(Options{})
	defer s.Close()
	for _, tt := range tests {
		r, retagged, err := s.Import(ctx, key, &store.Message{ID: tt.id, Body: []byte(tt.name)}, o, time.Time{})
		if err != nil || r.Message.ID != tt.want || retagged != tt.retagged {
			t.Fatalf("%s: Import = %v retagged %v, %v; want %v retagged %v", tt.name, r.Message.ID, retagged, err, tt.want, tt.retagged)
		}
	}
	if info, _ := s.Info(ctx, key); info.Messages != len(tests) || info.LastMessageID != (msgid.ID{Time: 101, Tag: 2}) {
		t.Fatalf("Info = %+v", info)
	}
	if got := s.Stats().Published; got != 0 {
		t.Fatalf("imports counted as %d publishes", got)
	}
}

func TestRestore(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	key := store.ChannelKey{Group: "g", ID: "ch"}
	o := store.ChannelOptions{BufferLength: 2, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	msgs := []Restored{
		{Msg: &store.Message{ID: msgid.ID{Time: 50}, Body: []byte("a")}},
		{Msg: &store.Message{ID: msgid.ID{Time: 50, Tag: 1}, Body: []byte("b")}},
		{Msg: &store.Message{ID: msgid.ID{Time: 51}, Body: []byte("c"), Number: 7}, Expires: time.Now().Add(time.Hour)},
	}
	made, err := s.Restore(key, o, true, msgid.ID{Time: 51}, 5, msgs)
	if err != nil || !made {
		t.Fatalf("Restore = %v, %v", made, err)
	}
	if again, _ := s.Restore(key, o, true, msgid.ID{}, 0, nil); again {
		t.Fatal("Restore replaced a channel the store holds")
	}
	info, err := s.Info(context.Background(), key)
	if err != nil || info.Messages != 2 || info.LastMessageID != (msgid.ID{Time: 51}) || info.Published != 7 {
		t.Fatalf("Info = %+v, %v; want the buffer of 2, the last id and 7 published (the newest message's number)", info, err)
	}
	r, err := s.Publish(context.Background(), key, store.Publication{Body: []byte("d")}, o)
	if err != nil || !r.Message.ID.After(msgid.ID{Time: 51}) || r.Message.Number != 8 {
		t.Fatalf("publish after Restore: %v, %v", r.Message, err)
	}
	if _, err := s.Subscribe(context.Background(), key, store.SubscribeOptions{ExistingOnly: true}); err != nil {
		t.Fatalf("an authorized restored channel refused an existing-only subscriber: %v", err)
	}
}
