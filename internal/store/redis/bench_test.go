package redis

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
	"github.com/heraldpush/herald/internal/store/storetest"
)

// Benchmarks against a real redis-server on loopback, and a real 3-master
// cluster:
//
//	go test -run x -bench . -benchtime 2s ./internal/store/redis

var benchBody = make([]byte, 64)

func BenchmarkSingle(b *testing.B) {
	srv := redistest.Start(b)
	benchSuite(b, []string{srv.Addr}, false)
}

func BenchmarkCluster(b *testing.B) {
	c := redistest.StartCluster(b, 3, 1)
	benchSuite(b, c.Addrs(), true)
}

func benchStore(b *testing.B, addrs []string, cluster bool) *Store {
	o := testOpts(addrs, cluster)
	o.RefreshInterval = 5 * time.Second
	o.NodeTTL = 15 * time.Second
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchSuite(b *testing.B, addrs []string, cluster bool) {
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	p := store.Publication{Body: benchBody, ContentType: "text/plain"}

	// One publisher, one channel: the round trip of the publish script.
	b.Run("Publish", func(b *testing.B) {
		s := benchStore(b, addrs, cluster)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Publish(ctx, storetest.Key("bench"), p, o); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Many publishers on many channels: throughput.
	b.Run("PublishParallel", func(b *testing.B) {
		s := benchStore(b, addrs, cluster)
		names := make([]store.ChannelKey, 1024)
		for i := range names {
			names[i] = storetest.Key(fmt.Sprintf("bench-%d", i))
		}
		var next atomic.Int64
		b.SetParallelism(16)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 131
			for pb.Next() {
				i++
				if _, err := s.Publish(ctx, names[i%len(names)], p, o); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})

	// Cross-node fan-out: publish on node A, until node B's subscriber
	// (woken by the pubsub notice) reads it.
	b.Run("FanoutLatency", func(b *testing.B) {
		a := benchStore(b, addrs, cluster)
		n := benchStore(b, addrs, cluster)
		sub, err := n.Subscribe(ctx, storetest.Key("fanout"), store.SubscribeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		cursor, err := sub.Start(store.Start{Kind: store.StartNewest}) // past an earlier run's messages
		if err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, 0, 1024)
		buf := make([]*store.Message, 0, 16)
		b.ResetTimer()
		for b.Loop() {
			bt, err := sub.Read(cursor, buf[:0], 16)
			if err != nil || len(bt.Messages) != 0 {
				b.Fatalf("read before publish: %d, %v", len(bt.Messages), err)
			}
			t0 := time.Now()
			r, err := a.Publish(ctx, storetest.Key("fanout"), p, o)
			if err != nil {
				b.Fatal(err)
			}
			for {
				select {
				case <-bt.Wait:
				case <-time.After(5 * time.Second):
					b.Fatal("not delivered")
				}
				if bt, err = sub.Read(cursor, buf[:0], 16); err != nil {
					b.Fatal(err)
				}
				if len(bt.Messages) > 0 {
					break
				}
			}
			lat = append(lat, time.Since(t0))
			cursor = bt.Messages[len(bt.Messages)-1].ID
			if cursor != r.Message.ID {
				b.Fatalf("got %v, published %v", cursor, r.Message.ID)
			}
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}
