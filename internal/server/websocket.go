package server

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/chaninfo"
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
	meta         bool // ws+meta.nchan
	deflate      bool // permessage-deflate accepted
	sendDeflated bool // the client allows our uncontexted compressed frames
	inflateReset bool // client_no_context_takeover
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
	resp.Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	if hs.meta {
		resp.Set("Sec-WebSocket-Protocol", wsMetaProtocol)
	}
	if ext != "" {
		resp.Set("Sec-WebSocket-Extensions", ext)
	}
	copyCORS(resp, w.Header())
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

// negotiateDeflate accepts the first permessage-deflate offer. Herald
// compresses each message once for every subscriber, so it never keeps
// compression context: it answers server_no_context_takeover, and sends
// compressed frames only when the client allows a full 32 KiB window.
func negotiateDeflate(offers []string, hs *wsHandshake) (string, error) {
	for _, header := range offers {
		for offer := range strings.SplitSeq(header, ",") {
			params := strings.Split(offer, ";")
			if strings.TrimSpace(params[0]) != "permessage-deflate" {
				continue
			}
			reply := "permessage-deflate; server_no_context_takeover"
			hs.sendDeflated = true
			for _, p := range params[1:] {
				name, val, hasVal := strings.Cut(strings.TrimSpace(p), "=")
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch strings.TrimSpace(name) {
				case "server_no_context_takeover":
				case "client_no_context_takeover":
					hs.inflateReset = true
					reply += "; client_no_context_takeover"
				case "server_max_window_bits":
					n, err := strconv.Atoi(val)
					if !hasVal || err != nil || n < 8 || n > 15 {
						return "", errors.New("invalid server_max_window_bits permessage-deflate setting")
					}
					if n < 15 {
						hs.sendDeflated = false // Go's compressor always uses a 32 KiB window.
					}
					reply += "; server_max_window_bits=" + val
				case "client_max_window_bits":
					if hasVal {
						n, err := strconv.Atoi(val)
						if err != nil || n < 8 || n > 15 {
							return "", errors.New("invalid client_max_window_bits permessage-deflate setting")
						}
					}
				default:
					return "", errors.New("invalid permessage-deflate setting " + strings.TrimSpace(name))
				}
			}
			hs.deflate = true
			return reply, nil
		}
	}
	return "", nil
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
}

