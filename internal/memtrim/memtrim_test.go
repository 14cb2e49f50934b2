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
