package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// The kinds of push-stream subscriber, as their messages are shaped.
const (
	psKindStream = iota // streaming: the templates as they are
	psKindPoll          // polling and long-polling: the same, in one answer
	psKindES            // EventSource: events, comments
	psKindWS            // WebSocket: text frames
	psKinds
)

// Encoding slots of store.Message for push-stream messages: one per
// distinct (template, kind, framing), handed out in order; past them,
// messages are rendered for each subscriber.
const (
	psSlotFirst = slotMux + 1
	psSlots     = store.NumEncodings - psSlotFirst
)

// psSlotKey names what a push-stream encoding depends on besides the
// message: the template, the subscriber kind and whether it is framed as
// HTTP/1.1 chunks.
type psSlotKey struct {
	tpl    string
	kind   int
	framed bool
}

// psState is a server's push-stream subscriber state: the locations'
// compiled templates and the encoding slots handed out.
type psState struct {
	locs  sync.Map // *route.PushStream -> *psLoc
	nlocs atomic.Int64
	mu    sync.Mutex // guards slots
	slots map[psSlotKey]int
}

// psMaxLocs bounds psState.locs: reloads make new routes; past this many,
// the compiled forms are dropped and made again.
const psMaxLocs = 4096

// psLoc is a push-stream location's templates compiled for each kind of
// subscriber, unframed.
type psLoc struct {
	msg    [psKinds]*pushstream.Template
	header [psKinds][]byte
	footer [psKinds][]byte
	// padder writes the filler of push_stream_padding_by_user_agent.
	padder *pushstream.Padder
	// pings are the unpadded pings of each kind, unframed and framed,
	// shared by the location's subscribers.
	pings [psKinds][2][]byte
	// slots caches psSlot for each kind, unframed and framed: the slot
	// plus 2 (1: none free), 0 until asked.
	slots [psKinds][2]atomic.Int32
}

// psLocation returns the location's compiled templates.
func (s *Server) psLocation(rt *route.Route) *psLoc {
	ps := rt.PushStream
	st := &s.ps
	if l, ok := st.locs.Load(ps); ok {
		return l.(*psLoc)
	}
	if st.nlocs.Add(1) > psMaxLocs {
		st.locs.Clear()
		st.nlocs.Store(1)
	}
	l, _ := st.locs.LoadOrStore(ps, newPSLoc(ps))
	return l.(*psLoc)
}

// newPSLoc compiles a location's templates as the module shapes them for
// each kind: EventSource messages become "data: " lines and the header
// and footer comments; WebSocket header and footer become text frames.
func newPSLoc(ps *route.PushStream) *psLoc {
	l := &psLoc{}
	tpl := ps.MessageTemplate
	if tpl == "" {
		tpl = config.DefaultPSMessageTemplate
	}
	plain := pushstream.Compile(tpl)
	l.msg[psKindStream], l.msg[psKindPoll], l.msg[psKindWS] = plain, plain, plain
	l.msg[psKindES] = pushstream.Compile(pushstream.EventSourceTemplate(ps.MessageTemplate))
	for _, k := range []int{psKindStream, psKindPoll} {
		l.header[k], l.footer[k] = []byte(ps.HeaderTemplate), []byte(ps.FooterTemplate)
	}
	l.header[psKindES] = []byte(pushstream.EventSourceHeader(ps.HeaderTemplate))
	l.footer[psKindES] = []byte(pushstream.EventSourceFooter(ps.FooterTemplate))
	if ps.HeaderTemplate != "" {
		l.header[psKindWS] = protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, []byte(ps.HeaderTemplate))
	}
	if ps.FooterTemplate != "" {
		l.footer[psKindWS] = protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, []byte(ps.FooterTemplate))
	}
	padMax := 0
	for _, p := range ps.Paddings {
		padMax = max(padMax, p.HeaderMin, p.MessageMin)
	}
	l.padder = pushstream.NewPadder(padMax)
	for k := range psKinds {
		for framed := range 2 {
			f := &psFormat{loc: l, ps: ps, kind: k, framed: framed == 1 && k != psKindWS}
			l.pings[k][framed] = f.pingBytes()
		}
	}
	return l
}

