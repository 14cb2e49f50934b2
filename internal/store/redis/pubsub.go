package redis

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// pubsub keeps this node subscribed, once per channel, to the pubsub
// channels of the channels it follows. On one server every channel goes
// over one connection (SUBSCRIBE). On a cluster it keeps one connection
// per master and SSUBSCRIBEs each channel on the master that owns its
// slot, one command per slot (a sharded subscribe may not mix slots), and
// follows slot moves and failovers: when a node drops a channel, refuses a
// subscription, stops answering or goes away, the channels it had are
// moved to their slots' owners as the slot map now says.
//
// Every (re)subscription is confirmed by the node; the confirmation makes
// the channel's mirror read what it missed from the stream by id, so a
// reconnect, a failover or a slot move loses nothing. A channel that stays
// unconfirmed past FollowTimeout cannot be followed: its mirror fails, and
// its subscribers are told (their store reads fail with ErrUnavailable)
// so they can resume elsewhere instead of waiting on a silent stream.
type pubsub struct {
	s       *Store
	sharded bool

	mu         sync.Mutex
	want       map[string]*psState // pubsub channel -> state
	conns      map[string]*subConn // node address -> connection
	retryAt    map[string]time.Time
	slots      []string // cluster: slot -> master address
	slotsStale bool
	closed     bool
	lost       int            // channels that were followed and are not now
	restored   int            // of those, confirmed again since the last report
	lostAt     time.Time      // when the oldest of them was lost
	newlyLost  map[string]int // channels lost since the last report, by node address

	losses   atomic.Uint64 // reports of channels lost on a node
	restores atomic.Uint64 // times every lost channel was followed again

	kick    chan struct{}
	done    chan struct{}
	runDone chan struct{}
}

type psState struct {
	owner     follower
	conn      *subConn // where it is subscribed or on its way; nil: nowhere
	confirmed bool
	sent      bool      // the subscribe went out on conn
	sentAt    time.Time // when
	since     time.Time // unconfirmed since; zero while confirmed
	lost      bool      // counted in pubsub.lost
}

const (
	confirmWithin = 3 * time.Second
	reconcileTick = 250 * time.Millisecond
	slotsEvery    = 5 * time.Second
	// maxPerCommand bounds the channels of one (S)SUBSCRIBE.
	maxPerCommand = 256
)

func newPubsub(s *Store) *pubsub {
	p := &pubsub{
		s:         s,
		sharded:   s.o.Cluster,
		want:      map[string]*psState{},
		conns:     map[string]*subConn{},
		retryAt:   map[string]time.Time{},
		newlyLost: map[string]int{},
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		runDone:   make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *pubsub) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// add follows a channel for its mirror.
func (p *pubsub) add(ch string, owner follower) {
	p.mu.Lock()
	if old := p.want[ch]; old != nil {
		p.forgetLocked(old)
	}
	p.want[ch] = &psState{owner: owner, since: time.Now()}
	p.mu.Unlock()
	p.wake()
}

// remove stops following a channel, if owner still owns it.
func (p *pubsub) remove(ch string, owner follower) {
	p.mu.Lock()
	if st := p.want[ch]; st != nil && st.owner == owner {
		p.forgetLocked(st)
		delete(p.want, ch)
		p.wake()
	}
	p.mu.Unlock()
}

// forgetLocked takes a channel state out of the loss count. p.mu held.
func (p *pubsub) forgetLocked(st *psState) {
	if st.lost {
		st.lost = false
		p.lost--
	}
}

// confirmed reports whether the channel is subscribed now.
func (p *pubsub) confirmed(ch string, owner follower) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.want[ch]
	return st != nil && st.owner == owner && st.confirmed
}

