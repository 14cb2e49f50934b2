package server

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/chaninfo"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Nchan's WebSocket subprotocol: a header block with the message id and
// content type before every message.
const wsMetaProtocol = "ws+meta.nchan"

// wsCloseLinger is how long a server-initiated close waits for the
// client's close frame before dropping the connection.
const wsCloseLinger = 250 * time.Millisecond

// wsGUID is RFC 6455's key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsHandshake is what the upgrade negotiated.
type wsHandshake struct {
	meta         bool  // ws+meta.nchan
	mux          bool  // herald.v1 (websocket_multiplex)
	deflate      bool  // permessage-deflate accepted
	inflateReset bool  // client_no_context_takeover
	serverWindow uint8 // server_max_window_bits answered; 0: none, a 32 KiB window
}

// wsUpgrade validates the handshake (with Nchan's error messages), hijacks
// the connection and answers 101. On failure it has already answered.
func wsUpgrade(w http.ResponseWriter, r *http.Request, rt *route.Route) (net.Conn, wsHandshake, bool) {
	var hs wsHandshake
	hd := r.Header
	version := strings.TrimSpace(hd.Get("Sec-WebSocket-Version"))
	key := strings.TrimSpace(hd.Get("Sec-WebSocket-Key"))
	switch {
	case version == "":
		plainError(w, http.StatusBadRequest, "No Sec-Websocket-Version header present")
		return nil, hs, false
	case version != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		plainError(w, http.StatusBadRequest, "Unsupported websocket protocol version (only version 13 is supported)")
		return nil, hs, false
	case key == "":
		plainError(w, http.StatusBadRequest, "No Sec-Websocket-Key header present")
		return nil, hs, false
	}
	ext, err := negotiateDeflate(hd.Values("Sec-WebSocket-Extensions"), &hs)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return nil, hs, false
	}
	hs.meta = strings.HasPrefix(strings.TrimSpace(hd.Get("Sec-WebSocket-Protocol")), wsMetaProtocol)
	if rt.Multiplex && wantsMux(r) {
		hs.mux, hs.meta = true, false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		plainError(w, http.StatusInternalServerError, "Cannot upgrade this connection.")
		return nil, hs, false
	}
	if brw.Reader.Buffered() > 0 {
		// The client sent frames before our answer: keep them.
		buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
		conn = &prefixConn{Conn: conn, prefix: append([]byte(nil), buffered...)}
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	resp := http.Header{}
	resp.Set("Upgrade", "websocket")
	resp.Set("Connection", "Upgrade")
	if rt.PushStream != nil {
		// The module's handshake answer.
		resp.Set("Upgrade", "WebSocket")
		psNoCache(resp)
	}
	resp.Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	if hs.meta {
		resp.Set("Sec-WebSocket-Protocol", wsMetaProtocol)
	}
	if hs.mux {
		resp.Set("Sec-WebSocket-Protocol", protocol.MuxProtocol)
	}
	if ext != "" {
		resp.Set("Sec-WebSocket-Extensions", ext)
	}
	copyCORS(resp, w.Header())
	carryRedirectHeaders(resp, w.Header())
	head := appendHead(make([]byte, 0, 256), http.StatusSwitchingProtocols, resp)
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return nil, hs, false
	}
	return conn, hs, true
}

// prefixConn replays bytes read ahead of the hijack.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Window bits in compression offers, as Nchan reads them: values from
// wsMinWindowBits to wsMaxWindowBits are valid, and server_max_window_bits
// (max_window_bits of the legacy per-frame extensions) is answered with
// wsServerWindowBits, the window Nchan compresses with by default; an
// offer below it is refused.
const (
	wsMinWindowBits    = 9
	wsMaxWindowBits    = 15
	wsServerWindowBits = 10
)

// wsOffer is one extension offered in Sec-WebSocket-Extensions: its name
// and parameters ("name" or "name=value").
type wsOffer struct {
	name   string
	params []string
}

