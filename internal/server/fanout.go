package server

import (
	"runtime"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Fan-out writers.
//
// A streaming subscriber of one channel on a plain TCP connection does not
// get a goroutine of its own. It joins a fan-out writer: one goroutine that
// serves subscribers of the same channel and location (a channel with many
// subscribers has up to one writer per core). When the channel changes, the
// writer walks its members and, for each, reads every message after the
// member's cursor and writes them with one non-blocking writev. A publish
// therefore wakes one goroutine per writer instead of one per subscriber,
// and messages published while the writer is still walking reach the later
// members in the same write as the earlier ones.
//
// A member whose connection does not take a whole write at once (a slow
// reader with a full socket buffer) leaves the writer: a goroutine of its own
// finishes the write under send_timeout and serves it from then on, exactly
// as subscribers that cannot join a writer (multiplexed, TLS, HTTP/2, with a
// subscriber timeout) are served. Whatever ends a member off the fast path
// (the channel deleted, the server shutting down, the subscriber too slow)
// is written by such a goroutine too, so the writer never blocks.
//
// The writer waits on the wait channel the store returned to the first
// member that was caught up in its last walk. Stores close a channel's wait
// channels in the order they hand them out (see store.Subscription.Read),
// so that one closes no later than any other member's.

// writerSplit is how many members a channel's fan-out writer has before the
// channel gets another writer. A channel has at most GOMAXPROCS writers: more would
// only queue behind each other, and the fewer runnable goroutines there are,
// the sooner a publish is served (and the more it coalesces with the next).
const writerSplit = 256

// directOutput is an output that a fan-out writer can write to without
// blocking.
type directOutput interface {
	output
	// direct reports whether tryWrite works on this output.
	direct() bool
	// tryWrite writes bufs if the connection takes them now. If it takes
	// only part, it keeps the rest to go out before any later write and
	// returns false; an error means the connection is broken.
	tryWrite(sc *writeScratch, bufs [][]byte) (bool, error)
	// onGone arranges for f to run once the client goes away (at once if it
	// already has); nil cancels it.
	onGone(f func())
}

// fanKey names the subscribers one fan-out writer may serve together: the
// same channel of the same route (so the same store and formats), with the
// same ping interval.
type fanKey struct {
	rt      *route.Route
	channel store.ChannelKey
	ping    time.Duration
}

// fanWriters is a server's registry of fan-out writers.
type fanWriters struct {
	mu   sync.Mutex
	byCh map[fanKey][]*fanWriter
}

// fanWriter is one writer goroutine and its members.
type fanWriter struct {
	s   *Server
	key fanKey
	n   int // members, joined or joining; under s.writers.mu

	mu      sync.Mutex
	joining []*streamer
	leaving []*streamer
	kick    chan struct{} // capacity 1: joining or leaving has entries

	members []*streamer // the writer's own
	sent    int         // messages written since the last report
	bytes   int         // their bytes
	last    msgid.ID    // the newest of them
}

// reportSent reports the messages written in one walk of the members as
// one delivery count.
func (g *fanWriter) reportSent() {
	if g.sent > 0 {
		g.s.deliveredN(&g.key, g.sent, g.bytes, g.last)
		g.sent, g.bytes = 0, 0
	}
}

// startStream serves st: by a fan-out writer when it can be, on a goroutine
// of its own otherwise.
func (s *Server) startStream(st *streamer) {
	d, ok := st.out.(directOutput)
	if !ok || !d.direct() || !st.shareable() {
		go st.run()
		return
	}
	key := fanKey{rt: st.ss.rt, channel: st.ss.key, ping: st.ping}
	s.writers.mu.Lock()
	if s.writers.byCh == nil {
		s.writers.byCh = make(map[fanKey][]*fanWriter)
	}
	list := s.writers.byCh[key]
	var g *fanWriter
	for _, c := range list {
		if g == nil || c.n < g.n {
			g = c
		}
	}
	if g == nil || (g.n >= writerSplit && len(list) < runtime.GOMAXPROCS(0)) {
		g = &fanWriter{s: s, key: key, kick: make(chan struct{}, 1)}
		s.writers.byCh[key] = append(list, g)
		go g.run()
	}
	g.n++
	s.writers.mu.Unlock()

	st.fw, st.slot, st.direct = g, -1, d
	d.onGone(func() { g.left(st) })
	g.mu.Lock()
	g.joining = append(g.joining, st)
	g.mu.Unlock()
	g.wake()
}

// shareable reports whether a fan-out writer can serve the subscriber.
func (st *streamer) shareable() bool {
	return st.ss.single && st.ss.rt.Subscriber.Timeout <= 0
}

func (g *fanWriter) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// left records that a member's client went away.
func (g *fanWriter) left(st *streamer) {
	g.mu.Lock()
	g.leaving = append(g.leaving, st)
	g.mu.Unlock()
	g.wake()
}

// release drops k members from the writer's count; it reports whether the
// writer is now empty and gone from the registry, so it must stop.
func (g *fanWriter) release(k int) bool {
	if k == 0 {
		return false
	}
	r := &g.s.writers
	r.mu.Lock()
	defer r.mu.Unlock()
	g.n -= k
	if g.n > 0 {
		return false
	}
	g.unlist()
	return true
}

// retire takes the writer out of the registry, so nothing joins it any
// more, and returns how many members it has, joined or on their way.
func (g *fanWriter) retire() int {
	r := &g.s.writers
	r.mu.Lock()
	defer r.mu.Unlock()
	g.unlist()
	return g.n
}

// unlist removes the writer from the registry; under s.writers.mu.
func (g *fanWriter) unlist() {
	r := &g.s.writers
	list := r.byCh[g.key]
	for i, c := range list {
		if c == g {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.byCh, g.key)
	} else {
		r.byCh[g.key] = list
	}
}

// run is the writer's goroutine.
func (g *fanWriter) run() {
	var wait <-chan struct{} // closed when some member may have news
	var pingC <-chan time.Time
	if g.key.ping > 0 {
		t := time.NewTicker(g.key.ping)
		defer t.Stop()
		pingC = t.C
	}
	for {
		select {
		case <-wait:
			sc := g.s.scratch()
			var removed int
			wait, removed = g.pumpFrom(sc, 0, nil)
			g.s.scratchPool.Put(sc)
			g.reportSent()
			if g.release(removed) {
				return
			}
		case <-g.kick:
			var stop bool
			wait, stop = g.admit(wait)
			if stop {
				return
			}
		case <-pingC:
			sc := g.s.scratch()
			_, removed := g.each(0, nil, func(st *streamer) (<-chan struct{}, bool) {
				return nil, g.ping(sc, st)
			})
			g.s.scratchPool.Put(sc)
			if g.release(removed) {
				return
			}
		case <-g.s.quit:
			if g.s.handover.spread.Load() > 0 {
				g.handOff()
			} else {
				g.shutdown()
			}
			return
		}
	}
}

// shutdown ends every member with 503, as a server shutting down answers
// its streaming subscribers, including those still on their way in.
func (g *fanWriter) shutdown() {
	g.letGo(func(st *streamer) { go st.endWith(nil, endShutDown) })
}

// handOff gives every member, including those still on their way in, a
// goroutine of its own, as in a handover: each ends at its own moment (see
// Server.Handover) and goes on receiving until then.
func (g *fanWriter) handOff() {
	g.letGo(func(st *streamer) {
		st.fw = nil
		go st.run()
	})
}

// letGo takes the writer out of the registry and hands every member, and
// every member still on its way in, to f, off the writer.
func (g *fanWriter) letGo(f func(*streamer)) {
	n := g.retire()
	for done := 0; ; {
		g.mu.Lock()
		joining := g.joining
		g.joining, g.leaving = nil, nil
		g.mu.Unlock()
		for _, st := range append(g.members, joining...) {
			st.slot = -1
			st.direct.onGone(nil)
			f(st)
			done++
		}
		g.members = g.members[:0]
		if done >= n {
			return
		}
		<-g.kick
	}
}

// admit takes in joining members (writing what they have pending) and
// removes members whose clients left. It returns the wait channel to use
// next and whether the writer is done.
func (g *fanWriter) admit(wait <-chan struct{}) (<-chan struct{}, bool) {
	g.mu.Lock()
	joining, leaving := g.joining, g.leaving
	g.joining, g.leaving = nil, nil
	g.mu.Unlock()
	from := len(g.members)
	for _, st := range joining {
		st.slot = len(g.members)
		g.members = append(g.members, st)
	}
	sc := g.s.scratch()
	// An older wait, if there is one, closes no later than the newcomers'.
	wait, removed := g.pumpFrom(sc, from, wait)
	g.s.scratchPool.Put(sc)
	g.reportSent()
	for _, st := range leaving {
		if st.fw != g || st.slot < 0 {
			continue // already handed off or ended
		}
		g.drop(st)
		st.ss.end(endClientGone)
		removed++
	}
	if len(g.members) == 0 {
		wait = nil
	}
	return wait, g.release(removed)
}

// pumpFrom pumps members[from:], dropping those that leave the writer. It
// returns wait, or if that is nil the wait channel of the first member that
// was caught up, and how many members left.
func (g *fanWriter) pumpFrom(sc *writeScratch, from int, wait <-chan struct{}) (<-chan struct{}, int) {
	return g.each(from, wait, func(st *streamer) (<-chan struct{}, bool) { return g.pump(sc, st) })
}

// each calls f for members[from:] in turn, dropping those for which it
// reports that they left the writer. It returns wait, or if that is nil the
// first wait channel f returned, and how many members left.
func (g *fanWriter) each(from int, wait <-chan struct{}, f func(*streamer) (<-chan struct{}, bool)) (<-chan struct{}, int) {
	removed := 0
	for i := from; i < len(g.members); {
		st := g.members[i]
		w, stay := f(st)
		if !stay {
			g.drop(st) // moves the last member into slot i
			removed++
			continue
		}
		if wait == nil {
			wait = w
		}
		i++
	}
	return wait, removed
}

// drop removes a member from the writer's list.
func (g *fanWriter) drop(st *streamer) {
	i := st.slot
	last := len(g.members) - 1
	if i < 0 || i > last || g.members[i] != st {
		return
	}
	g.members[i] = g.members[last]
	g.members[i].slot = i
	g.members[last] = nil
	g.members = g.members[:last]
	st.slot = -1
	st.direct.onGone(nil)
}

// pump writes every message after the member's cursor without blocking.
// It returns the channel to wait on once the member is caught up, or
// stay = false when the member has left the writer: ended, or handed to a
// goroutine of its own.
func (g *fanWriter) pump(sc *writeScratch, st *streamer) (wait <-chan struct{}, stay bool) {
	select {
	case <-st.out.gone():
		st.ss.end(endClientGone)
		return nil, false
	default:
	}
	for {
		bufs, n, waits, end := st.collect(sc.bufs[:0])
		if end != nil {
			go st.endWith(copyBufs(bufs, 0), *end)
			clear(bufs)
			return nil, false
		}
		if n > 0 {
			nb := bufsLen(bufs)
			ok := g.write(sc, st, bufs)
			clear(bufs)
			if !ok {
				return nil, false
			}
			g.sent += n
			if st.ss.ev != nil {
				st.ss.receivedN(n)
			}
			g.bytes += nb
			g.last = st.ss.cursors[0]
			if st.ss.alog != nil {
				st.ss.alog.sent(n, nb)
			}
		}
		if len(waits) > 0 {
			return waits[0], true
		}
	}
}

// ping writes a keep-alive to a member; false when it left the writer.
func (g *fanWriter) ping(sc *writeScratch, st *streamer) bool {
	p := st.f.ping()
	if p == nil {
		return true
	}
	bufs := append(sc.bufs[:0], p)
	ok := g.write(sc, st, bufs)
	clear(bufs)
	return ok
}

// write writes bufs to a member without blocking. If the connection takes
// only part, the member is handed to a goroutine of its own that writes the
// rest and serves it from then on; false means the member left the writer.
func (g *fanWriter) write(sc *writeScratch, st *streamer, bufs [][]byte) bool {
	done, err := st.direct.tryWrite(sc, bufs)
	if err != nil {
		st.ss.end(endClientGone)
		return false
	}
	if !done {
		go st.detach()
		return false
	}
	return true
}

// scratch returns a writer's scratch space, from a pool: writers with one
// member are common (one subscriber per channel), and each need not keep
// its own.
func (s *Server) scratch() *writeScratch {
	if sc, ok := s.scratchPool.Get().(*writeScratch); ok {
		return sc
	}
	sc := new(writeScratch)
	sc.init()
	return sc
}

// copyBufs returns a copy of bufs without its first skip bytes.
func copyBufs(bufs [][]byte, skip int) [][]byte {
	var out [][]byte
	for _, b := range bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		out = append(out, b[skip:])
		skip = 0
	}
	return out
}