func (p *pubsub) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.done)
	<-p.runDone
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*subConn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (p *pubsub) run() {
	defer close(p.runDone)
	t := time.NewTicker(reconcileTick)
	defer t.Stop()
	var lastSlots time.Time
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
		case <-t.C:
		}
		if p.sharded {
			p.mu.Lock()
			stale := p.slotsStale || p.slots == nil
			p.mu.Unlock()
			if stale || time.Since(lastSlots) > slotsEvery {
				if slots, err := p.fetchSlots(); err == nil {
					p.mu.Lock()
					changed := p.slots != nil && !slices.Equal(p.slots, slots)
					p.slots, p.slotsStale = slots, false
					p.mu.Unlock()
					if changed {
						p.s.reloadSlots()
					}
					lastSlots = time.Now()
				} else {
					p.s.log.Debug("redis cluster slots", "err", err)
				}
			}
		}
		p.reconcile()
		p.report()
		p.failStale()
	}
}

// fetchSlots reads the cluster's slot map: slot -> master address.
func (p *pubsub) fetchSlots() ([]string, error) {
	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.o.OpTimeout)
	defer cancel()
	ranges, err := p.s.rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	slots := make([]string, 16384)
	for _, r := range ranges {
		if len(r.Nodes) == 0 {
			continue
		}
		for i := r.Start; i <= r.End && i < len(slots); i++ {
			slots[i] = r.Nodes[0].Addr
		}
	}
	return slots, nil
}

// target is the address a channel is subscribed at; "" when unknown.
func (p *pubsub) target(ch string) string {
	if !p.sharded {
		return p.s.masterAddr()
	}
	if p.slots == nil {
		return ""
	}
	return p.slots[keySlot(ch)]
}

// batch is the channels of one command: one connection, one slot.
type batch struct {
	c    *subConn
	slot int
}

// reconcile subscribes wanted channels where they belong and unsubscribes
// the rest, one command per connection and slot.
func (p *pubsub) reconcile() {
	now := time.Now()
	subs := map[batch][]string{}
	unsubs := map[batch][]string{}
	var closing, starting []*subConn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	for ch, st := range p.want {
		addr := p.target(ch)
		if addr == "" {
			continue
		}
		if c := st.conn; c != nil && c.addr == addr && !c.dead {
			switch {
			case st.confirmed, !c.ready:
				continue
			case st.sent && now.Sub(st.sentAt) < confirmWithin:
				continue
			case st.sent:
				// Unconfirmed for long: ask again, and re-read the slots.
				p.slotsStale = p.sharded
			}
		} else if c != nil {
			if c.addr != addr && c.ready && !c.dead {
				unsubs[batch{c, keySlot(ch)}] = append(unsubs[batch{c, keySlot(ch)}], ch)
			}
			delete(c.chans, ch)
			st.conn, st.confirmed, st.sent = nil, false, false
		}
		c := p.conns[addr]
		if c == nil {
			if now.Before(p.retryAt[addr]) {
				continue
			}
			c = newSubConn(p, addr)
			p.conns[addr] = c
			starting = append(starting, c)
		}
		c.chans[ch] = true
		st.conn, st.confirmed = c, false
		if st.since.IsZero() {
			st.since = now
		}
		if !c.ready {
			st.sent = false
			continue
		}
		st.sent, st.sentAt = true, now
		subs[batch{c, keySlot(ch)}] = append(subs[batch{c, keySlot(ch)}], ch)
	}
	for addr, c := range p.conns {
		for ch := range c.chans {
			if st := p.want[ch]; st == nil || st.conn != c {
				if c.ready && !c.dead {
					unsubs[batch{c, keySlot(ch)}] = append(unsubs[batch{c, keySlot(ch)}], ch)
				}
				delete(c.chans, ch)
			}
		}
		if len(c.chans) == 0 && c.ready {
			delete(p.conns, addr)
			closing = append(closing, c)
		}
	}
	p.mu.Unlock()

	for _, c := range starting {
		c.start()
	}
	for b, chs := range unsubs {
		if !slices.Contains(closing, b.c) {
			p.sendAll(b.c, true, chs)
		}
	}
	for b, chs := range subs {
		p.sendAll(b.c, false, chs)
	}
	for _, c := range closing {
		go c.close()
	}
}

