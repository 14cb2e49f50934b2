package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPipeliner: concurrent calls are batched, at most max pipelines are
// in flight, every call gets its own reply, and a caller that gives up
// does not hold up the others.
func TestPipeliner(t *testing.T) {
	tests := []struct {
		name    string
		callers int
		max     int
	}{
		{"one caller", 1, 2},
		{"a few callers", 4, 2},
		{"many callers", 64, 2},
		{"more than one pipeline holds", 3 * maxPipelineCalls, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inFlight, most, pipelines, biggest atomic.Int64
			release := make(chan struct{})
			p := &pipeliner{max: tc.max, exec: func(calls []*scriptCall) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				pipelines.Add(1)
				if int64(len(calls)) > biggest.Load() {
					biggest.Store(int64(len(calls)))
				}
				if len(calls) > maxPipelineCalls {
					t.Errorf("a pipeline of %d calls", len(calls))
				}
				<-release
				for _, c := range calls {
					c.res = []any{c.args[0]}
				}
			}}
			var wg sync.WaitGroup
			errs := make(chan error, tc.callers)
			for i := range tc.callers {
				wg.Go(func() {
					c := &scriptCall{args: []any{i}}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if err := p.do(ctx, c, 0); err != nil {
						errs <- err
						return
					}
					if len(c.res) != 1 || c.res[0] != i {
						errs <- fmt.Errorf("caller %d got %v", i, c.res)
					}
				})
			}
			// Let the callers queue behind the first pipelines, then let
			// the pipelines go.
			deadline := time.Now().Add(5 * time.Second)
			for inFlight.Load() < int64(min(tc.max, tc.callers)) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if most.Load() > int64(tc.max) {
				t.Errorf("%d pipelines in flight, at most %d allowed", most.Load(), tc.max)
			}
			if tc.callers > tc.max && pipelines.Load() >= int64(tc.callers) {
				t.Errorf("%d callers took %d pipelines: nothing was batched", tc.callers, pipelines.Load())
			}
			waitIdle(t, p)
		})
	}
}

// TestPipelinerAbandoned: a caller whose context ends, or whose timeout
// passes, returns its error while the pipeline it waits for is stuck, and the pipeline's end still
// answers the others.
func TestPipelinerAbandoned(t *testing.T) {
	release := make(chan struct{})
	p := &pipeliner{max: 1, exec: func(calls []*scriptCall) {
		<-release
		for _, c := range calls {
			c.res = []any{"ok"}
		}
	}}
	first := make(chan error, 1)
	go func() { first <- p.do(context.Background(), &scriptCall{}, 0) }()
	for {
		p.mu.Lock()
		n := p.inFlight
		p.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.do(ctx, &scriptCall{}, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned call: %v", err)
	}
	if err := p.do(context.Background(), &scriptCall{}, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its timeout: %v", err)
	}
	close(release)
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first call never returned")
	}
	waitIdle(t, p)
}

// waitIdle waits until p has nothing in flight or queued: the goroutine
// that answered the last calls frees its slot just after.
func waitIdle(t *testing.T, p *pipeliner) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n, q := p.inFlight, len(p.queue)
		p.mu.Unlock()
		if n == 0 && q == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d in flight and %d queued after every call ended", n, q)
		}
		time.Sleep(time.Millisecond)
	}
}
