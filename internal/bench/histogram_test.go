package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	var next uint64
	for i := range histBuckets {
		lo, hi := bucketRange(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d: [%d, %d]", i, lo, hi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histSub && float64(hi-lo+1)/float64(lo) > 1.0/64 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/64 of its start", i, lo, hi)
		}
		next = hi + 1
	}
	if next != 0 { // wrapped: the last bucket ends at MaxUint64
		t.Fatalf("buckets end at %d, want MaxUint64", next-1)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		n    int
		gen  func() time.Duration
	}{
		{"one value", 1, func() time.Duration { return 1234567 }},
		{"constant", 1000, func() time.Duration { return 5 * time.Millisecond }},
		{"tiny exact", 5000, func() time.Duration { return time.Duration(rng.IntN(100)) }},
		{"uniform µs to ms", 20000, func() time.Duration { return time.Duration(rng.Int64N(int64(50 * time.Millisecond))) }},
		{"exponential", 50000, func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"lognormal wide", 50000, func() time.Duration {
			return time.Duration(math.Exp(rng.NormFloat64()*3 + 12))
		}},
		{"bimodal", 10001, func() time.Duration {
			if rng.IntN(10) == 0 {
				return time.Second + time.Duration(rng.IntN(1e6))
			}
			return 200*time.Microsecond + time.Duration(rng.IntN(1e4))
		}},
		{"with zeros and negatives", 3000, func() time.Duration { return time.Duration(rng.IntN(2000) - 1000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram()
			ref := make([]uint64, tt.n)
			for i := range ref {
				d := tt.gen()
				h.Record(i, d)
				ref[i] = uint64(max(d, 0))
			}
			slices.Sort(ref)
			s := h.Snapshot()
			if s.Count() != uint64(tt.n) {
				t.Fatalf("count %d, want %d", s.Count(), tt.n)
			}
			if s.Min() != ref[0] || s.Max() != ref[len(ref)-1] {
				t.Fatalf("min/max %d/%d, want %d/%d", s.Min(), s.Max(), ref[0], ref[len(ref)-1])
			}
			for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q * float64(tt.n)))
				want := ref[max(rank, 1)-1]
				got := s.Quantile(q)
				tol := want/120 + 1 // a bucket's midpoint is within 1/128 of its values
				if diff := int64(got) - int64(want); diff > int64(tol) || -diff > int64(tol) {
					t.Errorf("q%.3f: got %d, want %d ±%d", q, got, want, tol)
				}
			}
		})
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(g, time.Duration(i)*time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count() != 8000 || s.Max() != uint64(999*time.Microsecond) || s.Min() != 0 {
		t.Fatalf("count %d min %d max %d", s.Count(), s.Min(), s.Max())
	}
	p := s.Percentiles()
	if math.Abs(p.P50-0.4995) > 0.01 || math.Abs(p.Mean-0.4995) > 0.001 {
		t.Fatalf("p50 %.4fms mean %.4fms, want about 0.4995ms", p.P50, p.Mean)
	}
}

func TestHistogramEmpty(t *testing.T) {
	p := NewHistogram().Snapshot().Percentiles()
	if p != (Percentiles{}) {
		t.Fatalf("empty histogram: %+v", p)
	}
}
