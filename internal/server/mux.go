package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// A multiplexed WebSocket (herald.v1, websocket_multiplex; see
// docs/multiplex.md) holds any number of subscriptions that come and go
// while it is open. Each subscription is a session of its own, admitted
// through the route's stages as an HTTP subscriber naming its channel
// would be (route.PrepareNamed), with its own goroutine that reads the
// channel and writes its messages to the shared connection. The
// connection's reader (wsConn, as for every WebSocket) hands each text
// message to muxConn.handle, in order.

// muxMaxSubscriptions is the most channels one multiplexed connection may
// hold at once (as many as one multi-channel subscriber).
const muxMaxSubscriptions = msgid.MaxChannels

// muxMaxControl is the largest frame a multiplexed connection that cannot
// publish accepts: room for a channel id and a token.
const muxMaxControl = 64 << 10

// wantsMux reports whether a request is a WebSocket handshake offering the
// herald.v1 subprotocol.
func wantsMux(r *http.Request) bool {
	if !route.IsWebSocketUpgrade(r) {
		return false
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == protocol.MuxProtocol {
				return true
			}
		}
	}
	return false
}

// muxConn is one multiplexed connection.
type muxConn struct {
	s        *Server
	rt       *route.Route
	out      *connOutput
	hs       *http.Request // the handshake, with the connection's context
	captures []string
	remote   string
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex
	subs   map[string]*muxSub
	closed bool
	// follows counts the subscriptions' goroutines; the connection ends
	// once they have.
	follows sync.WaitGroup
}

// muxSub is one subscription of a multiplexed connection. Its goroutine
// (follow) owns its session and ends it when it stops; done is closed
// then.
type muxSub struct {
	channel string
	ss      *session
	// mu is held while the subscription writes its messages, so that
	// once stopped is set under it nothing more of the channel goes out.
	mu      sync.Mutex
	stopped bool
	why     endReason // why it stopped
	stop    chan struct{}
	done    chan struct{}
}

// multiplex serves a herald.v1 WebSocket on a location with
// websocket_multiplex. q has been through the route's guard stages (the
// origin check, per-client limits); each channel goes through every stage
// when a frame names it.
func (s *Server) multiplex(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	if !s.streams.add() {
		w.Header().Set("Retry-After", "1")
		plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
		return
	}
	conn, hs, ok := wsUpgrade(w, r, rt)
	if !ok {
		s.streams.done()
		return
	}
	release := q.Detach()
	ctx, cancel := context.WithCancel(context.Background())
	m := &muxConn{
		s: s, rt: rt, out: newConnOutput(conn, rt.Subscriber.SendTimeout),
		hs: r.WithContext(ctx), captures: q.Captures, remote: r.RemoteAddr,
		ctx: ctx, cancel: cancel, subs: map[string]*muxSub{},
	}
	wc := &wsConn{s: s, rt: rt, out: m.out, hs: hs, remote: r.RemoteAddr, mux: m}
	go wc.readLoop()
	go func() {
		defer s.streams.done()
		defer release()
		m.watch()
	}()
}

// watch waits for the connection's end (the client leaving, or the server
// shutting down), sending pings meanwhile, then ends every subscription.
func (m *muxConn) watch() {
	var pingC <-chan time.Time
	if p := m.rt.Subscriber.WebSocket.Ping; p > 0 {
		t := time.NewTicker(p)
		defer t.Stop()
		pingC = t.C
	}
	why := endClientGone
wait:
	for {
		select {
		case <-m.out.gone():
			break wait
		case <-m.s.quit:
			why = endShutdown
			m.out.closeSent.Store(true)
			m.out.write([][]byte{wsCloseFor(http.StatusServiceUnavailable, "")})
			break wait
		case <-pingC:
			if err := m.out.write([][]byte{protocol.AppendPingFrame(nil, nil)}); err != nil {
				break wait
			}
		}
	}
	m.out.close()
	m.cancel()
	m.mu.Lock()
	m.closed = true
	subs := m.subs
	m.subs = nil
	m.mu.Unlock()
	for _, sub := range subs {
		sub.halt(why)
	}
	m.follows.Wait()
}

