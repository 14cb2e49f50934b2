package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// countOutput is an output that counts what it is given and discards it.
// With grouped set, fan-out groups write to it.
type countOutput struct {
	bytes   atomic.Int64
	done    chan struct{}
	grouped bool
}

func (o *countOutput) write(bufs [][]byte) error {
	for _, b := range bufs {
		o.bytes.Add(int64(len(b)))
	}
	return nil
}
func (o *countOutput) gone() <-chan struct{} { return o.done }
func (o *countOutput) close()                {}
func (o *countOutput) direct() bool          { return o.grouped }
func (o *countOutput) onGone(func())         {}
func (o *countOutput) tryWrite(_ *writeScratch, bufs [][]byte) (bool, error) {
	return true, o.write(bufs)
}

// BenchmarkStreamFanout runs the real fan-out for n EventSource subscribers
// of one channel in-process (the output discards): one op is one message
// published and written to all n. "group" is how subscribers on plain TCP
// connections are served (fan-out groups); "goroutine" is the loop that
// serves each of the others on a goroutine of its own. allocs/op covers the
// whole fan-out of a message, so it shows what the per-subscriber path
// costs.
func BenchmarkStreamFanout(b *testing.B) {
	for _, mode := range []string{"group", "goroutine"} {
		for _, n := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) { benchStreamFanout(b, n, mode == "group") })
		}
	}
}

// benchServer provisions the built-in configuration on st and returns the
// server and its subscriber-only route (/sub).
func benchServer(b *testing.B, st store.Store) (*Server, *route.Route) {
	cfg := config.Default()
	s, err := New(cfg, Options{StoreFor: func(*config.Location) (store.Store, error) { return st, nil }})
	if err != nil {
		b.Fatal(err)
	}
	for _, rt := range (*s.blocks.Load())[0].router.routes {
		if rt.Subscriber.Transports != 0 && !rt.Publisher.HTTP {
			return s, rt
		}
	}
	b.Fatal("no subscriber location in the built-in configuration")
	return nil, nil
}

// benchStreamFanout is one run of BenchmarkStreamFanout; setup, if any,
// prepares each session before its stream starts.
func benchStreamFanout(b *testing.B, n int, grouped bool, setup ...func(*session)) {
	st := memory.New(memory.Options{})
	defer st.Close()
	s, rt := benchServer(b, st)
	key := store.ChannelKey{ID: "bench"}
	outs := make([]*countOutput, n)
	for i := range outs {
		sub, err := st.Subscribe(context.Background(), key, rt.Subscriber.Options)
		if err != nil {
			b.Fatal(err)
		}
		outs[i] = &countOutput{done: make(chan struct{}), grouped: grouped}
		ss := &session{s: s, rt: rt, kind: "eventsource", key: key, single: true, subs: []store.Subscription{sub},
			cursors: make([]msgid.ID, 1), buf: make([]*store.Message, 0, 1), out: outs[i], stream: true, release: func() {}}
		for _, f := range setup {
			f(ss)
		}
		s.streams.add()
		s.startStream(&streamer{s: s, ss: ss, out: outs[i], f: &esFormat{es: &rt.Subscriber.EventSource}})
	}
	defer s.quitOnce.Do(func() { close(s.quit) })
	defer func() {
		for _, o := range outs {
			close(o.done)
		}
	}()
	benchPublishLoop(b, st, key, rt.Publisher.Channel, outs, func(m *store.Message) int {
		return len(protocol.AppendEvent(nil, "", m.ID.String(), m.Body))
	})
}

// benchPublishLoop is the timed part of a fan-out benchmark: one op
// publishes a message of about 64 bytes to key and waits until every
// output has it; size is how many bytes a message adds to each output.
func benchPublishLoop(b *testing.B, st store.Store, key store.ChannelKey, o store.ChannelOptions, outs []*countOutput, size func(*store.Message) int) {
	body := []byte("a message of about sixty-four bytes, as the load tool sends it.")
	var want int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := st.Publish(context.Background(), key, store.Publication{Body: body}, o)
		if err != nil {
			b.Fatal(err)
		}
		want += int64(size(res.Message))
		deadline := time.Now().Add(10 * time.Second)
		for _, out := range outs {
			for out.bytes.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("a subscriber has %d of %d bytes", out.bytes.Load(), want)
				}
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	b.ReportMetric(float64(len(outs)*b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkEncode measures encoding one message for each transport: "first"
// builds the bytes (once per message), "cached" is what every further
// subscriber of that format pays.
func BenchmarkEncode(b *testing.B) {
	st := memory.New(memory.Options{})
	defer st.Close()
	s, rt := benchServer(b, st)
	body := []byte("a message of about sixty-four bytes, as the load tool sends it.")
	formats := []struct {
		name string
		f    format
	}{
		{"eventsource", &esFormat{es: &rt.Subscriber.EventSource}},
		{"chunked", &chunkFormat{framed: true}},
		{"multipart", &multipartFormat{ids: &rt.IDs, boundary: s.boundary, next: s.partEnd}},
		{"raw", &rawFormat{sep: []byte("\n")}},
		{"websocket", &wsFormat{s: s}},
		{"websocket-meta", &wsFormat{s: s, meta: true}},
		{"websocket-deflate", &wsFormat{s: s, deflate: true}},
	}
	ss := &session{cursors: make([]msgid.ID, 1)}
	bufs := make([][]byte, 0, maxParts)
	for _, tc := range formats {
		b.Run(tc.name+"/first", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := &store.Message{ID: msgid.ID{Time: 1795376591, Tag: 3}, Body: body, ContentType: "text/plain", Deflate: 6}
				ss.cursors[0] = m.ID
				bufs = tc.f.message(bufs[:0], m, ss.multiID(0), true)
			}
		})
		b.Run(tc.name+"/cached", func(b *testing.B) {
			m := &store.Message{ID: msgid.ID{Time: 1795376591, Tag: 3}, Body: body, ContentType: "text/plain", Deflate: 6}
			ss.cursors[0] = m.ID
			bufs = tc.f.message(bufs[:0], m, ss.multiID(0), true)
			b.ReportAllocs()
			for b.Loop() {
				bufs = tc.f.message(bufs[:0], m, ss.multiID(0), true)
			}
		})
	}
}
