package redis

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// pubsub keeps this node subscribed, once per channel, to the pubsub
// channels of the channels it follows. On one server all go over one
// connection (SUBSCRIBE). On a cluster it keeps one connection per master
// and SSUBSCRIBEs each channel on the master that owns its slot, following
// slot moves and failovers: when the server drops a channel, a connection
// fails or a subscription goes unconfirmed, it re-reads the slot map and
// moves the channels to their owners.
//
// Every (re)subscription is confirmed by the server; the confirmation makes
// the channel's mirror read what it missed from the stream, so a reconnect
// or a move loses nothing.
type pubsub struct {
	s       *Store
	sharded bool

	mu         sync.Mutex
	want       map[string]*psState // pubsub channel -> state
	conns      map[string]*psConn  // node address -> connection
	slots      []string            // cluster: slot -> master address
	slotsStale bool
	closed     bool

	kick    chan struct{}
	done    chan struct{}
	runDone chan struct{}
}

type psState struct {
	owner     *mirror
	conn      *psConn // where it is subscribed; nil: not yet
	confirmed bool
	sentAt    time.Time
}

// psConn is one subscriber connection to one node.
type psConn struct {
	addr   string
	client *goredis.Client
	mu     sync.Mutex // guards ps
	ps     *goredis.PubSub
	chans  map[string]bool // under pubsub.mu: subscribed here
	stop   chan struct{}
	wg     sync.WaitGroup
}

const (
	pingEvery     = time.Second
	confirmWithin = 3 * time.Second
	reconcileTick = 500 * time.Millisecond
	slotsEvery    = 5 * time.Second
)

func newPubsub(s *Store) *pubsub {
	p := &pubsub{
		s:       s,
		sharded: s.o.Cluster,
		want:    map[string]*psState{},
		conns:   map[string]*psConn{},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		runDone: make(chan struct{}),
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
func (p *pubsub) add(ch string, owner *mirror) {
	p.mu.Lock()
	p.want[ch] = &psState{owner: owner}
	p.mu.Unlock()
	p.wake()
}

// remove stops following a channel, if owner still owns it.
func (p *pubsub) remove(ch string, owner *mirror) {
	p.mu.Lock()
	if st := p.want[ch]; st != nil && st.owner == owner {
		delete(p.want, ch)
		p.wake()
	}
	p.mu.Unlock()
}

// confirmed reports whether the channel is subscribed now.
func (p *pubsub) confirmed(ch string, owner *mirror) bool {
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
	p.conns = map[string]*psConn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (p *pubsub) run() {
	defer close(p.runDone)
	t := time.NewTicker(reconcileTick)
	defer t.Stop()
	lastSlots := time.Time{}
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
		return p.s.o.Addrs[0]
	}
	if p.slots == nil {
		return ""
	}
	return p.slots[keySlot(ch)]
}

// reconcile subscribes wanted channels where they belong and unsubscribes
// the rest.
func (p *pubsub) reconcile() {
	now := time.Now()
	subs := map[*psConn][]string{}
	unsubs := map[*psConn][]string{}
	var closing []*psConn
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
		if st.conn != nil && st.conn.addr == addr {
			if st.confirmed || now.Sub(st.sentAt) < confirmWithin {
				continue
			}
			// Unconfirmed for long: ask again (and re-read the slots).
			p.slotsStale = p.sharded
		}
		if st.conn != nil && st.conn.addr != addr {
			unsubs[st.conn] = append(unsubs[st.conn], ch)
			delete(st.conn.chans, ch)
		}
		c := p.conns[addr]
		if c == nil {
			c = p.newConn(addr)
			p.conns[addr] = c
		}
		c.chans[ch] = true
		st.conn, st.confirmed, st.sentAt = c, false, now
		subs[c] = append(subs[c], ch)
	}
	for addr, c := range p.conns {
		for ch := range c.chans {
			if st := p.want[ch]; st == nil || st.conn != c {
				unsubs[c] = append(unsubs[c], ch)
				delete(c.chans, ch)
			}
		}
		if len(c.chans) == 0 {
			delete(p.conns, addr)
			closing = append(closing, c)
		}
	}
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.o.OpTimeout)
	defer cancel()
	for c, chs := range unsubs {
		if !contains(closing, c) {
			c.unsubscribe(ctx, p.sharded, chs)
		}
	}
	for c, chs := range subs {
		if err := c.subscribe(ctx, p.sharded, chs); err != nil {
			p.s.log.Debug("redis subscribe", "addr", c.addr, "err", err)
		}
	}
	for _, c := range closing {
		c.close()
	}
}

func contains(cs []*psConn, c *psConn) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// newConn opens a subscriber connection to addr. p.mu held.
func (p *pubsub) newConn(addr string) *psConn {
	o := p.s.o
	c := &psConn{
		addr: addr,
		client: goredis.NewClient(&goredis.Options{
			Addr:                     addr,
			Username:                 o.Username,
			Password:                 o.Password,
			TLSConfig:                o.TLS,
			DialTimeout:              o.DialTimeout,
			DialerRetries:            1,
			ReadTimeout:              o.OpTimeout,
			WriteTimeout:             o.OpTimeout,
			MaxRetries:               -1,
			DisableIdentity:          true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		}),
		chans: map[string]bool{},
		stop:  make(chan struct{}),
	}
	c.ps = c.client.Subscribe(p.s.ctx)
	c.wg.Add(1)
	go p.read(c)
	return c
}