// halt stops the subscription for why; false if it was stopped already.
// Its goroutine ends its session.
func (sub *muxSub) halt(why endReason) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped {
		return false
	}
	sub.stopped, sub.why = true, why
	close(sub.stop)
	return true
}

// reason is why the subscription stopped.
func (sub *muxSub) reason() endReason {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.why
}

// maxFrame is the largest client message the connection accepts: where it
// may publish, room for a body of client_max_body_size in base64 or JSON
// escapes; elsewhere muxMaxControl.
func (m *muxConn) maxFrame() int {
	if !(m.rt.Publisher.HTTP || m.rt.Publisher.WebSocket) {
		return muxMaxControl
	}
	if l := m.rt.Publisher.MaxBodySize; l > 0 && l < wsMaxMessage {
		return int(2*l) + muxMaxControl
	}
	return 2*wsMaxMessage + muxMaxControl
}

// send writes one frame.
func (m *muxConn) send(f *protocol.MuxFrame) {
	payload := protocol.AppendMuxFrame(nil, f)
	m.out.write([][]byte{protocol.AppendFrame(make([]byte, 0, len(payload)+protocol.MaxFrameHeaderSize), protocol.OpText, protocol.Fin, payload)})
}

// fail answers a frame with an error.
func (m *muxConn) fail(f *protocol.MuxFrame, status int, reason string) {
	if reason == "" {
		reason = http.StatusText(status)
	}
	m.send(&protocol.MuxFrame{Op: protocol.MuxError, Ref: f.Ref, Channel: f.Channel, Status: status, Reason: reason})
}

// refused answers a frame a route stage refused.
func (m *muxConn) refused(f *protocol.MuxFrame, rf *route.Refusal) {
	reason := strings.TrimSpace(rf.Message)
	if rf.Verbatim && len(rf.Body) > 0 && len(rf.Body) <= 512 {
		reason = strings.TrimSpace(string(rf.Body))
	}
	if rf.Err != nil {
		m.s.log.Warn("multiplexed frame refused", "location", m.rt.Name, "reason", rf.Reason, "status", rf.Status, "err", rf.Err)
	}
	m.fail(f, rf.Status, reason)
}

// handle acts on one client message; false ends the connection.
func (m *muxConn) handle(op protocol.OpCode, body []byte) bool {
	if op != protocol.OpText {
		m.fail(&protocol.MuxFrame{}, http.StatusBadRequest, "herald.v1 frames are JSON text messages")
		return true
	}
	f, err := protocol.ParseMuxFrame(body)
	if err != nil {
		pe, _ := err.(*protocol.MuxParseError)
		fr := &protocol.MuxFrame{}
		if pe != nil {
			fr.Ref = pe.Ref
		}
		m.fail(fr, http.StatusBadRequest, err.Error())
		return true
	}
	switch f.Op {
	case protocol.MuxSubscribe:
		m.subscribe(f)
	case protocol.MuxUnsubscribe:
		m.unsubscribe(f)
	case protocol.MuxPublish:
		m.publish(f)
	case protocol.MuxPing:
		m.send(&protocol.MuxFrame{Op: protocol.MuxPong, Ref: f.Ref})
	default:
		m.fail(f, http.StatusBadRequest, "a client does not send "+string(f.Op)+" frames")
	}
	return true
}