// psSlot returns the encoding slot for a (template, kind, framing), or -1
// when every slot is taken.
func (s *Server) psSlot(k psSlotKey) int {
	st := &s.ps
	st.mu.Lock()
	defer st.mu.Unlock()
	if i, ok := st.slots[k]; ok {
		return i
	}
	if st.slots == nil {
		st.slots = make(map[psSlotKey]int)
	}
	if len(st.slots) >= psSlots {
		return -1
	}
	i := psSlotFirst + len(st.slots)
	st.slots[k] = i
	return i
}

// WebSocket frames the module sends bare.
var (
	psWSPing  = []byte{0x89, 0x00}
	psWSClose = []byte{0x88, 0x00}
)

// psFormat writes push-stream messages to a streaming, EventSource or
// WebSocket subscriber: the location's message template per message,
// pings, and at the end the footer template (after the channel-deleted
// message when that is why). On HTTP/1.1 every piece is a chunk, as the
// module's answers are chunked. A message's bytes are rendered once for
// every one-channel subscriber of the location's template without
// padding (an encoding slot of the message).
type psFormat struct {
	s       *Server
	rt      *route.Route
	loc     *psLoc
	ps      *route.PushStream
	kind    int
	chans   []string
	framed  bool // HTTP/1.1: chunked
	slot    int  // encoding slot; -1: rendered per subscriber
	padMsg  int  // message padding minimum; 0: none
	pingB   []byte
	padding bool
}

// newPSFormat prepares a subscriber's format: its ping and, with padding
// for its user agent, the minimum its messages are padded to.
func (s *Server) newPSFormat(rt *route.Route, kind int, chans []string, framed bool, pad *config.PSPadding) *psFormat {
	loc := s.psLocation(rt)
	f := &psFormat{s: s, rt: rt, loc: loc, ps: rt.PushStream, kind: kind, chans: chans, framed: framed, slot: -1}
	if pad != nil && kind != psKindWS {
		f.padMsg, f.padding = pad.MessageMin, true
	}
	if !f.padding {
		c := &loc.slots[kind][psFramed(framed)]
		v := c.Load()
		if v == 0 {
			v = int32(s.psSlot(psSlotKey{tpl: loc.msg[kind].String(), kind: kind, framed: framed})) + 2
			c.Store(v)
		}
		f.slot = int(v) - 2
	}
	if f.padding {
		f.pingB = f.pingBytes()
	} else {
		f.pingB = loc.pings[kind][psFramed(framed)]
	}
	return f
}

// psFramed indexes psLoc.pings by framing.
func psFramed(framed bool) int {
	if framed {
		return 1
	}
	return 0
}

// pingBytes renders the subscriber's ping: the ping message through the
// template (padded) for streams, a comment for EventSource, a ping frame
// for WebSocket.
func (f *psFormat) pingBytes() []byte {
	switch f.kind {
	case psKindES:
		return f.frame(nil, []byte(pushstream.EventSourcePing))
	case psKindWS:
		return psWSPing
	}
	p := &pushstream.Fields{ID: pushstream.PingID, Text: []byte(psPingText(f.ps))}
	return f.wrap(nil, p)
}

// frame appends b to dst, as one chunk when framed.
func (f *psFormat) frame(dst, b []byte) []byte {
	if !f.framed || len(b) == 0 {
		return append(dst, b...)
	}
	dst = protocol.AppendChunkHead(dst, len(b))
	dst = append(dst, b...)
	return append(dst, protocol.ChunkDataEnd...)
}

