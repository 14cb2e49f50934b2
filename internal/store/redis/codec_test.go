package redis

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// TestDecodeNotice reads message notices in each layout the scripts have
// written: without the compression level, with it, and with the message's
// number and event id.
func TestDecodeNotice(t *testing.T) {
	for _, tt := range []struct {
		name, payload     string
		body, ct, ev, eid string
		number            uint64
		deflate           uint8
	}{
		{"oldest layout", "m 7 10-0 9-3 5 0 10 0 10 2\ntext/plainevhi", "hi", "text/plain", "ev", "", 0, 0},
		{"with compression", "m 7 10-0 9-3 5 0 10 0 10 2 6\ntext/plainevhi", "hi", "text/plain", "ev", "", 0, 6},
		{"with number and event id", "m 7 10-0 9-3 5 0 10 0 10 2 0 42 3\ntext/plainevabchi", "hi", "text/plain", "ev", "abc", 42, 0},
		{"empty event id", "m 7 10-0 9-3 5 0 0 0 0 0 0 1 0\nhi", "hi", "", "", "", 1, 0},
	} {
		n, err := decodeNotice(tt.payload)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		m := n.msg.Msg
		if n.kind != 'm' || m.ID != (msgid.ID{Time: 10}) || n.prev != (msgid.ID{Time: 9, Tag: 3}) || string(m.Body) != tt.body ||
			m.ContentType != tt.ct || m.EventName != tt.ev || m.EventID != tt.eid || m.Number != tt.number || m.Deflate != tt.deflate {
			t.Errorf("%s: %+v %+v", tt.name, n, m)
		}
	}
	for _, bad := range []string{"m 7 10-0 9-3 5 0 10 0 10 2 0 42\nx", "m 7 10-0 9-3 5 0 10 0 0 0 0 1 9\nshort", "m 7 10-0 9-3 5 0 10 0 0 0 0 x 0\nb"} {
		if _, err := decodeNotice(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// FuzzDecodeNotice checks that no payload makes decoding panic and that a
// decoded message's parts come from the payload.
func FuzzDecodeNotice(f *testing.F) {
	for _, s := range []string{"d 5", "v 5 9", "m 7 10-0 9-3 5 0 10 0 10 2\ntext/plainevhi", "m 7 10-0 9-3 5 0 10 0 10 2 0 42 3\ntext/plainevabchi", "m 7 10-0 9-3 5 0 10 0 0 0 0 1 99\nx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n, err := decodeNotice(p)
		if err != nil || n.kind != 'm' {
			return
		}
		m := n.msg.Msg
		if len(m.Body)+len(m.ContentType)+len(m.EventName)+len(m.EventID) > len(p) {
			t.Fatalf("%q: decoded more than the payload holds", p)
		}
	})
}

// TestMessagePayload pins the relay notice of a message in nostore mode,
// the layout apply reads on the other nodes.
func TestMessagePayload(t *testing.T) {
	n := &Nostore{node: "n1"}
	n.seq.Store(41)
	m := &store.Message{ID: msgid.ID{Time: 1700000000, Tag: 3}, ContentType: "text/plain", EventName: "ev",
		EventID: "E1", Body: []byte("hello"), Deflate: 6, Number: 12}
	o := store.ChannelOptions{BufferLength: 10, MinBufferLength: 2, MessageTimeout: 90 * time.Second, ChannelTimeout: time.Hour}
	want := "m n1 42 1700000000-3 10 2 90000 3600000 10 2 6 12 2\ntext/plainevE1hello"
	if got := n.messagePayload(m, o); got != want {
		t.Fatalf("messagePayload = %q, want %q", got, want)
	}
}
