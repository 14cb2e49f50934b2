// Package limit keeps per-client limits with nginx's semantics: Requests is
// limit_req (a leaky bucket per client address with a burst, requests in
// the burst delayed to the rate or, with nodelay, served at once) and Conns
// is limit_conn (requests in progress per client address).
//
// State is bounded however many addresses are seen: each table holds at
// most its size, in 64 shards each with its own lock. Requests forgets the
// least recently seen address of a full shard (its bucket would have
// drained soonest); Conns counts only addresses with requests in progress
// and refuses a new address when full, as nginx refuses when its zone is
// full.
package limit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

const shards = 64

// Rate is a request rate in milli-requests per second (nginx's unit): 10r/s
// is 10000, 30r/m is 500.
type Rate int64

// PerSecond returns the rate of n requests a second.
func PerSecond(n int64) Rate { return Rate(n * 1000) }

// PerMinute returns the rate of n requests a minute.
func PerMinute(n int64) Rate { return Rate(n * 1000 / 60) }

// RequestsConfig configures a Requests table.
type RequestsConfig struct {
	// Rate is the sustained rate each client may send at; more than 0.
	Rate Rate
	// Burst is how many requests above the rate a client may have
	// outstanding before it is refused.
	Burst int64
	// NoDelay serves the requests of a burst at once instead of spacing
	// them at the rate.
	NoDelay bool
	// Size caps the addresses remembered; 0 is 100000.
	Size int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Requests limits each client's request rate.
type Requests struct {
	rate     int64 // milli-requests per second
	burst    int64 // in milli-requests
	noDelay  bool
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [shards]reqShard
}

// reqShard is a part of the table: a map and a list of its buckets, most
// recently seen first (the list runs through the buckets themselves).
type reqShard struct {
	mu   sync.Mutex
	m    map[netip.Addr]*bucket
	head bucket // sentinel: head.next is the most recent, head.prev the least
	n    int
}

type bucket struct {
	key        netip.Addr
	excess     int64 // milli-requests above the rate
	last       int64 // unix microseconds of the last request let through
	prev, next *bucket
}

func (sh *reqShard) init() {
	sh.m = make(map[netip.Addr]*bucket)
	sh.head.prev, sh.head.next = &sh.head, &sh.head
}

func (sh *reqShard) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
}

func (sh *reqShard) pushFront(b *bucket) {
	b.prev, b.next = &sh.head, sh.head.next
	sh.head.next.prev = b
	sh.head.next = b
}

// NewRequests returns a rate table.
func NewRequests(c RequestsConfig) *Requests {
	if c.Size <= 0 {
		c.Size = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	r := &Requests{rate: max(int64(c.Rate), 1), burst: c.Burst * 1000, noDelay: c.NoDelay,
		perShard: max((c.Size+shards-1)/shards, 1), now: c.Now, seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].init()
	}
	return r
}

// Verdict is what a table says of a request.
type Verdict struct {
	// OK lets the request through, after Delay.
	OK    bool
	Delay time.Duration
	// RetryAfter, for a refused request, is how long until one more
	// would be let through.
	RetryAfter time.Duration
}

// maxElapsed caps the time between two requests that the rate is applied
// to, so the product stays in range; long before it every bucket is empty.
const maxElapsed = int64(1e10) // microseconds

// Take counts a request from key and says whether it may go on.
func (r *Requests) Take(key netip.Addr) Verdict {
	now := r.now().UnixMicro()
	sh := &r.shards[maphash.Comparable(r.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.m[key]
	if !ok {
		// A new address starts with an empty bucket: its request goes on.
		// A full shard forgets its least recently seen address, whose
		// bucket is reused.
		if sh.n >= r.perShard {
			b = sh.head.prev
			sh.unlink(b)
			delete(sh.m, b.key)
			*b = bucket{key: key, last: now}
		} else {
			b = &bucket{key: key, last: now}
			sh.n++
		}
		sh.m[key] = b
		sh.pushFront(b)
		return Verdict{OK: true}
	}
	sh.unlink(b)
	sh.pushFront(b)
	elapsed := min(max(now-b.last, 0), maxElapsed)
	excess := max(b.excess-r.rate*elapsed/1e6+1000, 0)
	if excess > r.burst {
		// Refused: the bucket stays as it was, as nginx leaves it. One
		// more fits once it has drained to the burst.
		wait := (excess - r.burst) * 1e6 / r.rate
		return Verdict{RetryAfter: time.Duration(max(wait, 1)) * time.Microsecond}
	}
	b.excess = excess
	if elapsed > 0 {
		b.last = now
	}
	v := Verdict{OK: true}
	if !r.noDelay && excess > 0 {
		v.Delay = time.Duration(excess*1e6/r.rate) * time.Microsecond
	}
	return v
}

// Len returns how many addresses the table remembers.
func (r *Requests) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// Conns limits each client's requests in progress.
type Conns struct {
	max      int32
	perShard int
	seed     maphash.Seed
	shards   [shards]connShard
}

type connShard struct {
	mu sync.Mutex
	m  map[netip.Addr]int32
}

// NewConns returns a table letting each address have at most max requests
// in progress, remembering at most size addresses (0 is 100000).
func NewConns(max, size int) *Conns {
	if size <= 0 {
		size = 100000
	}
	c := &Conns{max: int32(max), perShard: (size + shards - 1) / shards, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[netip.Addr]int32)
	}
	return c
}

// Acquire takes a slot for key; false when key has max in progress (or
// the table is full). A true Acquire is matched by one Release.
func (c *Conns) Acquire(key netip.Addr) bool {
	sh := &c.shards[maphash.Comparable(c.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.m[key]
	if !ok && len(sh.m) >= c.perShard {
		return false
	}
	if n >= c.max {
		return false
	}
	sh.m[key] = n + 1
	return true
}

// Release gives back a slot Acquire took.
func (c *Conns) Release(key netip.Addr) {
	sh := &c.shards[maphash.Comparable(c.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.m[key]; n > 1 {
		sh.m[key] = n - 1
	} else {
		delete(sh.m, key)
	}
}

// Len returns how many addresses have requests in progress.
func (c *Conns) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// InUse returns how many requests key has in progress.
func (c *Conns) InUse(key netip.Addr) int {
	sh := &c.shards[maphash.Comparable(c.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return int(sh.m[key])
}