// render appends the message rendered for the kind, unframed.
func (f *psFormat) render(dst []byte, fl *pushstream.Fields) []byte {
	t := f.loc.msg[f.kind]
	switch f.kind {
	case psKindES:
		return pushstream.AppendEvent(dst, t, fl)
	case psKindWS:
		var head [protocol.MaxFrameHeaderSize]byte
		start := len(dst)
		dst = append(dst, head[:]...)
		dst = t.Append(dst, fl)
		h := protocol.AppendFrameHeader(head[:0], protocol.OpText, protocol.Fin, len(dst)-start-len(head))
		copy(dst[start+len(head)-len(h):], h)
		return append(dst[:start], dst[start+len(head)-len(h):]...)
	}
	return t.Append(dst, fl)
}

// wrap appends one message, padded and framed. The chunk head is written
// in front of the rendered bytes, so a message costs one buffer.
func (f *psFormat) wrap(dst []byte, fl *pushstream.Fields) []byte {
	const room = 10 // a chunk head: 8 hex digits and CRLF
	n := f.loc.msg[f.kind].Len(fl)
	if f.kind == psKindES {
		n = pushstream.EventLen(f.loc.msg[f.kind], fl)
	}
	if !f.framed {
		b := f.render(make([]byte, 0, n+protocol.MaxFrameHeaderSize), fl)
		return append(dst, f.padAfter(b, len(b))...)
	}
	b := f.render(make([]byte, room, room+n+2+protocol.MaxFrameHeaderSize), fl)
	size := len(b) - room
	head := protocol.AppendChunkHead(make([]byte, 0, room), size)
	copy(b[room-len(head):], head)
	b = append(b[room-len(head):], protocol.ChunkDataEnd...)
	return append(dst, f.padAfter(b, size)...)
}

// padAfter appends to b the padding due after a message of size bytes.
func (f *psFormat) padAfter(b []byte, size int) []byte {
	if !f.padding {
		return b
	}
	p := f.loc.padder.Pad(f.padMsg, size, f.kind == psKindES)
	return f.frame(b, []byte(p))
}

func (f *psFormat) message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte {
	ch := f.chans[0]
	if !single && int(id.Active) < len(f.chans) {
		ch = f.chans[id.Active]
	}
	if m.ContentType == psDeletedMarker {
		fl := pushstream.Fields{ID: pushstream.DeletedID, Text: m.Body, Channel: ch}
		return append(bufs, f.wrap(nil, &fl))
	}
	if !single || f.slot < 0 {
		fl := psFields(m, ch)
		return append(bufs, f.wrap(nil, &fl))
	}
	enc := m.Encoded(f.slot, func(m *store.Message) store.Encoding {
		fl := psFields(m, ch)
		b := f.wrap(nil, &fl)
		return store.Encoding{Parts: [][]byte{b}, Own: cap(b)}
	})
	return append(bufs, enc.Parts...)
}

func (f *psFormat) ping() []byte { return f.pingB }

func (f *psFormat) end(e streamEnd) []byte {
	var b []byte
	if e.why == endDeleted && len(f.chans) == 1 { // several: each came as its channel went
		fl := pushstream.Fields{ID: pushstream.DeletedID, Text: []byte(f.s.psDeletedMessage(f.rt, store.ChannelKey{ID: f.chans[0]})), Channel: f.chans[0]}
		b = f.wrap(b, &fl)
	}
	if ft := f.loc.footer[f.kind]; len(ft) > 0 {
		if f.kind == psKindWS {
			b = append(b, ft...)
		} else {
			b = f.frame(b, ft)
		}
	}
	switch {
	case f.kind == psKindWS:
		b = append(b, psWSClose...)
	case f.framed:
		b = append(b, protocol.ChunkedEnd...)
	}
	return b
}

// psPaddingFor is the padding entry for the request's user agent
// (push_stream_user_agent, or the User-Agent header); nil for none.
func psPaddingFor(q *route.Request) *config.PSPadding {
	ps := q.Route.PushStream
	if len(ps.Paddings) == 0 {
		return nil
	}
	ua := q.HTTP.Header.Get("User-Agent")
	if !ps.UserAgent.IsEmpty() {
		ua = ps.UserAgent.Eval(q.Vars())
	}
	for i := range ps.Paddings {
		if ps.Paddings[i].UserAgent.MatchString(ua) {
			return &ps.Paddings[i]
		}
	}
	return nil
}

