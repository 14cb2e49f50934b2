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
	// Interval between checks; default 5s.
	Interval time.Duration
	// MinFree is the idle heap (bytes not in use and not yet returned) that
	// makes a trim worthwhile; default 4 MiB.
	MinFree uint64
	Logger  *slog.Logger
}

// Run checks every Interval until ctx ends and, when at least MinFree bytes
// of heap are free and that is over an eighth of the heap the process
// holds, collects garbage and returns the free pages.
func Run(ctx context.Context, o Options) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
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
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		free := samples[0].Value.Uint64() + samples[1].Value.Uint64()
		held := free + samples[2].Value.Uint64()
		if free >= o.MinFree && free*8 >= held {
			start := time.Now()
			debug.FreeOSMemory()
			o.Logger.Debug("returned free memory to the OS", "free_bytes", free, "took", time.Since(start))
		}
	}
}