func (f *wsFormat) message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte {
	deflate := f.deflate && m.Deflate > 0
	if !single && f.meta {
		return append(bufs, f.build(m, id.String(), deflate).Parts...)
	}
	slot := slotWSPlain
	switch {
	case f.meta && deflate:
		slot = slotWSMetaDeflate
	case f.meta:
		slot = slotWSMeta
	case deflate:
		slot = slotWSPlainDeflate
	}
	enc := m.Encoded(slot, func(m *store.Message) store.Encoding { return f.build(m, m.ID.String(), deflate) })
	return append(bufs, enc.Parts...)
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

func (f *wsFormat) end(status int, reason string) []byte { return wsCloseFor(status, reason) }

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
	go wc.readLoop()
	if ss == nil {
		// Publisher only: the reader owns the connection; wait for the end.
		go func() {
			defer s.streams.done()
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
	f := &wsFormat{s: s, meta: hs.meta, deflate: hs.sendDeflated}
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
}

// readLoop reads client frames until the connection ends: it answers pings,
// echoes closes, publishes messages and closes with the right code on
// protocol errors. While idle it sits in a shallow read of one byte, so the
// goroutine's stack stays small; the frame is parsed in readFrame.
func (c *wsConn) readLoop() {
	defer c.out.markGone()
	var first [1]byte
	rs := &wsReadState{}
	for {
		if _, err := c.out.conn.Read(first[:]); err != nil {
			return
		}
		if !c.readFrame(first[0], rs) {
			return
		}
	}
}

// wsReadState is a message being assembled from fragments.
type wsReadState struct {
	msg        []byte
	op         ws.OpCode
	compressed bool
}

// byteThenReader yields one byte already read, then the rest of r.
type byteThenReader struct {
	b    byte
	done bool
	r    io.Reader
}

func (br *byteThenReader) Read(p []byte) (int, error) {
	if !br.done && len(p) > 0 {
		br.done = true
		p[0] = br.b
		return 1, nil
	}
	return br.r.Read(p)
}

// readFrame reads the frame starting with byte first and acts on it; false
// ends the connection.
func (c *wsConn) readFrame(first byte, rs *wsReadState) bool {
	conn := c.out.conn
	limit := c.rt.Publisher.MaxBodySize
	if limit <= 0 {
		limit = 1 << 30
	}
	var hdrBuf [ws.MaxHeaderSize - 2]byte
	hdr, err := ws.ReadHeaderBuffer(&byteThenReader{b: first, r: conn}, hdrBuf[:])
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			c.fail(ws.StatusProtocolError, "Invalid frame header.")
		}
		return false
	}
	rsv1 := hdr.Rsv&0x4 != 0
	switch {
	case !hdr.Masked:
		c.fail(ws.StatusProtocolError, "Client frames must be masked.")
		return false
	case hdr.Rsv&0x3 != 0 || (rsv1 && (!c.hs.deflate || hdr.OpCode.IsControl() || hdr.OpCode == ws.OpContinuation)):
		c.fail(ws.StatusProtocolError, "Unexpected reserved bits.")
		return false
	case hdr.OpCode.IsControl() && (hdr.Length > 125 || !hdr.Fin):
		c.fail(ws.StatusProtocolError, "Control frame too long or fragmented.")
		return false
	case hdr.OpCode.IsReserved():
		c.fail(ws.StatusProtocolError, "Unknown opcode.")
		return false
	case !hdr.OpCode.IsControl() && int64(len(rs.msg))+hdr.Length > limit:
		c.fail(ws.StatusMessageTooBig, "Message too big.")
		return false
	}
	payload := make([]byte, hdr.Length)
	if _, err := io.ReadFull(conn, payload); err != nil {
		return false
	}
	ws.Cipher(payload, hdr.Mask, 0)
	switch hdr.OpCode {
	case ws.OpPing:
		c.out.write([][]byte{protocol.AppendPongFrame(nil, payload)})
		return true
	case ws.OpPong:
		return true
	case ws.OpClose:
		code := ws.StatusNormalClosure
		if len(payload) >= 2 {
			code = ws.StatusCode(uint16(payload[0])<<8 | uint16(payload[1]))
		}
		if !c.out.closeSent.Load() {
			c.out.write([][]byte{closeFrame(protocol.CloseCode(code), "")})
		}
		c.out.close()
		return false
	case ws.OpContinuation:
		if rs.msg == nil {
			c.fail(ws.StatusProtocolError, "Continuation without a message.")
			return false
		}
	default: // text or binary
		if rs.msg != nil {
			c.fail(ws.StatusProtocolError, "New message inside a fragmented one.")
			return false
		}
		rs.op, rs.compressed = hdr.OpCode, rsv1
		rs.msg = make([]byte, 0, hdr.Length)
	}
	rs.msg = append(rs.msg, payload...)
	if !hdr.Fin {
		return true
	}
	body := rs.msg
	rs.msg = nil
	if rs.compressed {
		if body, err = c.inflate(body, limit); err != nil {
			c.fail(ws.StatusMessageTooBig, "Message too big.")
			return false
		}
	}
	if rs.op == ws.OpText && !utf8.Valid(body) {
		c.fail(ws.StatusInvalidFramePayloadData, "Invalid text frame (not UTF8).")
		return false
	}
	return c.handleMessage(rs.op, body)
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

func (c *wsConn) fail(code ws.StatusCode, reason string) {
	c.out.closeSent.Store(true)
	c.out.write([][]byte{closeFrame(protocol.CloseCode(code), reason)})
	c.out.close()
}

// handleMessage publishes a client message; false ends the connection.
func (c *wsConn) handleMessage(op ws.OpCode, body []byte) bool {
	rt := c.rt
	hb := &rt.Subscriber.WebSocket
	if op == ws.OpText && hb.HeartbeatIn != "" && string(body) == hb.HeartbeatIn {
		c.out.write([][]byte{protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, []byte(hb.HeartbeatOut))})
		return true
	}
	if !rt.Publisher.WebSocket || len(c.pubKeys) == 0 {
		c.fail(ws.StatusPolicyViolation, "Publishing not allowed.")
		return false
	}
	p := store.Publication{Body: body, ContentType: c.contentType}
	if op == ws.OpBinary {
		p.ContentType = "application/octet-stream"
	}
	res, err := c.s.publish(context.Background(), rt, c.pubKeys, p, "websocket", c.remote)
	if err != nil {
		herr := storeError(err)
		c.fail(wsCloseCode(herr.status), strconv.Itoa(herr.status)+" "+http.StatusText(herr.status))
		return false
	}
	if c.replyInfo {
		reply := res.info.append(nil, c.infoFormat, c.s.now())
		c.out.write([][]byte{protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, reply)})
	}
	return true
}

func wsCloseCode(status int) ws.StatusCode {
	switch {
	case status == http.StatusForbidden:
		return ws.StatusPolicyViolation
	case status >= 500:
		return ws.StatusInternalServerError
	}
	return ws.StatusNormalClosure
}