// psStream serves a streaming, EventSource or WebSocket push-stream
// subscriber: the header template, the old messages due, then every
// message as it comes, pings at push_stream_ping_message_interval, until
// push_stream_subscriber_connection_ttl (or the channel's deletion) ends
// it with the footer template. One-channel subscribers on plain
// connections are written by their channel's fan-out writer.
func (s *Server) psStream(w http.ResponseWriter, q *route.Request, chans []psChannel, last psLast, mode config.PSSubscriber) {
	r, rt := q.HTTP, q.Route
	ps := rt.PushStream
	kind := psKindStream
	transport := "stream"
	switch mode {
	case config.PSEventSource:
		kind, transport = psKindES, "eventsource"
	case config.PSWebSocket:
		kind, transport = psKindWS, "websocket"
		if !psWebSocketRequest(w, r) {
			return
		}
	}
	subs, status, explain := s.psSubscribe(r.Context(), rt, chans)
	if status != 0 {
		psRefuse(w, status, explain)
		return
	}
	ids := make([]string, len(chans))
	cursors := make([]msgid.ID, len(chans))
	for i, sub := range subs {
		ids[i] = chans[i].key.ID
		c, _, err := psCursor(sub, chans[i].back, last)
		if err != nil {
			for _, sub := range subs {
				sub.Close()
			}
			psRefuse(w, storeError(err).status, "")
			return
		}
		cursors[i] = c
	}
	if len(subs) > 1 {
		gone := new(int)
		for i, sub := range subs {
			subs[i] = &psMultiSub{Subscription: sub, gone: gone, total: len(subs),
				text: func() string { return s.psDeletedMessage(rt, chans[i].key) }}
		}
	}
	ss := &session{
		s: s, rt: rt, kind: transport, remote: r.RemoteAddr, key: chans[0].key, subs: subs,
		single: len(subs) == 1, given: true, cursors: cursors, buf: make([]*store.Message, 0, 1),
	}
	release := q.Detach()
	var ttl atomic.Pointer[time.Timer] // set once the stream starts; read when it ends
	startTTL := func(st *streamer) {
		if t := s.psConnectionTTL(st); t != nil {
			ttl.Store(t)
			if ss.isOver() {
				t.Stop()
			}
		}
	}
	ss.release = func() {
		if t := ttl.Load(); t != nil {
			t.Stop()
		}
		release()
		s.psNotify(rt, chans, false)
	}
	s.psNotify(rt, chans, true)
	s.emit(events.Event{Kind: events.SubscriberJoined, Group: ss.key.Group, Channel: ss.key.ID,
		Channels: len(ss.subs), Transport: transport, Location: rt.Name, Remote: ss.remote})
	if !s.streams.add() {
		ss.end(endShutdown)
		w.Header().Set("Retry-After", "1")
		psRefuse(w, http.StatusServiceUnavailable, "")
		return
	}
	ss.stream = true
	s.startStreamLog(w, ss, kind == psKindWS)
	pad := psPaddingFor(q)
	h1 := r.ProtoMajor == 1
	f := s.newPSFormat(rt, kind, ids, h1 && kind != psKindWS, pad)
	st := &streamer{s: s, ss: ss, f: f, ping: ps.PingMessageInterval}
	preamble := f.frame(nil, f.loc.header[kind])
	if pad != nil && kind != psKindWS && len(f.loc.header[kind]) > 0 {
		preamble = f.frame(preamble, []byte(f.loc.padder.Pad(pad.HeaderMin, len(f.loc.header[kind]), kind == psKindES)))
	}
	if kind == psKindWS {
		conn, hs, ok := wsUpgrade(w, r, rt)
		if !ok {
			ss.end(endClientGone)
			return
		}
		o := newConnOutput(conn, rt.Subscriber.SendTimeout)
		wc := &wsConn{s: s, rt: rt, out: o, hs: hs, ss: ss, remote: r.RemoteAddr,
			ps: &psSocket{s: s, rt: rt, chans: chans, remote: r.RemoteAddr}}
		ss.out, st.out, st.linger = o, o, wsCloseLinger
		if len(preamble) > 0 && o.write([][]byte{preamble}) != nil {
			ss.end(endClientGone)
			return
		}
		go wc.readLoop()
		startTTL(st)
		s.startStream(st)
		return
	}
	hd := make(http.Header)
	for k, v := range w.Header() {
		hd[k] = v
	}
	if kind == psKindES {
		hd.Set("Content-Type", pushstream.EventSourceContentType)
	} else {
		hd.Set("Content-Type", psDefaultType(rt))
	}
	if !h1 {
		for k, v := range hd {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		o := newPSH2Output(r.Context(), w, rt.Subscriber.SendTimeout)
		ss.out, st.out = o, o
		if err := o.write([][]byte{preamble}); err != nil {
			ss.end(endClientGone)
			return
		}
		startTTL(st)
		st.run() // HTTP/2 streams keep the handler goroutine.
		return
	}
	hd.Set("Transfer-Encoding", "chunked")
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		ss.end(endClientGone)
		psRefuse(w, http.StatusInternalServerError, "")
		return
	}
	o := newConnOutput(conn, rt.Subscriber.SendTimeout)
	ss.out, st.out = o, o
	head := appendHead(make([]byte, 0, 256+len(preamble)), http.StatusOK, hd)
	if err := o.write([][]byte{head, preamble}); err != nil {
		ss.end(endClientGone)
		return
	}
	go o.watchClose()
	startTTL(st)
	s.startStream(st)
}

