package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	"github.com/heraldpush/herald/protocol/msgid"
)

// BenchmarkPushStreamFanout is BenchmarkStreamFanout for push-stream
// subscribers (streaming with a JSON message template, EventSource,
// WebSocket) served by fan-out groups: one op is one message published and
// written to all n. Its allocs/op compare with the Nchan EventSource case.
func BenchmarkPushStreamFanout(b *testing.B) {
	kinds := []struct {
		name string
		kind int
	}{{"stream", psKindStream}, {"eventsource", psKindES}, {"websocket", psKindWS}}
	for _, k := range kinds {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) { benchPushStreamFanout(b, n, k.kind) })
		}
	}
}

// psBenchConfig is a push-stream subscriber location with the module's
// sample JSON message template.
const psBenchConfig = `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ /sub/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
        push_stream_message_template: '{"id":~id~,"channel":"~channel~","text":"~text~","tag":"~tag~","time":"~time~","eventid":"~event-id~"}'
`

// psBenchServer provisions psBenchConfig on st and returns the server and
// its push-stream route.
func psBenchServer(b *testing.B, st store.Store) (*Server, *route.Route) {
	cfg, err := config.Parse([]byte(psBenchConfig), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cfg, Options{StoreFor: func(*config.Location) (store.Store, error) { return st, nil }})
	if err != nil {
		b.Fatal(err)
	}
	for _, rt := range (*s.blocks.Load())[0].router.routes {
		if rt.PushStream != nil {
			return s, rt
		}
	}
	b.Fatal("no push-stream location")
	return nil, nil
}

func benchPushStreamFanout(b *testing.B, n, kind int) {
	st := memory.New(memory.Options{})
	defer st.Close()
	s, rt := psBenchServer(b, st)
	key := store.ChannelKey{ID: "bench"}
	outs := make([]*countOutput, n)
	var f *psFormat
	for i := range outs {
		sub, err := st.Subscribe(context.Background(), key, rt.PushStream.Subscribe)
		if err != nil {
			b.Fatal(err)
		}
		outs[i] = &countOutput{done: make(chan struct{}), grouped: true}
		ss := &session{s: s, rt: rt, kind: "stream", key: key, single: true, subs: []store.Subscription{sub},
			cursors: make([]msgid.ID, 1), buf: make([]*store.Message, 0, 1), out: outs[i], stream: true, release: func() {}}
		s.streams.add()
		f = s.newPSFormat(rt, kind, []string{key.ID}, kind != psKindWS, nil)
		s.startStream(&streamer{s: s, ss: ss, out: outs[i], f: f})
	}
	defer s.quitOnce.Do(func() { close(s.quit) })
	defer func() {
		for _, o := range outs {
			close(o.done)
		}
	}()
	benchPublishLoop(b, st, key, rt.PushStream.Channel, outs, func(m *store.Message) int {
		fl := psFields(m, key.ID)
		return len(f.wrap(nil, &fl))
	})
}
