package server

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// FuzzWebSocketFrames feeds arbitrary bytes to the WebSocket frame reader
// of a pubsub location (publishing allowed, deflate negotiated): it must
// end cleanly (a close frame or the connection's end), never panic or hang.
func FuzzWebSocketFrames(f *testing.F) {
	masked := func(op byte, payload string) []byte {
		b := []byte{0x80 | op, 0x80 | byte(len(payload)), 1, 2, 3, 4}
		for i := range len(payload) {
			b = append(b, payload[i]^[]byte{1, 2, 3, 4}[i%4])
		}
		return b
	}
	f.Add(masked(0x1, "hello"))
	f.Add(masked(0x9, "ping"))
	f.Add(append(masked(0x1, "\xff\xfe"), masked(0x8, "\x03\xe8")...))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})                                                   // unmasked
	f.Add([]byte{0xc1, 0x83, 1, 2, 3, 4, 0xf3, 0x49, 0x05})                                              // compressed
	f.Add([]byte{0x01, 0x82, 0, 0, 0, 0, 'a', 'b', 0x89, 0x80, 0, 0, 0, 0, 0x80, 0x81, 0, 0, 0, 0, 'c'}) // fragments
	f.Add([]byte{0x89, 0xfe, 0x01, 0x00})                                                                // long control frame

	cfg := config.Default()
	st := memory.New(memory.Options{MemoryLimit: 64 << 20})
	f.Cleanup(func() { st.Close() })
	s := New(cfg, st, Options{})
	h := newHandler(s, cfg.Servers[0])
	var pubsub *loc
	for _, l := range h.locs {
		if l.Publisher.WebSocket && l.Subscriber != 0 {
			pubsub = l
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer client.Close()
		c := &wsConn{
			h: h, l: pubsub, out: newConnOutput(server, time.Second),
			hs: wsHandshake{deflate: true}, pubIDs: []store.ChannelKey{{ID: "fuzz"}},
		}
		done := make(chan struct{})
		go func() { c.readLoop(); close(done) }()
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(time.Second))
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("frame reader did not end on %x", data)
		}
	})
}