// psWebSocketRequest checks a WebSocket handshake's headers as the module
// does, refusing it with the module's explanation.
func psWebSocketRequest(w http.ResponseWriter, r *http.Request) bool {
	hd := r.Header
	if hd.Get("Upgrade") == "" || hd.Get("Connection") == "" || hd.Get("Sec-WebSocket-Key") == "" || hd.Get("Sec-WebSocket-Version") == "" {
		psRefuse(w, http.StatusBadRequest, "Don't have at least one of the mandatory headers: Connection, Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version")
		return false
	}
	if v := strings.TrimSpace(hd.Get("Sec-WebSocket-Version")); v != "13" && v != "8" {
		psRefuse(w, http.StatusBadRequest, "Version not supported. Supported versions: 8, 13")
		return false
	}
	return true
}

// psConnectionTTL ends the stream after
// push_stream_subscriber_connection_ttl with its footer; nil without one.
func (s *Server) psConnectionTTL(st *streamer) *time.Timer {
	ttl := st.ss.rt.PushStream.SubscriberConnectionTTL
	if ttl <= 0 {
		return nil
	}
	return time.AfterFunc(ttl, func() { s.psExpire(st) })
}

// psExpire ends a stream whose connection TTL passed: the footer (and the
// stream's end) goes out after whatever is being written, and nothing
// after it.
func (s *Server) psExpire(st *streamer) {
	ss := st.ss
	if ss.isOver() {
		return
	}
	end := st.f.end(streamEnd{why: endTimeout})
	switch o := ss.out.(type) {
	case *connOutput:
		o.mu.Lock()
		bufs := append(o.pending, end)
		o.pending = nil
		o.conn.SetWriteDeadline(time.Now().Add(time.Second))
		nb := net.Buffers(bufs)
		nb.WriteTo(o.conn)
		if ss.kind == "websocket" {
			o.closeSent.Store(true)
		}
		o.conn.Close()
		o.mu.Unlock()
	case *psH2Output:
		o.finish(end)
	}
	ss.end(endTimeout)
}

