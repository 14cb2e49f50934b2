package server

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
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
	s, err := New(cfg, Options{StoreFor: func(*config.Location) (store.Store, error) { return st, nil }})
	if err != nil {
		f.Fatal(err)
	}
	var pubsub *route.Route
	for _, rt := range (*s.blocks.Load())[0].router.routes {
		if rt.Publisher.WebSocket && rt.Subscriber.Transports != 0 {
			pubsub = rt
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer client.Close()
		c := &wsConn{
			s: s, rt: pubsub, out: newConnOutput(server, time.Second),
			hs: wsHandshake{deflate: true}, pubKeys: []store.ChannelKey{{ID: "fuzz"}},
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

// FuzzNegotiateDeflate feeds arbitrary Sec-WebSocket-Extensions headers to
// the permessage-deflate negotiation: it never panics, refuses with one of
// Nchan's messages or answers with an offer Herald would itself accept
// unchanged.
func FuzzNegotiateDeflate(f *testing.F) {
	f.Add("permessage-deflate; client_max_window_bits", "")
	f.Add("permessage-deflate; server_max_window_bits=12; client_no_context_takeover", "x-webkit-deflate-frame")
	f.Add("x-webkit-deflate-frame; max_window_bits=9", "")
	f.Add(`permessage-deflate; client_max_window_bits="99999999999999999999"`, "permessage-deflate")
	refusals := map[string]bool{
		"invalid client_max_window_bits permessage-deflate setting": true,
		"invalid server_max_window_bits permessage-deflate setting": true,
		"server_max_window_bits perframe-deflate is too small":      true,
		"invalid max_window_bits perframe-deflate setting":          true,
		"max_window_bits perframe-deflate is too small":             true,
	}
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		var hs wsHandshake
		reply, err := negotiateDeflate([]string{h1, h2}, &hs)
		switch {
		case err != nil:
			if reply != "" || !refusals[err.Error()] {
				t.Fatalf("refused with %q and answer %q", err, reply)
			}
			return
		case reply == "":
			if hs.deflate {
				t.Fatalf("deflate on without an answer")
			}
			return
		}
		if !hs.deflate || (hs.serverWindow != 0 && hs.serverWindow != wsServerWindowBits) {
			t.Fatalf("answer %q with %+v", reply, hs)
		}
		var again wsHandshake
		if r2, err := negotiateDeflate([]string{reply}, &again); err != nil || r2 != reply || again != hs {
			t.Fatalf("answer %q negotiates to %q %v %+v, want itself and %+v", reply, r2, err, again, hs)
		}
	})
}