// sendAll sends chans (of one slot) in commands of at most maxPerCommand
// channels; a connection that fails to take one is lost.
func (p *pubsub) sendAll(c *subConn, unsubscribe bool, chans []string) {
	sort.Strings(chans)
	for len(chans) > 0 {
		n := min(len(chans), maxPerCommand)
		if err := c.send(unsubscribe, chans[:n]); err != nil {
			p.connLost(c, err)
			return
		}
		chans = chans[n:]
	}
}

// connReady is called when a connection has been dialled and authenticated.
func (p *pubsub) connReady(c *subConn) {
	p.mu.Lock()
	c.ready = true
	delete(p.retryAt, c.addr)
	p.mu.Unlock()
	p.wake()
}

// connFailed is called when a connection could not be made: its channels
// wait for the next attempt, a little later.
func (p *pubsub) connFailed(c *subConn, err error) {
	p.mu.Lock()
	if p.conns[c.addr] == c {
		delete(p.conns, c.addr)
	}
	c.dead = true
	p.retryAt[c.addr] = time.Now().Add(min(p.s.o.DialTimeout/2, 500*time.Millisecond))
	n := p.unassignLocked(c)
	if p.sharded {
		p.slotsStale = true
	}
	p.mu.Unlock()
	p.s.log.Debug("redis pubsub connection failed", "addr", c.addr, "channels", n, "err", err)
	c.closeAsync()
	p.wake()
}

// connLost is called when a working connection failed: every channel it had
// is unconfirmed until it is subscribed again (where the slot map now says).
func (p *pubsub) connLost(c *subConn, err error) {
	p.mu.Lock()
	if c.dead {
		p.mu.Unlock()
		return
	}
	c.dead = true
	if p.conns[c.addr] == c {
		delete(p.conns, c.addr)
	}
	n := p.unassignLocked(c)
	if p.sharded {
		p.slotsStale = true
	}
	closed := p.closed
	p.mu.Unlock()
	c.closeAsync()
	if closed {
		return
	}
	p.s.log.Debug("redis pubsub connection lost", "addr", c.addr, "channels", n, "err", err)
	p.wake()
}

// unassignLocked marks every channel of a failed connection unconfirmed and
// counts them as lost; it returns how many there were. p.mu held.
func (p *pubsub) unassignLocked(c *subConn) int {
	n := 0
	for ch := range c.chans {
		st := p.want[ch]
		if st == nil || st.conn != c {
			continue
		}
		n++
		p.loseLocked(st, c.addr)
	}
	clear(c.chans)
	return n
}

// loseLocked marks a channel unsubscribed; one that was confirmed counts
// as lost (from the node at addr) until it is confirmed again. p.mu held.
func (p *pubsub) loseLocked(st *psState, addr string) {
	now := time.Now()
	if st.confirmed && !st.lost {
		st.lost = true
		if p.lost == 0 {
			p.lostAt = now
		}
		p.lost++
		p.newlyLost[addr]++
	}
	st.conn, st.confirmed, st.sent = nil, false, false
	if st.since.IsZero() {
		st.since = now
	}
}

// subscribeFailed is called when a node refused a subscription (MOVED after
// a slot moved, or another error): the channels are subscribed again once
// the slot map has been read again.
func (p *pubsub) subscribeFailed(c *subConn, chans []string, reply string) {
	p.mu.Lock()
	for _, ch := range chans {
		if st := p.want[ch]; st != nil && st.conn == c {
			st.sent, st.confirmed = false, false
			st.sentAt = time.Now()
			delete(c.chans, ch)
			st.conn = nil
		}
	}
	p.slotsStale = p.sharded
	p.mu.Unlock()
	p.s.log.Debug("redis refused a subscription", "addr", c.addr, "channels", len(chans), "reply", reply)
	p.wake()
}

