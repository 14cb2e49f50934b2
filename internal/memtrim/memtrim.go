// Package memtrim returns memory the Go runtime holds but no longer uses
// to the operating system. A push server's heap swings with connection
// bursts: thousands of handshakes leave their buffers behind as garbage,
// and the runtime otherwise keeps those pages for minutes, so the process
// looks several kilobytes per subscriber bigger than what it uses. The
// trimmer forces a collection only at a quiet moment (no collection and
// little CPU since its previous check), so a loaded server's latency never
// pays for it.
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
	// Enabled, when set, is asked before each trim; false skips it (the
	// memory_trim setting, which a reload may change).
	Enabled func() bool
	Logger  *slog.Logger
}

// sample is what one check reads of the runtime and the process.
type sample struct {
	free    uint64 // heap bytes free and not yet returned to the OS
	objects uint64 // heap bytes in objects, live or not yet collected
	gcs     uint64 // garbage collections completed so far
	// cpu is the process's CPU time so far, at the wall-clock time at;
	// zero where it cannot be read.
	cpu time.Duration
	at  time.Time
}

// busyShare is the CPU a process may use between two checks (a share of
// one core) and still be quiet: a server that is delivering messages,
// even without allocating, is not.
const busyShare = 0.05

// trimmer decides, check after check, when a trim is worth its cost.
type trimmer struct {
	minFree  uint64
	interval time.Duration
	base     uint64 // objects after the last trim
	prev     sample // the previous check
	last     time.Time
}

// due reports whether to trim now, given this check's sample s at now. It
// trims only at a quiet moment: no collection ran since the previous check
// and the process used under busyShare of a core meanwhile (a fan-out
// writes without allocating); a forced full collection on a busy process
// would add its pause to whatever is being served, and the runtime's own
// scavenger returns memory gradually meanwhile. At a quiet moment, it
// trims when
//   - at least minFree bytes of heap are free and that is over an eighth of
//     the heap the process holds (at most every five intervals), or
//   - the heap grew by at least minFree since the last trim and then held
//     still: a burst (of handshakes, say) is over, and what it left behind
//     may be garbage no collection has run for yet.
func (t *trimmer) due(s sample, now time.Time) bool {
	quiet := s.gcs == t.prev.gcs
	if s.cpu > 0 && t.prev.cpu > 0 && s.at.After(t.prev.at) {
		quiet = quiet && float64(s.cpu-t.prev.cpu) < busyShare*float64(s.at.Sub(t.prev.at))
	}
	grown := s.objects >= t.base+t.minFree
	still := s.objects <= t.prev.objects+t.prev.objects/16 && s.objects+s.objects/16 >= t.prev.objects
	idle := s.free >= t.minFree && s.free*8 >= s.free+s.objects && now.Sub(t.last) >= 5*t.interval
	t.prev = s
	return quiet && (idle || (grown && still))
}

// trimmed records the state after a trim that began at start.
func (t *trimmer) trimmed(after sample, start time.Time) {
	t.last = start
	t.base = after.objects
	t.prev = after
}

// Run checks every Interval until ctx ends, and collects garbage and
// returns the free pages to the operating system when a check finds it
// due (see trimmer.due).
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
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	read := func() sample {
		metrics.Read(samples)
		s := sample{
			free:    samples[0].Value.Uint64() + samples[1].Value.Uint64(),
			objects: samples[2].Value.Uint64(),
			gcs:     samples[3].Value.Uint64(),
			at:      time.Now(),
		}
		if cpu, ok := processCPU(); ok {
			s.cpu = cpu
		}
		return s
	}
	first := read()
	tr := &trimmer{minFree: o.MinFree, interval: o.Interval, base: first.objects, prev: first}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := read()
		if !tr.due(s, s.at) || (o.Enabled != nil && !o.Enabled()) {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		after := read()
		tr.trimmed(after, start)
		o.Logger.Debug("returned free memory to the OS", "free_bytes", s.free, "heap_objects_bytes", s.objects, "after_bytes", after.objects, "took", time.Since(start))
	}
}
