package server

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// The push-stream profile's server-wide state: when the server started
// (statistics' uptime), the events channels (push_stream_events_channel_id)
// of the stores push-stream locations use, and the texts that subscribers
// of channels being deleted get.
//
// Events channel: each store that a push-stream location with an events
// channel uses has the channel made when the location is provisioned,
// kept forever (never collected for inactivity) and its messages kept for
// message_ttl. Its events are {"type": "T", "channel": "ID"} messages with
// event type T, as the module writes them. channel_created and
// channel_destroyed come from the stores' ChannelCreated and
// ChannelDeleted events on the bus, for every channel of the default
// group; client_subscribed and client_unsubscribed from the subscriber
// side (psClientEvent). One goroutine turns them into messages, in the
// order they happened, and holds a deleted channel's channel_destroyed
// back until its subscribers' client_unsubscribed went out, as the module
// destroys a channel only once its subscribers are gone. The messages go
// out through the channel events' per-store queue (chanevents.Publisher).

// psDestroyWait bounds how long a deleted channel's channel_destroyed
// waits for its subscribers to leave.
const psDestroyWait = 5 * time.Second

// psDeletedTTL is how long the text of a DELETE stays for the subscribers
// of the channels it deleted to read.
const psDeletedTTL = 30 * time.Second

// psPubState is the push-stream profile's state in a server.
type psPubState struct {
	start time.Time

	mu      sync.Mutex
	targets []psTarget
	deleted map[store.ChannelKey]psDeletedEntry
	sub     *events.Subscription
	clients chan psClient
	stop    chan struct{}
	done    chan struct{}
}

// psTarget is an events channel: its store, its key and the options its
// messages are published with.
type psTarget struct {
	st   store.Store
	key  store.ChannelKey
	opts store.ChannelOptions
}

// psClient is a subscriber joining or leaving a channel.
type psClient struct {
	rt     *route.Route
	id     string
	joined bool
}

// psDeletedEntry is what subscribers of a deleted channel get, and until
// when it is kept.
type psDeletedEntry struct {
	text  string
	until time.Time
}

// psEventsChannelTimeout keeps an events channel forever.
const psEventsChannelTimeout = 100 * 365 * 24 * time.Hour

// psAttach registers the events channels of a router's push-stream
// routes, making each in its store, and starts turning events into their
// messages.
func (s *Server) psAttach(rr *router) {
	for _, rt := range rr.routes {
		ps := rt.PushStream
		if ps == nil || ps.EventsChannelID == "" || rt.Store == nil {
			continue
		}
		opts := store.ChannelOptions{BufferLength: ps.MaxMessagesStoredPerChannel, MessageTimeout: ps.MessageTTL, ChannelTimeout: psEventsChannelTimeout}
		if opts.BufferLength == 0 {
			opts.BufferLength = route.StoreCap
		}
		t := psTarget{st: rt.Store, key: store.ChannelKey{ID: ps.EventsChannelID}, opts: opts}
		if !s.psPub.add(t) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := rt.Store.Create(ctx, t.key, opts); err != nil {
			s.log.Warn("push-stream events channel not made", "channel", t.key.ID, "location", rt.Name, "err", err)
		}
		cancel()
		s.psPub.startOnce(s)
	}
}

// add registers t; false when it was already.
func (p *psPubState) add(t psTarget) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.targets {
		if o.st == t.st && o.key == t.key {
			return false
		}
	}
	p.targets = append(p.targets, t)
	return true
}

// targetsNow returns the events channels registered so far.
func (p *psPubState) targetsNow() []psTarget {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets
}

// startOnce starts the goroutine that turns events into messages.
func (p *psPubState) startOnce(s *Server) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub != nil {
		return
	}
	p.sub = s.events.Subscribe(4096, events.ChannelCreated, events.ChannelDeleted)
	p.clients = make(chan psClient, 4096)
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.run(s)
}

// close stops the goroutine, once the events it has are sent on.
func (p *psPubState) close() {
	p.mu.Lock()
	sub := p.sub
	p.mu.Unlock()
	if sub == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	sub.Close()
}

