package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	"github.com/heraldpush/herald/protocol"
)

// FuzzMuxFrames sends arbitrary herald.v1 frames (one per line of the
// input, each a masked text message) to a multiplexed connection on a
// pubsub location: the connection must answer and end cleanly when the
// client leaves, every subscription released, never panic or hang.
func FuzzMuxFrames(f *testing.F) {
	f.Add([]byte(`{"op":"subscribe","channel":"a","from":"start","ref":1}` + "\n" + `{"op":"publish","channel":"a","data":"x","ref":2}`))
	f.Add([]byte(`{"op":"subscribe","channel":"a","from":"end"}` + "\n" + `{"op":"unsubscribe","channel":"a"}` + "\n" + `{"op":"unsubscribe","channel":"a"}`))
	f.Add([]byte(`{"op":"publish","channel":"b","data_b64":"AP8="}` + "\n" + `{"op":"subscribe","channel":"b","from":"1:0"}`))
	f.Add([]byte(`{"op":"subscribe","channel":"","ref":3}` + "\n" + `not json` + "\n" + `{"op":"ping"}`))
	f.Add([]byte(`{"op":"subscribe","channel":"c","from":"99999999999:99"}` + "\n" + `{"op":"subscribe","channel":"c"}`))

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
		ctx, cancel := context.WithCancel(context.Background())
		m := &muxConn{
			s: s, rt: pubsub, out: newConnOutput(server, time.Second),
			hs: httptest.NewRequest("GET", "/pubsub/x", nil).WithContext(ctx), remote: "fuzz",
			ctx: ctx, cancel: cancel, subs: map[string]*muxSub{},
		}
		c := &wsConn{s: s, rt: pubsub, out: m.out, mux: m}
		done := make(chan struct{})
		go func() { c.readLoop(); close(done) }()
		watched := make(chan struct{})
		go func() { m.watch(); close(watched) }()
		go io.Copy(io.Discard, client)
		var frames []byte
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			frames = protocol.AppendMaskedFrame(frames, protocol.OpText, protocol.Fin, [4]byte{1, 2, 3, 4}, line)
		}
		client.SetWriteDeadline(time.Now().Add(time.Second))
		client.Write(frames)
		client.Close()
		for _, ch := range []chan struct{}{done, watched} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("connection did not end on %q", data)
			}
		}
		m.mu.Lock()
		left := len(m.subs)
		m.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d subscriptions left after the end", left)
		}
	})
}