// subscribe joins a channel: the channel goes through the route's stages
// and is admitted as a subscriber; the ack goes out before any of its
// messages.
func (m *muxConn) subscribe(f *protocol.MuxFrame) {
	if m.rt.Subscriber.Transports == 0 {
		m.fail(f, http.StatusForbidden, "This location does not allow subscribers.")
		return
	}
	n := route.Named{ID: f.Channel, Token: f.Token}
	switch f.From {
	case "":
	case protocol.MuxFromStart:
		n.Start, n.StartSet = store.Start{Kind: store.StartOldest}, true
	case protocol.MuxFromEnd:
		n.Start, n.StartSet = store.Start{Kind: store.StartNewest}, true
	default:
		id, err := msgid.Parse(f.From, 1)
		if err != nil {
			m.fail(f, http.StatusBadRequest, "Message ID invalid")
			return
		}
		n.Cursor, n.Given = id.Cursor(0), true
	}
	m.mu.Lock()
	_, dup := m.subs[f.Channel]
	full := len(m.subs) >= muxMaxSubscriptions
	m.mu.Unlock()
	switch {
	case dup:
		m.fail(f, http.StatusConflict, "Already subscribed to this channel.")
		return
	case full:
		m.fail(f, http.StatusForbidden, "Too many channels (at most 255).")
		return
	}
	q, rf := m.rt.PrepareNamed(m.ctx, m.hs, m.captures, route.Subscribe, n)
	if rf != nil {
		q.Done()
		m.s.emit(events.Event{Kind: events.SubscriberRefused, Channel: f.Channel, Channels: 1, Transport: "websocket",
			Location: m.rt.Name, Remote: m.remote, Status: rf.Status, Reason: rf.Reason})
		m.refused(f, rf)
		return
	}
	ss, err := m.s.admit(q, "websocket", true)
	if err != nil {
		herr := storeError(err)
		m.s.emit(events.Event{Kind: events.SubscriberRefused, Group: q.Channels[0].Key.Group, Channel: f.Channel, Channels: 1,
			Transport: "websocket", Location: m.rt.Name, Remote: m.remote, Status: herr.status, Reason: err.Error()})
		m.fail(f, herr.status, herr.msg)
		return
	}
	sub := &muxSub{channel: f.Channel, ss: ss, stop: make(chan struct{}), done: make(chan struct{})}
	m.mu.Lock()
	if m.closed || m.subs[f.Channel] != nil {
		m.mu.Unlock()
		ss.end(endClientGone)
		return
	}
	m.subs[f.Channel] = sub
	m.follows.Add(1)
	m.mu.Unlock()
	// The ack names the position the subscription stands at: subscribing
	// again from it, after a lost connection, misses nothing.
	m.send(&protocol.MuxFrame{Op: protocol.MuxAck, Ref: f.Ref, Channel: f.Channel, ID: ss.cursors[0].String()})
	go m.follow(sub)
}

// unsubscribe leaves a channel: nothing of it is sent after the ack.
func (m *muxConn) unsubscribe(f *protocol.MuxFrame) {
	m.mu.Lock()
	sub := m.subs[f.Channel]
	delete(m.subs, f.Channel)
	m.mu.Unlock()
	if sub == nil || !sub.halt(endClosed) {
		m.fail(f, http.StatusNotFound, "Not subscribed to this channel.")
		return
	}
	<-sub.done // its session has ended: the channel's subscriber count and limit_conn slot are given back
	m.send(&protocol.MuxFrame{Op: protocol.MuxAck, Ref: f.Ref, Channel: f.Channel})
}

// publish publishes to a channel through the one publish path, after the
// channel has been through the route's stages as a WebSocket publisher's.
func (m *muxConn) publish(f *protocol.MuxFrame) {
	rt := m.rt
	if !rt.Publisher.HTTP && !rt.Publisher.WebSocket {
		m.fail(f, http.StatusForbidden, "Publishing is not allowed here.")
		return
	}
	if l := rt.Publisher.MaxBodySize; l > 0 && int64(len(f.Data)) > l {
		m.fail(f, http.StatusRequestEntityTooLarge, "Message too big.")
		return
	}
	q, rf := rt.PrepareNamed(m.ctx, m.hs, m.captures, route.PublishSocket, route.Named{ID: f.Channel, Token: f.Token})
	defer q.Done()
	if rf != nil {
		m.refused(f, rf)
		return
	}
	p := store.Publication{Body: f.Data, ContentType: f.ContentType, EventName: f.Event}
	if rt.Hooks.Upstream != nil {
		switch status := m.s.upstreamed(m.ctx, rt, q.NchanVars(), &p, "websocket"); status {
		case 0:
		case http.StatusNoContent: // the application dropped it
			m.send(&protocol.MuxFrame{Op: protocol.MuxAck, Ref: f.Ref, Channel: f.Channel, Status: http.StatusNoContent})
			return
		default:
			m.fail(f, status, "")
			return
		}
	}
	res, err := m.s.publish(m.ctx, rt, q.Keys(), p, "websocket", m.remote)
	if err != nil {
		herr := storeError(err)
		m.fail(f, herr.status, herr.msg)
		return
	}
	m.send(&protocol.MuxFrame{Op: protocol.MuxAck, Ref: f.Ref, Channel: f.Channel, ID: res.id.String(), Status: res.status})
}

