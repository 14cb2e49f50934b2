// Package memtrim returns memory the Go runtime holds but no longer uses
// to the operating system. A push server's heap swings with connection
// bursts: thousands of handshakes leave their buffers behind as garbage,
// and the runtime otherwise keeps those pages for minutes, so the process
// looks several kilobytes per subscriber bigger than what it uses.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options tune the trimmer.
type Options struct {
	// Interval between checks; default 1s. A trim for free heap comes at
	// most every five intervals.
	Interval time.Duration
	// MinFree is the idle heap (bytes not in use and not yet returned) that
	// makes a trim worthwhile; default 4 MiB.
	MinFree uint64
	Logger  *slog.Logger
}

// Run checks every Interval until ctx ends, and collects garbage and
// returns the free pages when
//   - at least MinFree bytes of heap are free and that is over an eighth of
//     the heap the process holds, or
//   - the heap grew by at least MinFree since the last trim and then held
//     still for an interval: a burst (of handshakes, say) is over, and what
//     it left behind may be garbage no collection has run for yet.
func Run(ctx context.Context, o Options) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MinFree == 0 {
		o.MinFree = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	read := func() (free, objects uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64() + samples[1].Value.Uint64(), samples[2].Value.Uint64()
	}
	_, base := read() // objects after the last trim
	prev := base      // objects at the last check
	var last time.Time
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		free, objects := read()
		grown := objects >= base+o.MinFree
		still := objects <= prev+prev/16 && objects+objects/16 >= prev
		prev = objects
		idle := free >= o.MinFree && free*8 >= free+objects && time.Since(last) >= 5*o.Interval
		if idle || (grown && still) {
			start := time.Now()
			last = start
			debug.FreeOSMemory()
			_, base = read()
			prev = base
			o.Logger.Debug("returned free memory to the OS", "free_bytes", free, "heap_objects_bytes", objects, "after_bytes", base, "took", time.Since(start))
		}
	}
}
