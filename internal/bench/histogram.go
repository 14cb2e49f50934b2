package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear: values below histSub nanoseconds have a
// bucket each; above, every power of two is split into histHalf equal
// buckets. A bucket's width is at most 1/64 of its lower bound, so a
// percentile reported as a bucket's midpoint is within 1/128 (0.8%) of the
// true value, and the histogram is a fixed 30 KB whatever it records.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // 128 exact buckets
	histHalf    = histSub / 2      // buckets per power of two above them
	histBuckets = histSub + (64-histSubBits)*histHalf
	histShards  = 8 // recorders spread over shards so they rarely share a cache line
)

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return histSub + (shift-1)*histHalf + int(v>>uint(shift)) - histHalf
}

// bucketRange returns the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	k := i - histSub
	shift := uint(k/histHalf + 1)
	m := uint64(k%histHalf + histHalf)
	return m << shift, (m+1)<<shift - 1
}

// Histogram records durations concurrently with bounded memory.
type Histogram struct {
	shards [histShards]histShard
}

type histShard struct {
	counts   [histBuckets]atomic.Uint64
	n, sum   atomic.Uint64
	min, max atomic.Uint64 // min is stored as ^v so the zero value means "none"
	_        [64]byte
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return new(Histogram) }

// Record adds d (negative counts as 0). hint picks the shard: callers pass
// something that differs between goroutines, such as a subscriber number.
func (h *Histogram) Record(hint int, d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	s := &h.shards[uint(hint)%histShards]
	s.counts[bucketOf(v)].Add(1)
	s.n.Add(1)
	s.sum.Add(v)
	for {
		old := s.max.Load()
		if v <= old || s.max.CompareAndSwap(old, v) {
			break
		}
	}
	for {
		old := s.min.Load()
		if ^v <= old || s.min.CompareAndSwap(old, ^v) {
			break
		}
	}
}

// Snapshot is a merged, read-only copy of a histogram.
type Snapshot struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max uint64
}

// Snapshot merges the shards. Records made meanwhile may or may not be in it.
func (h *Histogram) Snapshot() *Snapshot {
	s := &Snapshot{min: math.MaxUint64}
	for i := range h.shards {
		sh := &h.shards[i]
		if sh.n.Load() == 0 {
			continue
		}
		for b := range sh.counts {
			s.counts[b] += sh.counts[b].Load()
		}
		s.n += sh.n.Load()
		s.sum += float64(sh.sum.Load())
		if mx := sh.max.Load(); mx > s.max {
			s.max = mx
		}
		if mn := ^sh.min.Load(); mn < s.min {
			s.min = mn
		}
	}
	if s.n == 0 {
		s.min = 0
	}
	return s
}

// Count is the number of recorded values.
func (s *Snapshot) Count() uint64 { return s.n }

// Max is the largest recorded value (exact).
func (s *Snapshot) Max() uint64 { return s.max }

// Min is the smallest recorded value (exact).
func (s *Snapshot) Min() uint64 { return s.min }

// Mean is the average recorded value.
func (s *Snapshot) Mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n)
}

// Quantile returns the value at quantile q (0..1): the smallest recorded
// value with at least q of all values at or below it ("nearest rank"),
// approximated by its bucket's midpoint and clamped to the exact min and max.
func (s *Snapshot) Quantile(q float64) uint64 {
	if s.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= s.n {
		return s.max
	}
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum < rank {
			continue
		}
		lo, hi := bucketRange(i)
		v := lo + (hi-lo)/2
		return min(max(v, s.min), s.max)
	}
	return s.max
}

// Percentiles is a latency summary in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Percentiles summarises the snapshot.
func (s *Snapshot) Percentiles() Percentiles {
	ms := func(v uint64) float64 { return float64(v) / 1e6 }
	return Percentiles{
		Count: s.n,
		Min:   ms(s.min),
		Mean:  s.Mean() / 1e6,
		P50:   ms(s.Quantile(0.50)),
		P90:   ms(s.Quantile(0.90)),
		P99:   ms(s.Quantile(0.99)),
		P999:  ms(s.Quantile(0.999)),
		Max:   ms(s.max),
	}
}
