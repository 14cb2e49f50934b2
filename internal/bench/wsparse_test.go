package bench

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// wsStream encodes frames as a server (or, masked, a client) writes them.
func wsStream(t testing.TB, frames ...ws.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if err := ws.WriteFrame(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// wsRun feeds stream to a parser in pieces of size step (0: all at once)
// and returns the deliveries, pongs and the error that ended it.
func wsRun(stream []byte, step int) (msgs, pongs []string, err error) {
	p := &wsParser{
		deliver: func(b []byte) { msgs = append(msgs, string(b)) },
		pong:    func(b []byte) error { pongs = append(pongs, string(b)); return nil },
	}
	if step <= 0 {
		step = len(stream)
	}
	for len(stream) > 0 && err == nil {
		n := min(step, len(stream))
		err = p.feed(stream[:n])
		stream = stream[n:]
	}
	return msgs, pongs, err
}

func TestWSParser(t *testing.T) {
	long := strings.Repeat("x", 300)    // 16-bit length
	huge := strings.Repeat("y", 70_000) // 64-bit length
	prefix := func(s string) string { return s[:min(len(s), bodyPrefix)] }
	tests := []struct {
		name      string
		frames    []ws.Frame
		wantMsgs  []string
		wantPongs []string
		wantClose ws.StatusCode
	}{
		{"text and binary", []ws.Frame{ws.NewTextFrame([]byte("hello")), ws.NewBinaryFrame([]byte{1, 2, 3})},
			[]string{"hello", "\x01\x02\x03"}, nil, 0},
		{"empty message", []ws.Frame{ws.NewTextFrame(nil)}, []string{""}, nil, 0},
		{"long messages keep their prefix", []ws.Frame{ws.NewTextFrame([]byte(long)), ws.NewTextFrame([]byte(huge))},
			[]string{prefix(long), prefix(huge)}, nil, 0},
		{"fragmented", []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte("frag")),
			ws.NewPingFrame([]byte("mid")),
			ws.NewFrame(ws.OpContinuation, false, []byte("men")),
			ws.NewFrame(ws.OpContinuation, true, []byte("ted")),
		}, []string{"fragmented"}, []string{"mid"}, 0},
		{"masked", []ws.Frame{ws.MaskFrame(ws.NewTextFrame([]byte(long))), ws.MaskFrame(ws.NewPingFrame([]byte("p")))},
			[]string{prefix(long)}, []string{"p"}, 0},
		{"pong frames are ignored", []ws.Frame{ws.NewPongFrame([]byte("x")), ws.NewTextFrame([]byte("a"))},
			[]string{"a"}, nil, 0},
		{"close ends the stream", []ws.Frame{
			ws.NewTextFrame([]byte("last")),
			ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")),
			ws.NewTextFrame([]byte("never")),
		}, []string{"last"}, nil, ws.StatusGoingAway},
	}
	for _, tt := range tests {
		stream := wsStream(t, tt.frames...)
		for _, step := range []int{0, 1, 2, 3, 7, 100, 4096} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				msgs, pongs, err := wsRun(stream, step)
				if !slices.Equal(msgs, tt.wantMsgs) || !slices.Equal(pongs, tt.wantPongs) {
					t.Fatalf("messages %q pongs %q, want %q %q", msgs, pongs, tt.wantMsgs, tt.wantPongs)
				}
				var ce *wsCloseError
				switch {
				case tt.wantClose == 0 && err != nil:
					t.Fatalf("error %v", err)
				case tt.wantClose != 0 && (!errors.As(err, &ce) || ce.code != tt.wantClose || ce.reason != "bye"):
					t.Fatalf("error %v, want close %d", err, tt.wantClose)
				}
			})
		}
	}
	t.Run("oversized control frame", func(t *testing.T) {
		stream := wsStream(t, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpPing, Length: 200}, Payload: make([]byte, 200)})
		if _, _, err := wsRun(stream, 0); err == nil {
			t.Fatal("a 200-byte ping was accepted")
		}
	})
}

// FuzzWSParser: any input either parses or fails cleanly, the same way
// whatever the pieces it arrives in.
func FuzzWSParser(f *testing.F) {
	f.Add(wsStream(f, ws.NewTextFrame([]byte("hello")), ws.NewPingFrame([]byte("p"))))
	f.Add(wsStream(f, ws.MaskFrame(ws.NewTextFrame([]byte(strings.Repeat("z", 200))))))
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		m1, p1, e1 := wsRun(stream, 0)
		m2, p2, e2 := wsRun(stream, 3)
		if !slices.Equal(m1, m2) || !slices.Equal(p1, p2) || (e1 == nil) != (e2 == nil) {
			t.Fatalf("whole: %q %q %v; in pieces: %q %q %v", m1, p1, e1, m2, p2, e2)
		}
	})
}