// psClientEvent sends client_subscribed (joined) or client_unsubscribed
// for a subscriber of channel id on a push-stream route: the subscriber
// side calls it when a subscriber joins a channel and when it leaves it,
// whatever ends it (the client, a TTL, a delete, shutdown). It does
// nothing on a route without an events channel, for the events channel
// itself, or once the server is stopping. It never blocks: past a full
// queue, events are dropped (counted with the channel events').
func (s *Server) psClientEvent(rt *route.Route, id string, joined bool) {
	ps := rt.PushStream
	if ps == nil || ps.EventsChannelID == "" || id == ps.EventsChannelID {
		return
	}
	p := &s.psPub
	p.mu.Lock()
	ch, stop := p.clients, p.stop
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-stop:
	case ch <- psClient{rt: rt, id: id, joined: joined}:
	default:
		s.log.Debug("push-stream client event dropped: queue full", "channel", id)
	}
}

// psPending is a deleted channel whose channel_destroyed waits for its
// subscribers to leave.
type psPending struct {
	until time.Time
}

// run turns store and client events into events channel messages until
// close.
func (p *psPubState) run(s *Server) {
	defer close(p.done)
	subs := map[string]int{}          // subscribers per channel id, as the client events count them
	pending := map[string]psPending{} // deleted channels waiting for their subscribers
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	post := func(eventType, id string) {
		for _, t := range p.targetsNow() {
			if id == t.key.ID {
				continue
			}
			s.chanEvents.Post(t.st, t.key, string(pushstream.AppendEventsMessage(nil, eventType, id)), eventType, t.opts)
		}
	}
	storeEvent := func(e events.Event) {
		if e.Group != "" {
			return
		}
		switch e.Kind {
		case events.ChannelCreated:
			delete(pending, e.Channel)
			post(pushstream.EventChannelCreated, e.Channel)
		case events.ChannelDeleted:
			if subs[e.Channel] > 0 {
				pending[e.Channel] = psPending{until: time.Now().Add(psDestroyWait)}
				return
			}
			post(pushstream.EventChannelDestroyed, e.Channel)
		}
	}
	drain := func() {
		for {
			select {
			case e := <-p.sub.C():
				storeEvent(e)
			default:
				return
			}
		}
	}
	for {
		select {
		case <-p.stop:
			drain()
			return
		case e := <-p.sub.C():
			storeEvent(e)
		case c := <-p.clients:
			drain() // what the stores did before the subscriber came or went goes first
			if c.joined {
				subs[c.id]++
				post(pushstream.EventClientSubscribed, c.id)
				continue
			}
			if n := subs[c.id] - 1; n > 0 {
				subs[c.id] = n
			} else {
				delete(subs, c.id)
			}
			post(pushstream.EventClientUnsubscribed, c.id)
			if _, ok := pending[c.id]; ok && subs[c.id] == 0 {
				delete(pending, c.id)
				post(pushstream.EventChannelDestroyed, c.id)
			}
		case now := <-tick.C:
			for id, w := range pending {
				if now.After(w.until) {
					delete(pending, id)
					post(pushstream.EventChannelDestroyed, id)
				}
			}
		}
	}
}

// psSetDeleted records the text a DELETE gives the subscribers of the
// channel it deletes; "" for push_stream_channel_deleted_message_text.
func (p *psPubState) psSetDeleted(key store.ChannelKey, text string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if text == "" {
		delete(p.deleted, key) // the default text
		return
	}
	if p.deleted == nil {
		p.deleted = map[store.ChannelKey]psDeletedEntry{}
	}
	for k, d := range p.deleted {
		if now.After(d.until) {
			delete(p.deleted, k)
		}
	}
	p.deleted[key] = psDeletedEntry{text: text, until: now.Add(psDeletedTTL)}
}

// psDeletedMessage returns the text a subscriber of a push-stream route
// gets when its channel is deleted: the body of the DELETE that deleted
// it, or push_stream_channel_deleted_message_text. The subscriber side
// calls it when its subscription ends with store.ErrGone.
func (s *Server) psDeletedMessage(rt *route.Route, key store.ChannelKey) string {
	p := &s.psPub
	p.mu.Lock()
	d, ok := p.deleted[key]
	p.mu.Unlock()
	if ok && s.now().Before(d.until) {
		return d.text
	}
	if rt.PushStream != nil {
		return rt.PushStream.ChannelDeletedMessageText
	}
	return ""
}
