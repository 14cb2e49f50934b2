package limit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a test clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var client = netip.MustParseAddr("203.0.113.7")

// TestRequestsBurst counts what a burst gets, with and without nodelay, as
// nginx's limit_req: 1 + burst requests go through, the rest are refused;
// without nodelay the ones of the burst are spaced at the rate.
func TestRequestsBurst(t *testing.T) {
	tests := []struct {
		name    string
		rate    Rate
		burst   int64
		noDelay bool
		delays  []time.Duration // of the requests let through, in order
	}{
		{"burst 0", PerSecond(10), 0, false, []time.Duration{0}},
		{"burst 3 nodelay", PerSecond(10), 3, true, []time.Duration{0, 0, 0, 0}},
		{"burst 3 delayed", PerSecond(10), 3, false, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}},
		{"per minute", PerMinute(30), 2, false, []time.Duration{0, 2 * time.Second, 4 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{now: time.Unix(1e9, 0)}
			r := NewRequests(RequestsConfig{Rate: tt.rate, Burst: tt.burst, NoDelay: tt.noDelay, Now: c.Now})
			var delays []time.Duration
			refused := 0
			for range 10 {
				v := r.Take(client)
				if v.OK {
					delays = append(delays, v.Delay)
					continue
				}
				refused++
				if v.RetryAfter <= 0 {
					t.Errorf("refused with Retry-After %v", v.RetryAfter)
				}
			}
			if len(delays) != len(tt.delays) || refused != 10-len(tt.delays) {
				t.Fatalf("let through %d (%v), refused %d; want %d", len(delays), delays, refused, len(tt.delays))
			}
			for i := range delays {
				if delays[i] != tt.delays[i] {
					t.Errorf("delay %d = %v, want %v", i, delays[i], tt.delays[i])
				}
			}
			// Another address has its own bucket.
			if v := r.Take(netip.MustParseAddr("198.51.100.1")); !v.OK || v.Delay != 0 {
				t.Errorf("another address: %+v", v)
			}
		})
	}
}

// TestRequestsDrain checks that the bucket drains at the rate and that
// Retry-After says when one more fits.
func TestRequestsDrain(t *testing.T) {
	c := &clock{now: time.Unix(1e9, 0)}
	r := NewRequests(RequestsConfig{Rate: PerSecond(2), Burst: 1, NoDelay: true, Now: c.Now})
	for i, want := range []bool{true, true, false} {
		if v := r.Take(client); v.OK != want {
			t.Fatalf("request %d: %+v, want ok %v", i, v, want)
		}
	}
	v := r.Take(client)
	if v.OK || v.RetryAfter != 500*time.Millisecond {
		t.Fatalf("refused with %+v, want Retry-After 500ms", v)
	}
	c.add(499 * time.Millisecond)
	if v := r.Take(client); v.OK {
		t.Fatal("let through before Retry-After passed")
	}
	c.add(time.Millisecond)
	if v := r.Take(client); !v.OK {
		t.Fatalf("refused once Retry-After passed: %+v", v)
	}
	if v := r.Take(client); v.OK {
		t.Fatal("a second one let through: only one had drained")
	}
	c.add(time.Hour)
	for i := range 2 {
		if v := r.Take(client); !v.OK {
			t.Fatalf("after an hour, request %d refused", i)
		}
	}
}

// TestRequestsBounded feeds 50,000 addresses to a table of 1,000 and
// checks that it holds at most its size, and that an address it forgot
// starts afresh.
func TestRequestsBounded(t *testing.T) {
	c := &clock{now: time.Unix(1e9, 0)}
	r := NewRequests(RequestsConfig{Rate: PerMinute(1), Burst: 0, NoDelay: true, Size: 1000, Now: c.Now})
	r.Take(client)
	if v := r.Take(client); v.OK {
		t.Fatal("second request let through")
	}
	for i := range 50000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.Take(a)
	}
	if n := r.Len(); n > 1024 { // 64 shards of ceil(1000/64)
		t.Fatalf("table holds %d addresses, want at most 1024", n)
	}
	if v := r.Take(client); !v.OK {
		t.Fatal("a forgotten address is still limited")
	}
}

func TestConns(t *testing.T) {
	cs := NewConns(2, 64)
	if !cs.Acquire(client) || !cs.Acquire(client) {
		t.Fatal("first two refused")
	}
	if cs.Acquire(client) {
		t.Fatal("third admitted")
	}
	other := netip.MustParseAddr("198.51.100.1")
	if !cs.Acquire(other) {
		t.Fatal("another address refused")
	}
	cs.Release(client)
	if cs.InUse(client) != 1 || !cs.Acquire(client) {
		t.Fatal("a released slot is not free")
	}
	cs.Release(client)
	cs.Release(client)
	cs.Release(other)
	if n := cs.Len(); n != 0 {
		t.Fatalf("%d addresses remembered with nothing in progress", n)
	}
	// A full table refuses new addresses until one leaves.
	held := 0
	for i := range 1000 {
		if cs.Acquire(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})) {
			held++
		}
	}
	if held > 64 || cs.Len() != held {
		t.Fatalf("held %d addresses (table says %d), want at most 64", held, cs.Len())
	}
}