// param returns the value of the offer's first parameter called name, and
// whether there is one.
func (o *wsOffer) param(name string) (string, bool) {
	for _, p := range o.params {
		n, v, _ := strings.Cut(p, "=")
		if strings.TrimSpace(n) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// wsOffers splits Sec-WebSocket-Extensions headers into offers, in order.
func wsOffers(headers []string) []wsOffer {
	var offers []wsOffer
	for _, h := range headers {
		for offer := range strings.SplitSeq(h, ",") {
			parts := strings.Split(offer, ";")
			o := wsOffer{name: strings.TrimSpace(parts[0])}
			for _, p := range parts[1:] {
				o.params = append(o.params, strings.TrimSpace(p))
			}
			offers = append(offers, o)
		}
	}
	return offers
}

// windowBits reads a window-bits value as Nchan does: after an optional
// opening quote, the digits it starts with. No digits (an absent or other
// value) leaves the setting unset; a number outside 9–15 is invalid.
func windowBits(v string) (bits int, set, valid bool) {
	v = strings.TrimPrefix(v, `"`)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false, true
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil || n < wsMinWindowBits || n > wsMaxWindowBits {
		return 0, false, false
	}
	return n, true, true
}

// negotiateDeflate answers the client's compression offers as Nchan does:
// the first permessage-deflate offer is accepted, wherever it stands, and
// an invalid window size in it is refused (400, with Nchan's message);
// without one, a legacy x-webkit-deflate-frame (or deflate-frame) offer
// with an invalid max_window_bits is refused as Nchan refuses it, and a
// valid one is declined (Herald does not implement per-frame compression).
//
// Herald compresses each message once for every subscriber, so it keeps
// no compression context: it always answers server_no_context_takeover.
// When the client limits the server's window, the answer is Nchan's
// server_max_window_bits=10, and only messages that fit a 1 KiB window
// are sent compressed (see wsFormat).
func negotiateDeflate(headers []string, hs *wsHandshake) (string, error) {
	offers := wsOffers(headers)
	for i := range offers {
		if offers[i].name == "permessage-deflate" {
			return acceptDeflate(&offers[i], hs)
		}
	}
	for _, name := range []string{"x-webkit-deflate-frame", "deflate-frame"} {
		for i := range offers {
			if offers[i].name == name {
				return "", checkPerFrameDeflate(&offers[i])
			}
		}
	}
	return "", nil
}

// acceptDeflate accepts a permessage-deflate offer and returns the answer.
func acceptDeflate(o *wsOffer, hs *wsHandshake) (string, error) {
	v, _ := o.param("client_max_window_bits")
	client, clientSet, ok := windowBits(v)
	if !ok {
		return "", errors.New("invalid client_max_window_bits permessage-deflate setting")
	}
	v, _ = o.param("server_max_window_bits")
	server, serverSet, ok := windowBits(v)
	switch {
	case !ok:
		return "", errors.New("invalid server_max_window_bits permessage-deflate setting")
	case serverSet && server < wsServerWindowBits:
		return "", errors.New("server_max_window_bits perframe-deflate is too small")
	}
	reply := "permessage-deflate; server_no_context_takeover"
	if _, ok := o.param("client_no_context_takeover"); ok {
		hs.inflateReset = true
		reply += "; client_no_context_takeover"
	}
	if serverSet {
		hs.serverWindow = wsServerWindowBits
		reply += "; server_max_window_bits=" + strconv.Itoa(wsServerWindowBits)
	}
	if clientSet {
		// Any window up to 32 KiB inflates; the client may use less.
		reply += "; client_max_window_bits=" + strconv.Itoa(client)
	}
	hs.deflate = true
	return reply, nil
}

// checkPerFrameDeflate refuses a legacy per-frame compression offer whose
// max_window_bits Nchan refuses.
func checkPerFrameDeflate(o *wsOffer) error {
	v, _ := o.param("max_window_bits")
	bits, set, ok := windowBits(v)
	switch {
	case !ok:
		return errors.New("invalid max_window_bits perframe-deflate setting")
	case set && bits < wsServerWindowBits:
		return errors.New("max_window_bits perframe-deflate is too small")
	}
	return nil
}

// closeFrame builds a close frame; reasons are cut to 123 bytes.
func closeFrame(code protocol.CloseCode, reason string) []byte {
	return protocol.AppendCloseFrame(nil, code, reason)
}

// wsCloseFor maps an ending status to Nchan's close code and reason.
func wsCloseFor(status int, reason string) []byte {
	statusLine := strconv.Itoa(status) + " " + http.StatusText(status)
	switch {
	case status == 0:
		return closeFrame(protocol.CloseNormal, "")
	case reason != "":
		return closeFrame(protocol.CloseTryAgainLater, reason) // too slow
	case status == http.StatusGone:
		return closeFrame(protocol.CloseGoingAway, statusLine)
	case status == http.StatusForbidden:
		return closeFrame(protocol.ClosePolicyViolation, statusLine)
	case status == http.StatusServiceUnavailable:
		return closeFrame(protocol.CloseGoingAway, statusLine)
	case status >= 500:
		return closeFrame(protocol.CloseInternalError, statusLine)
	}
	return closeFrame(protocol.CloseNormal, strconv.Itoa(status)+" "+statusLine)
}

// deflaters compress messages once each; flate writers are large, so they
// are pooled per level.
type deflaters struct {
	pools [10]sync.Pool
}

func (d *deflaters) compress(level int, parts ...[]byte) []byte {
	var buf bytes.Buffer
	fw, _ := d.pools[level].Get().(*flate.Writer)
	if fw == nil {
		fw, _ = flate.NewWriter(&buf, level)
	} else {
		fw.Reset(&buf)
	}
	for _, p := range parts {
		fw.Write(p)
	}
	fw.Flush()
	d.pools[level].Put(fw)
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// wsFormat writes messages as WebSocket frames: text, or binary for
// application/octet-stream; with the ws+meta.nchan header block if
// negotiated. A message whose publisher location deflates
// (store.Message.Deflate) goes out compressed, once per message, to a
// client that negotiated permessage-deflate.
type wsFormat struct {
	s       *Server
	meta    bool
	deflate bool // the client takes compressed frames
	// window, when not 0, is the server_max_window_bits answered: only
	// messages that fit that window are compressed, since Go's compressor
	// refers back up to 32 KiB.
	window uint8
}

// wsMetaMax bounds the ws+meta.nchan header block of a one-channel
// message, beside its content type: "id: ", an id of at most 31 bytes,
// "\ncontent-type: " and "\n\n".
const wsMetaMax = 4 + 31 + 15 + 2

func (f *wsFormat) message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte {
	if !single && f.meta {
		ids := id.String()
		return append(bufs, f.build(m, ids, f.compresses(m, len(ids)+wsMetaMax)).Parts...)
	}
	deflate := f.compresses(m, wsMetaMax)
	slot := slotWSPlain
	switch {
	case f.meta && deflate:
		slot = slotWSMetaDeflate
	case f.meta:
		slot = slotWSMeta
	case deflate:
		slot = slotWSPlainDeflate
	}
	enc := m.Encoded(slot, func(m *store.Message) store.Encoding { return inline(f.build(m, m.ID.String(), deflate)) })
	return append(bufs, enc.Parts...)
}

// compresses reports whether m goes out compressed: its publisher location
// asked for it, the client negotiated permessage-deflate, and the message
// fits the negotiated window when there is one (meta bounds the header
// block that is compressed with it).
func (f *wsFormat) compresses(m *store.Message, meta int) bool {
	return f.deflate && m.Deflate > 0 && (f.window == 0 || len(m.Body)+len(m.ContentType)+meta <= 1<<f.window)
}

// build encodes a message as one frame: compressed (at the message's
// level), a frame of its own; otherwise the frame's header (and ws+meta
// block) followed by the body in place.
func (f *wsFormat) build(m *store.Message, id string, deflate bool) store.Encoding {
	op := protocol.OpText
	if m.ContentType == "application/octet-stream" {
		op = protocol.OpBinary
	}
	var meta []byte
	if f.meta {
		meta = protocol.AppendWSMeta(nil, id, m.ContentType)
	}
	if deflate {
		c := f.s.deflaters.compress(int(m.Deflate), meta, m.Body)
		frame := protocol.AppendFrame(make([]byte, 0, protocol.MaxFrameHeaderSize+len(c)), op, protocol.Fin|protocol.RSV1, c)
		return store.Encoding{Parts: [][]byte{frame}, Own: cap(frame)}
	}
	head := protocol.AppendFrameHeader(make([]byte, 0, protocol.MaxFrameHeaderSize+len(meta)), op, protocol.Fin, len(meta)+len(m.Body))
	head = append(head, meta...)
	return store.Encoding{Parts: [][]byte{head, m.Body}, Own: cap(head)}
}

func (f *wsFormat) ping() []byte { return protocol.AppendPingFrame(nil, nil) }

func (f *wsFormat) end(e streamEnd) []byte {
	if e.restart {
		return closeFrame(protocol.CloseServiceRestart, "")
	}
	if e.why == endStoreError {
		// The store failed under the subscriber (this node lost its
		// Redis): an unexpected condition, not the server going away.
		return closeFrame(protocol.CloseInternalError, string(protocol.AppendStatusLine(nil, e.status, "")))
	}
	return wsCloseFor(e.status, e.text)
}

// websocket serves a WebSocket: a subscriber (when ss is not nil), a
// publisher (when the location publishes over WebSocket), or both.
func (s *Server) websocket(w http.ResponseWriter, q *route.Request, ss *session) {
	r, rt := q.HTTP, q.Route
	pubKeys := q.Publish
	if ss == nil {
		pubKeys = q.Keys()
	}
	if !s.streams.add() {
		if ss != nil {
			ss.end(endShutdown)
		}
		w.Header().Set("Retry-After", "1")
		plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
		return
	}
	if ss != nil {
		ss.stream = true
	}
	conn, hs, ok := wsUpgrade(w, r, rt)
	if !ok {
		if ss != nil {
			ss.end(endClientGone)
		} else {
			s.streams.done()
		}
		return
	}
	o := newConnOutput(conn, rt.Subscriber.SendTimeout)
	wc := &wsConn{
		s: s, rt: rt, out: o, hs: hs, pubKeys: pubKeys, ss: ss,
		contentType: r.Header.Get("Content-Type"),
		infoFormat:  chaninfo.Negotiate(r.Header.Get("Accept")),
		replyInfo:   ss == nil || rt.Subscriber.Transports == 0,
		remote:      r.RemoteAddr,
	}
	if rt.Hooks.Upstream != nil {
		wc.vars = q.NchanVars()
		n := *wc.vars.Nchan
		n.PublisherType = "websocket"
		n.ChannelIDs = n.ChannelIDs[:0:0]
		for _, k := range pubKeys {
			if len(n.ChannelIDs) < 4 {
				n.ChannelIDs = append(n.ChannelIDs, k.ID)
			}
		}
		wc.vars.Nchan = &n
	}
	if rt.Events != nil && len(pubKeys) > 0 {
		wc.pubEvent = rt.Events.Request(s.chanEvents, rt.Store, q.NchanVars(), pubKeys[0], chanevents.ChannelPublish)
	}
	go wc.readLoop()
	if ss == nil {
		// Publisher only: the reader owns the connection; wait for the end.
		release := q.Detach()
		go func() {
			defer s.streams.done()
			defer release()
			select {
			case <-o.gone():
			case <-s.quit:
				o.write([][]byte{wsCloseFor(http.StatusServiceUnavailable, "")})
			}
			o.close()
		}()
		return
	}
	ws := &rt.Subscriber.WebSocket
	ss.out = o
	f := &wsFormat{s: s, meta: hs.meta, deflate: hs.deflate, window: hs.serverWindow}
	st := &streamer{s: s, ss: ss, out: o, f: f, ping: ws.Ping, linger: wsCloseLinger}
	s.startStream(st)
}

// wsConn is the reading side of a WebSocket.
type wsConn struct {
	s           *Server
	rt          *route.Route
	out         *connOutput
	hs          wsHandshake
	ss          *session // the subscriber's session; nil for a publisher
	pubKeys     []store.ChannelKey
	contentType string
	infoFormat  chaninfo.Format
	replyInfo   bool // publisher locations answer each publish with channel info.
	remote      string
	dict        []byte // inflate window for client context takeover.
	// vars are what publisher_upstream_request's templates read: the
	// handshake request and the channels published to.
	vars location.Request
	// pubEvent sends channel_publish (channel_events_channel_id); nil
	// when the location sends no channel events.
	pubEvent *chanevents.Sender
	// mux, for a herald.v1 connection, acts on its messages (mux.go).
	mux *muxConn
	// ps, for a push-stream subscriber, acts on its messages
	// (pushstream_stream.go).
	ps *psSocket
}

// wsReadBuffer is the size of the pooled buffers client frames are read
// into.
const wsReadBuffer = 8 << 10

// wsMaxMessage is the largest message a WebSocket publisher may send when
// client_max_body_size is 0 (no limit for HTTP bodies).
const wsMaxMessage = protocol.DefaultMaxMessage

// readLoop reads client frames until the connection ends: it answers pings,
// echoes closes, publishes messages and closes with the right code on
// protocol errors. Between messages it sits in a read of one byte with no
// deadline and holds no buffer, so an idle connection costs a small stack;
// readMessage takes over from a frame's first byte.
func (c *wsConn) readLoop() {
	defer c.out.markGone()
	var first [1]byte
	for {
		if _, err := c.out.conn.Read(first[:]); err != nil {
			return
		}
		if !c.readMessage(first[0]) {
			return
		}
	}
}

// readMessage reads from the frame whose first byte is first until the
// connection stands between messages again, acting on every message and
// control frame on the way; false ends the connection.
//
// The frames are parsed by a pooled protocol.WSDecoder, which keeps a
// message's payload only as it arrives. client_body_timeout bounds each
// wait for more bytes, and what the decoder holds of a message in
// progress counts against max_body_memory. On a plain connection the
// reader waits in a read of one byte holding no buffer, then takes what
// has arrived without waiting; on others (TLS) it waits in a read into a
// pooled buffer.
func (c *wsConn) readMessage(first byte) bool {
	s, conn, raw := c.s, c.out.conn, c.out.raw
	d, _ := s.wsDecoders.Get().(*protocol.WSDecoder)
	if d == nil {
		d = new(protocol.WSDecoder)
	}
	*d = protocol.WSDecoder{MaxMessage: c.maxMessage(), RequireMasked: true, AllowCompressed: c.hs.deflate}
	b := &s.budget
	b.messages.Add(1)
	var held int64
	defer func() {
		*d = protocol.WSDecoder{} // its buffer goes with it
		s.wsDecoders.Put(d)
		b.release(held)
		b.messages.Add(-1)
	}()
	timeout := c.rt.Publisher.BodyTimeout
	deadline := false
	one := [1]byte{first}
	have := true // one holds a byte read
	for {
		buf, _ := s.wsBuffers.Get().(*[wsReadBuffer]byte)
		if buf == nil {
			buf = new([wsReadBuffer]byte)
		}
		var n int
		var err error
		if have {
			buf[0], n = one[0], 1
			if raw != nil {
				n += readNow(raw, buf[1:])
			}
		} else {
			n, err = conn.Read(buf[:])
		}
		ok := n == 0 || c.decode(d, buf[:n])
		s.wsBuffers.Put(buf)
		switch {
		case !ok:
			return false
		case err != nil:
			c.readFailed(err)
			return false
		case d.Idle():
			if deadline {
				conn.SetReadDeadline(time.Time{})
			}
			return true
		}
		if now := int64(d.Buffered()); now > held {
			if !b.reserve(now - held) {
				s.log.Warn("websocket message refused: messages being received would pass max_body_memory",
					"remote", c.remote, "location", c.rt.Name, "max_body_memory", b.limit.Load())
				c.fail(protocol.CloseTryAgainLater, "Too many messages being received; try again later.")
				return false
			}
			held = now
		} else if now < held {
			b.release(held - now)
			held = now
		}
		if timeout > 0 {
			// Renewed before every wait: the longest wait between two reads.
			conn.SetReadDeadline(time.Now().Add(timeout))
			deadline = true
		}
		have = raw != nil
		if have {
			if _, err := conn.Read(one[:]); err != nil {
				c.readFailed(err)
				return false
			}
		}
	}
}

// decode feeds p to d and acts on every message and control frame it
// completes; false ends the connection.
func (c *wsConn) decode(d *protocol.WSDecoder, p []byte) bool {
	d.Feed(p)
	for {
		m, err := d.Next()
		if err != nil {
			var we *protocol.WSError
			switch {
			case errors.Is(err, protocol.ErrTooLong):
				c.tooBig()
			case errors.As(err, &we):
				c.fail(we.Code, we.Reason)
			}
			return false
		}
		if m == nil {
			return true
		}
		if !c.handleFrame(m) {
			return false
		}
	}
}

// readFailed ends a connection whose read failed: one that sent nothing
// for client_body_timeout in the middle of a message is closed with 1008;
// one that went away is just gone.
func (c *wsConn) readFailed(err error) {
	if !isTimeout(err) {
		return
	}
	c.s.log.Warn("websocket client too slow: nothing received within client_body_timeout in the middle of a message; disconnecting",
		"remote", c.remote, "location", c.rt.Name, "client_body_timeout", c.rt.Publisher.BodyTimeout)
	c.fail(protocol.ClosePolicyViolation, "Message not received within client_body_timeout.")
}

// publishes reports whether the connection's messages are published.
func (c *wsConn) publishes() bool { return c.rt.Publisher.WebSocket && len(c.pubKeys) > 0 }

// maxMessage is the largest message the connection accepts: where it
// publishes, client_max_body_size (wsMaxMessage when that is 0);
// elsewhere only a heartbeat is meaningful, so the heartbeat's length, at
// least 125 bytes.
func (c *wsConn) maxMessage() int {
	if c.mux != nil {
		return c.mux.maxFrame()
	}
	if c.ps != nil {
		return c.ps.maxMessage()
	}
	if !c.publishes() {
		return max(protocol.MaxControlPayload, len(c.rt.Subscriber.WebSocket.HeartbeatIn))
	}
	if l := c.rt.Publisher.MaxBodySize; l > 0 {
		return int(min(l, math.MaxInt))
	}
	return wsMaxMessage
}

// tooBig closes a connection whose message is over maxMessage: 1009 where
// it publishes, and where it does not, 1008 as for any other publish.
func (c *wsConn) tooBig() {
	if c.mux == nil && c.ps == nil && !c.publishes() {
		c.fail(protocol.ClosePolicyViolation, "Publishing not allowed.")
		return
	}
	c.fail(protocol.CloseMessageTooBig, "Message too big.")
}

// handleFrame acts on a complete message or control frame; false ends the
// connection.
func (c *wsConn) handleFrame(m *protocol.WSMessage) bool {
	switch m.Op {
	case protocol.OpPing:
		c.out.write([][]byte{protocol.AppendPongFrame(nil, m.Data)})
		return true
	case protocol.OpPong:
		return true
	case protocol.OpClose:
		code, _ := protocol.ParseClosePayload(m.Data)
		if code == protocol.CloseNoStatus {
			code = protocol.CloseNormal
		}
		if !c.out.closeSent.Load() {
			c.out.write([][]byte{closeFrame(code, "")})
		}
		c.out.close()
		return false
	}
	body := m.Data
	if m.Compressed {
		var err error
		if body, err = c.inflate(body, int64(c.maxMessage())); err != nil {
			c.tooBig()
			return false
		}
	} else {
		// m.Data is the reader's buffer or the decoder's: the store keeps
		// what is published.
		body = append(make([]byte, 0, len(body)), body...)
	}
	if m.Op == protocol.OpText && !utf8.Valid(body) {
		c.fail(protocol.CloseInvalidPayload, "Invalid text frame (not UTF8).")
		return false
	}
	return c.handleMessage(m.Op, body)
}

// inflate decompresses one client message, keeping the window across
// messages unless the client promised client_no_context_takeover.
func (c *wsConn) inflate(p []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))
	fr := flate.NewReaderDict(src, c.dict)
	out, err := io.ReadAll(io.LimitReader(fr, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, errors.New("message too big")
	}
	if !c.hs.inflateReset {
		c.dict = append(c.dict, out...)
		if len(c.dict) > 32<<10 {
			c.dict = append([]byte(nil), c.dict[len(c.dict)-32<<10:]...)
		}
	}
	return out, nil
}

// fail closes the connection with code and reason.
func (c *wsConn) fail(code protocol.CloseCode, reason string) {
	c.out.closeSent.Store(true)
	c.out.write([][]byte{closeFrame(code, reason)})
	c.out.close()
}

// handleMessage publishes a client message; false ends the connection.
func (c *wsConn) handleMessage(op protocol.OpCode, body []byte) bool {
	if c.mux != nil {
		return c.mux.handle(op, body)
	}
	if c.ps != nil {
		return c.ps.handle(op, body)
	}
	rt := c.rt
	hb := &rt.Subscriber.WebSocket
	if op == protocol.OpText && hb.HeartbeatIn != "" && string(body) == hb.HeartbeatIn {
		c.out.write([][]byte{protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, []byte(hb.HeartbeatOut))})
		return true
	}
	if !c.publishes() {
		c.fail(protocol.ClosePolicyViolation, "Publishing not allowed.")
		return false
	}
	p := store.Publication{Body: body, ContentType: c.contentType}
	if op == protocol.OpBinary {
		p.ContentType = "application/octet-stream"
	}
	if rt.Hooks.Upstream != nil {
		switch status := c.s.upstreamed(context.Background(), rt, c.vars, &p, "websocket"); status {
		case 0:
		case http.StatusNoContent: // the application dropped it
			return true
		default:
			c.fail(wsCloseCode(status), strconv.Itoa(status)+" "+http.StatusText(status))
			return false
		}
	}
	res, err := c.s.publish(context.Background(), rt, c.pubKeys, p, "websocket", c.remote)
	if err != nil {
		herr := storeError(err)
		c.fail(wsCloseCode(herr.status), strconv.Itoa(herr.status)+" "+http.StatusText(herr.status))
		return false
	}
	c.pubEvent.Send(chanevents.ChannelPublish)
	if c.replyInfo {
		reply := res.info.append(nil, c.infoFormat, c.s.now())
		c.out.write([][]byte{protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, reply)})
	}
	return true
}

// wsCloseCode is the close code of a publish that failed with status.
func wsCloseCode(status int) protocol.CloseCode {
	switch {
	case status == http.StatusForbidden:
		return protocol.ClosePolicyViolation
	case status >= 500:
		return protocol.CloseInternalError
	}
	return protocol.CloseNormal
}