func (c *psConn) pubsub() *goredis.PubSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ps
}

func (c *psConn) subscribe(ctx context.Context, sharded bool, chs []string) error {
	if sharded {
		return c.pubsub().SSubscribe(ctx, chs...)
	}
	return c.pubsub().Subscribe(ctx, chs...)
}

func (c *psConn) unsubscribe(ctx context.Context, sharded bool, chs []string) {
	if sharded {
		c.pubsub().SUnsubscribe(ctx, chs...)
	} else {
		c.pubsub().Unsubscribe(ctx, chs...)
	}
}

func (c *psConn) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.pubsub().Close()
	c.wg.Wait()
	c.client.Close()
}

func (c *psConn) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// read receives from one connection until it closes: messages go to their
// mirrors, confirmations make the mirrors sync, failures mark the channels
// unconfirmed (go-redis reconnects and resubscribes; the new confirmations
// sync again).
func (p *pubsub) read(c *psConn) {
	defer c.wg.Done()
	ctx := p.s.ctx
	pinged := false
	backoff := 10 * time.Millisecond
	for !c.stopped() {
		ps := c.pubsub()
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if c.stopped() {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					// No answer to the last ping: the connection is dead
					// without having said so. Start a new one.
					p.s.log.Debug("redis pubsub connection silent; reconnecting", "addr", c.addr)
					p.lost(c)
					c.renew(p)
					pinged = false
					continue
				}
				ps.Ping(ctx)
				pinged = true
				continue
			}
			var rerr goredis.Error
			if errors.As(err, &rerr) {
				// MOVED and the like: the slot map changed.
				p.s.log.Debug("redis pubsub error", "addr", c.addr, "err", err)
				p.markStale()
				continue
			}
			p.s.log.Debug("redis pubsub connection lost", "addr", c.addr, "err", err)
			p.lost(c)
			select {
			case <-c.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		}
		pinged = false
		backoff = 10 * time.Millisecond
		switch m := msg.(type) {
		case *goredis.Message:
			p.s.onNotice(m.Channel, m.Payload)
		case *goredis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				p.confirm(c, m.Channel)
			case "unsubscribe", "sunsubscribe":
				p.dropped(c, m.Channel)
			}
		}
	}
}

// renew replaces the connection's PubSub with a new one on the same channels.
func (c *psConn) renew(p *pubsub) {
	p.mu.Lock()
	chs := make([]string, 0, len(c.chans))
	for ch := range c.chans {
		chs = append(chs, ch)
	}
	p.mu.Unlock()
	c.mu.Lock()
	old := c.ps
	c.ps = c.client.Subscribe(p.s.ctx)
	c.mu.Unlock()
	old.Close()
	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.o.OpTimeout)
	defer cancel()
	if len(chs) > 0 {
		c.subscribe(ctx, p.sharded, chs)
	}
}

func (p *pubsub) markStale() {
	if !p.sharded {
		return
	}
	p.mu.Lock()
	p.slotsStale = true
	p.mu.Unlock()
	p.wake()
}

// lost marks every channel of a failed connection unconfirmed.
func (p *pubsub) lost(c *psConn) {
	p.mu.Lock()
	for ch := range c.chans {
		if st := p.want[ch]; st != nil && st.conn == c {
			st.confirmed = false
			st.sentAt = time.Now()
		}
	}
	if p.sharded {
		p.slotsStale = true
	}
	p.mu.Unlock()
	p.wake()
}

func (p *pubsub) confirm(c *psConn, ch string) {
	p.mu.Lock()
	st := p.want[ch]
	ok := st != nil && st.conn == c
	var owner *mirror
	if ok {
		st.confirmed = true
		owner = st.owner
	}
	p.mu.Unlock()
	if ok {
		p.s.requestSync(owner)
	}
}

// dropped handles an unsubscribe confirmation: expected after our own
// UNSUBSCRIBE, otherwise the server dropped the channel (its slot moved).
func (p *pubsub) dropped(c *psConn, ch string) {
	p.mu.Lock()
	st := p.want[ch]
	if st != nil && st.conn == c && c.chans[ch] {
		st.conn, st.confirmed = nil, false
		p.slotsStale = p.sharded
		p.mu.Unlock()
		p.wake()
		return
	}
	p.mu.Unlock()
}

// onNotice dispatches a pubsub payload to its channel's mirror.
func (s *Store) onNotice(ch, payload string) {
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
		s.log.Warn("redis: bad pubsub notice", "channel", key, "err", err, "payload", strings.TrimSpace(payload[:min(len(payload), 80)]))
		s.requestSync(mr)
		return
	}
	mr.handle(n)
}