// psH2Output is an HTTP/2 push-stream subscriber's output: the stream's
// writes, serialised so the connection TTL can end it from a timer.
type psH2Output struct {
	h2Output
	mu     sync.Mutex
	closed bool
	over   chan struct{} // closed when the client leaves or the stream ends
	once   sync.Once
}

func newPSH2Output(ctx context.Context, w http.ResponseWriter, timeout time.Duration) *psH2Output {
	o := &psH2Output{h2Output: h2Output{w: w, rc: http.NewResponseController(w), timeout: timeout, done: ctx.Done()},
		over: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			o.stop()
		case <-o.over:
		}
	}()
	return o
}

func (o *psH2Output) stop() { o.once.Do(func() { close(o.over) }) }

func (o *psH2Output) write(bufs [][]byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return net.ErrClosed
	}
	return o.h2Output.write(bufs)
}

func (o *psH2Output) gone() <-chan struct{} { return o.over }

func (o *psH2Output) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.stop()
}

// finish writes the last bytes and ends the stream.
func (o *psH2Output) finish(b []byte) {
	o.mu.Lock()
	if !o.closed {
		o.h2Output.write([][]byte{b})
		o.closed = true
	}
	o.mu.Unlock()
	o.stop()
}

// psSocket acts on what a push-stream WebSocket subscriber sends: with
// push_stream_websocket_allow_publish, each text message is published to
// the subscriber's channels; otherwise messages are ignored.
type psSocket struct {
	s      *Server
	rt     *route.Route
	chans  []psChannel
	remote string
}

// maxMessage is the largest message the socket takes.
func (p *psSocket) maxMessage() int {
	if l := p.rt.PushStream.MaxBodySize; l > 0 && p.rt.PushStream.WebSocketAllowPublish {
		return int(min(l, int64(wsMaxMessage)))
	}
	return wsMaxMessage
}

// handle publishes a text message to the subscriber's channels when the
// location allows it; it never ends the connection.
func (p *psSocket) handle(op protocol.OpCode, body []byte) bool {
	ps := p.rt.PushStream
	if !ps.WebSocketAllowPublish || op != protocol.OpText {
		return true
	}
	keys := make([]store.ChannelKey, len(p.chans))
	for i, c := range p.chans {
		keys[i] = c.key
	}
	if _, err := p.s.publish(context.Background(), p.rt, keys, store.Publication{Body: body}, "websocket", p.remote); err != nil {
		p.s.log.Warn("push-stream websocket publish failed", "channel", keys[0].ID, "err", err)
	}
	return true
}

// psDeletedMarker marks the channel-deleted message a psMultiSub makes;
// no published message has this content type (it holds a NUL).
const psDeletedMarker = "\x00push-stream channel deleted"

// psMultiSub is one channel of a push-stream subscriber of several
// channels. When its channel is deleted it yields the channel-deleted
// message once and then nothing, so the subscriber stays on its other
// channels, as the module keeps it; once every channel is gone it reports
// the deletion, which ends the stream. The session reads it from one
// goroutine.
type psMultiSub struct {
	store.Subscription
	gone  *int // the subscriber's channels deleted so far
	total int
	text  func() string
	sent  bool
}

// Read implements store.Subscription.
func (p *psMultiSub) Read(cursor msgid.ID, buf []*store.Message, max int) (store.Batch, error) {
	if p.sent {
		if *p.gone >= p.total {
			return store.Batch{Messages: buf}, store.ErrGone
		}
		return store.Batch{Messages: buf}, nil // a nil Wait: nothing more here
	}
	b, err := p.Subscription.Read(cursor, buf, max)
	if !errors.Is(err, store.ErrGone) {
		return b, err
	}
	p.sent = true
	*p.gone++
	m := &store.Message{ID: msgid.ID{Time: cursor.Time, Tag: cursor.Tag + 1}, Body: []byte(p.text()), ContentType: psDeletedMarker}
	return store.Batch{Messages: append(buf, m)}, nil
}