// confirm handles a subscription's confirmation: the channel's mirror
// reads what it missed.
func (p *pubsub) confirm(c *subConn, ch string) {
	p.mu.Lock()
	st := p.want[ch]
	ok := st != nil && st.conn == c
	var owner follower
	if ok {
		st.confirmed = true
		st.since = time.Time{}
		if st.lost {
			st.lost = false
			p.lost--
			p.restored++
		}
		owner = st.owner
	}
	p.mu.Unlock()
	if ok {
		owner.resync()
	}
}

// dropped handles an unsubscription the node made on its own: the
// channel's slot moved (a migration, or the node is a replica now).
func (p *pubsub) dropped(c *subConn, ch string) {
	p.mu.Lock()
	st := p.want[ch]
	if st != nil && st.conn == c {
		delete(c.chans, ch)
		p.loseLocked(st, c.addr)
		p.slotsStale = p.sharded
		p.mu.Unlock()
		p.wake()
		return
	}
	p.mu.Unlock()
}

// report logs at warn level the channels lost since the last report (by
// node), and, once every lost channel is followed again, how many there
// were and how long it took.
func (p *pubsub) report() {
	p.mu.Lock()
	newly := p.newlyLost
	if len(newly) > 0 {
		p.newlyLost = map[string]int{}
	}
	n, lost, since := p.restored, p.lost, p.lostAt
	done := n > 0 && lost == 0
	if done {
		p.restored = 0
	}
	p.mu.Unlock()
	for addr, k := range newly {
		p.losses.Add(1)
		p.s.log.Warn("redis: lost the subscriptions of channels on a node; following them again where the cluster now serves them",
			"addr", addr, "channels", k, "channels_lost", lost)
	}
	if done {
		p.restores.Add(1)
		p.s.log.Warn("redis: every lost channel is followed again and caught up from the stream", "channels", n,
			"after", time.Since(since).Round(time.Millisecond))
	}
}

// failStale gives up on channels that could not be followed for
// FollowTimeout: their mirrors fail, which tells their subscribers.
func (p *pubsub) failStale() {
	now := time.Now()
	var stale []follower
	p.mu.Lock()
	for ch, st := range p.want {
		if st.confirmed || st.since.IsZero() || now.Sub(st.since) < p.s.o.FollowTimeout {
			continue
		}
		p.forgetLocked(st)
		delete(p.want, ch)
		if st.conn != nil {
			delete(st.conn.chans, ch)
		}
		stale = append(stale, st.owner)
	}
	p.mu.Unlock()
	if len(stale) == 0 {
		return
	}
	p.s.log.Warn("redis: channels could not be followed in time; their subscribers are told to come back later",
		"channels", len(stale), "follow_timeout", p.s.o.FollowTimeout)
	for _, f := range stale {
		f.fail()
	}
}

// health is what the pubsub side reports for the status page.
type psHealth struct {
	connected int    // connections ready
	lost      int    // channels lost with a connection, not followed again yet
	unfollow  int    // channels not confirmed now
	losses    uint64 // connections lost so far
	restores  uint64 // recoveries of every lost channel so far
}

func (p *pubsub) health() psHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := psHealth{lost: p.lost, losses: p.losses.Load(), restores: p.restores.Load()}
	for _, c := range p.conns {
		if c.ready && !c.dead {
			h.connected++
		}
	}
	for _, st := range p.want {
		if !st.confirmed {
			h.unfollow++
		}
	}
	return h
}

// onNotice dispatches a pubsub payload to its channel's mirror (or to
// the engine of another storage mode).
func (s *Store) onNotice(ch, payload string) {
	if s.o.notices != nil {
		s.o.notices(ch, payload)
		return
	}
	key, ok := s.channelOf(ch)
	if !ok {
		return
	}
	mr := s.lookup(key)
	if mr == nil {
		return
	}
	n, err := decodeNotice(payload)
	if err != nil {
		s.log.Warn("redis: bad pubsub notice", "channel", key, "err", err)
		s.requestSync(mr)
		return
	}
	mr.handle(n)
}
