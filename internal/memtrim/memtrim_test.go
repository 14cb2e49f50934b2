package memtrim

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// TestRunReturnsFreeMemory: after a burst of garbage the trimmer hands the
// free heap back, and it stops with its context.
func TestRunReturnsFreeMemory(t *testing.T) {
	garbage := make([][]byte, 0, 4096)
	for range 4096 {
		garbage = append(garbage, make([]byte, 16<<10)) // 64 MiB
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC()
	free := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, Options{Interval: 10 * time.Millisecond, MinFree: 1 << 20}); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for free() > 8<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if f := free(); f > 8<<20 {
		t.Errorf("free heap still %d bytes after trimming", f)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

// TestRunCollectsAfterABurst: garbage no collection has run for yet (the
// heap grew, then held still) is collected and returned too.
func TestRunCollectsAfterABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // only the trimmer collects
	objects := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Options{Interval: 10 * time.Millisecond, MinFree: 1 << 20})
	time.Sleep(50 * time.Millisecond)
	before := objects()
	garbage := make([][]byte, 0, 2048)
	for range 2048 {
		garbage = append(garbage, make([]byte, 16<<10)) // 32 MiB
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	if grown := objects(); grown < before+16<<20 {
		t.Fatalf("heap objects %d after the burst, %d before: the burst was collected already", grown, before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for objects() > before+8<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := objects(); got > before+8<<20 {
		t.Fatalf("heap objects still %d bytes (%d before the burst): the burst's garbage was not collected", got, before)
	}
}

// TestTrimmerDue: when a check decides to trim, from the samples before it.
func TestTrimmerDue(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		prev sample
		base uint64
		last time.Time
		s    sample
		now  time.Time
		want bool
	}{
		{"free heap at a quiet moment", sample{free: 40 * mib, objects: 20 * mib, gcs: 7}, 20 * mib, t0, sample{free: 40 * mib, objects: 20 * mib, gcs: 7}, t0.Add(10 * time.Second), true},
		{"free heap while collecting", sample{free: 40 * mib, objects: 20 * mib, gcs: 7}, 20 * mib, t0, sample{free: 40 * mib, objects: 20 * mib, gcs: 8}, t0.Add(10 * time.Second), false},
		{"free heap too soon after a trim", sample{free: 40 * mib, objects: 20 * mib, gcs: 7}, 20 * mib, t0, sample{free: 40 * mib, objects: 20 * mib, gcs: 7}, t0.Add(2 * time.Second), false},
		{"little free heap", sample{free: 2 * mib, objects: 20 * mib, gcs: 7}, 20 * mib, t0, sample{free: 2 * mib, objects: 20 * mib, gcs: 7}, t0.Add(10 * time.Second), false},
		{"free heap a small part of a large one", sample{free: 10 * mib, objects: 200 * mib, gcs: 7}, 200 * mib, t0, sample{free: 10 * mib, objects: 200 * mib, gcs: 7}, t0.Add(10 * time.Second), false},
		{"a burst that held still", sample{objects: 60 * mib, gcs: 3}, 20 * mib, t0, sample{objects: 61 * mib, gcs: 3}, t0.Add(time.Second), true},
		{"a burst still growing", sample{objects: 40 * mib, gcs: 3}, 20 * mib, t0, sample{objects: 60 * mib, gcs: 3}, t0.Add(time.Second), false},
		{"a burst under collections", sample{objects: 60 * mib, gcs: 3}, 20 * mib, t0, sample{objects: 60 * mib, gcs: 5}, t0.Add(time.Second), false},
		{"no growth", sample{objects: 21 * mib, gcs: 3}, 20 * mib, t0, sample{objects: 21 * mib, gcs: 3}, t0.Add(time.Second), false},
		{"a burst that held still, the process idle", sample{objects: 60 * mib, gcs: 3, cpu: time.Second, at: t0}, 20 * mib, t0,
			sample{objects: 61 * mib, gcs: 3, cpu: time.Second + 10*time.Millisecond, at: t0.Add(time.Second)}, t0.Add(time.Second), true},
		{"a burst that held still, the process busy without collecting", sample{objects: 60 * mib, gcs: 3, cpu: time.Second, at: t0}, 20 * mib, t0,
			sample{objects: 61 * mib, gcs: 3, cpu: time.Second + 600*time.Millisecond, at: t0.Add(time.Second)}, t0.Add(time.Second), false},
		{"free heap, the process at a tenth of a core", sample{free: 40 * mib, objects: 20 * mib, gcs: 7, cpu: time.Second, at: t0}, 20 * mib, t0,
			sample{free: 40 * mib, objects: 20 * mib, gcs: 7, cpu: 2 * time.Second, at: t0.Add(10 * time.Second)}, t0.Add(10 * time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &trimmer{minFree: 4 * mib, interval: time.Second, base: tc.base, prev: tc.prev, last: tc.last}
			if got := tr.due(tc.s, tc.now); got != tc.want {
				t.Errorf("due = %v, want %v", got, tc.want)
			}
			if tr.prev != tc.s {
				t.Errorf("prev = %+v, want the sample %+v", tr.prev, tc.s)
			}
		})
	}
}

// TestRunDisabled: with Enabled answering false nothing is trimmed.
func TestRunDisabled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	asked := make(chan struct{}, 1)
	garbage := make([][]byte, 0, 1024)
	for range 1024 {
		garbage = append(garbage, make([]byte, 16<<10)) // 16 MiB
	}
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	forced := s[0].Value.Uint64()
	go Run(ctx, Options{Interval: 5 * time.Millisecond, MinFree: 1 << 20, Enabled: func() bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return false
	}})
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the trimmer never found a trim due")
	}
	time.Sleep(50 * time.Millisecond)
	metrics.Read(s)
	if got := s[0].Value.Uint64(); got != forced {
		t.Errorf("%d forced collections while disabled", got-forced)
	}
}