// follow writes a subscription's messages, in order, until it ends: the
// client unsubscribes or leaves, the channel is deleted, or messages leave
// the buffer before it reads them (then the client is told with an
// unsubscribed frame).
func (m *muxConn) follow(sub *muxSub) {
	defer m.follows.Done()
	defer close(sub.done)
	defer func() { sub.ss.end(sub.reason()) }()
	ss := sub.ss
	defaultType := m.rt.Subscriber.DefaultType
	var bufs [][]byte
	for {
		bufs = bufs[:0]
		n, size := 0, 0
		var waits []<-chan struct{}
		for n < maxBatch {
			msg, _, w, missed, err := ss.nextStream()
			if err != nil {
				herr := storeError(err)
				m.ended(sub, herr.status, herr.msg, storeEnd(err))
				return
			}
			if missed {
				m.s.log.Warn("subscriber too slow: messages left the buffer before it read them",
					"transport", "websocket-multiplex", "remote", m.remote, "channel", sub.channel)
				m.ended(sub, http.StatusServiceUnavailable, "Subscriber Too Slow", endTooSlow)
				return
			}
			if msg == nil {
				waits = w
				break
			}
			var frame []byte
			if msg.ContentType != "" || defaultType == "" {
				// The same for every subscriber of the channel: encoded once.
				frame = msg.Encoded(slotMux, func(msg *store.Message) store.Encoding {
					b := muxMessageFrame(sub.channel, msg, msg.ContentType)
					return store.Encoding{Parts: [][]byte{b}, Own: cap(b)}
				}).Parts[0]
			} else {
				frame = muxMessageFrame(sub.channel, msg, defaultType)
			}
			bufs = append(bufs, frame)
			n++
			size += len(msg.Body)
		}
		if n > 0 {
			sub.mu.Lock()
			if sub.stopped {
				sub.mu.Unlock()
				return
			}
			err := m.out.write(bufs)
			sub.mu.Unlock()
			if err != nil {
				why := endClientGone
				if isTimeout(err) {
					why = endTooSlow
				}
				sub.halt(why)
				m.out.close() // too slow or gone: the connection ends
				return
			}
			m.s.delivered(ss, n, size)
		}
		if waits == nil {
			continue
		}
		select {
		case <-anyOf(waits, sub.stop):
		case <-sub.stop:
			return
		}
	}
}

// muxMessageFrame encodes a message of channel as a herald.v1 message
// frame, WebSocket header included.
func muxMessageFrame(channel string, msg *store.Message, contentType string) []byte {
	payload := protocol.AppendMuxMessage(nil, channel, msg.ID.String(), msg.Body, contentType, msg.EventName)
	b := protocol.AppendFrameHeader(make([]byte, 0, protocol.MaxFrameHeaderSize+len(payload)), protocol.OpText, protocol.Fin, len(payload))
	return append(b, payload...)
}

// ended ends a subscription the server ends, and tells the client.
func (m *muxConn) ended(sub *muxSub, status int, reason string, why endReason) {
	m.mu.Lock()
	if m.subs[sub.channel] == sub {
		delete(m.subs, sub.channel)
	}
	m.mu.Unlock()
	if !sub.halt(why) {
		return
	}
	if status == http.StatusGone && reason == "" {
		reason = "Channel deleted."
	}
	if reason == "" {
		reason = http.StatusText(status)
	}
	m.send(&protocol.MuxFrame{Op: protocol.MuxUnsubscribed, Channel: sub.channel, Status: status, Reason: reason})
}
