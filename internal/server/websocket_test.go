package server_test

// WebSocket subscribers and publishers: handshake, frames, ws+meta.nchan,
// resume, control frames, close codes, fragments, protocol errors,
// publishing, heartbeats, pings and permessage-deflate.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestWebSocketHandshakeErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	base := []string{"Connection", "Upgrade", "Upgrade", "websocket"}
	cases := []struct {
		name    string
		headers []string
		msg     string
	}{
		{"no version", []string{"Sec-WebSocket-Key", wsKey}, "No Sec-Websocket-Version header present"},
		{"version 12", []string{"Sec-WebSocket-Version", "12", "Sec-WebSocket-Key", wsKey}, "Unsupported websocket protocol version (only version 13 is supported)"},
		{"no key", []string{"Sec-WebSocket-Version", "13"}, "No Sec-Websocket-Key header present"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("/sub/hse%d", i)
			c := openRaw(t, s, "GET", ch, append(append([]string{}, base...), tc.headers...)...)
			if c.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", c.Status)
			}
			if got := strings.TrimSpace(c.body(t)); got != tc.msg {
				t.Errorf("body %q, want %q", got, tc.msg)
			}
			waitSubscribers(t, s, ch[len("/sub/"):], 0)
		})
	}
}

func TestWebSocketHandshake(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	long := strings.Repeat("k", 120)
	for _, key := range []string{wsKey, "  " + wsKey + "  ", long} {
		c := openRaw(t, s, "GET", "/sub/hs", "Connection", "keep-alive, Upgrade", "Upgrade", "websocket",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", key)
		if c.Status != http.StatusSwitchingProtocols {
			t.Fatalf("key %q: status %d, want 101", key, c.Status)
		}
		if got, want := c.Header.Get("Sec-WebSocket-Accept"), wsAccept(key); got != want {
			t.Errorf("key %q: Sec-WebSocket-Accept %q, want %q", key, got, want)
		}
		if !strings.EqualFold(c.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(c.Header.Get("Connection"), "upgrade") {
			t.Errorf("101 with Upgrade %q Connection %q", c.Header.Get("Upgrade"), c.Header.Get("Connection"))
		}
		if p := c.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			t.Errorf("Sec-WebSocket-Protocol %q without one requested", p)
		}
		if e := c.Header.Get("Sec-WebSocket-Extensions"); e != "" {
			t.Errorf("Sec-WebSocket-Extensions %q without one offered", e)
		}
		c.conn.Close()
	}
	if wsAccept(wsKey) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("test's accept computation is wrong")
	}
}

// TestWebSocketFrames uses gobwas/ws's Dialer as a client would.
func TestWebSocketFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, hs, err := ws.Dialer{Timeout: 3 * time.Second}.Dial(ctx, "ws://"+s.addr()+"/sub/wsf")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if hs.Protocol != "" {
		t.Errorf("protocol %q without one requested", hs.Protocol)
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	c := &rawConn{conn: conn, br: br}
	waitSubscribers(t, s, "wsf", 1)
	publish(t, s, "wsf", "hello")
	c.expectFrame(t, ws.OpText, "hello")
	publish(t, s, "wsf", `{"a":1}`, "Content-Type", "application/json")
	c.expectFrame(t, ws.OpText, `{"a":1}`)
	bin := "\x00\x01\xff\xfe binary"
	publish(t, s, "wsf", bin, "Content-Type", "application/octet-stream")
	c.expectFrame(t, ws.OpBinary, bin)
	publish(t, s, "wsf", "")
	c.expectFrame(t, ws.OpText, "")
	big := strings.Repeat("0123456789", 7000) // 64-bit length header
	publish(t, s, "wsf", big)
	c.expectFrame(t, ws.OpText, big)
}

func TestWebSocketMeta(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openWebSocket(t, s, "/sub/wsm", "Sec-WebSocket-Protocol", "ws+meta.nchan")
	if p := c.Header.Get("Sec-WebSocket-Protocol"); p != "ws+meta.nchan" {
		t.Fatalf("Sec-WebSocket-Protocol %q, want ws+meta.nchan", p)
	}
	id, _ := publish(t, s, "wsm", "one", "Content-Type", "text/plain")
	c.expectFrame(t, ws.OpText, "id: "+id.String()+"\ncontent-type: text/plain\n\none")
	id, _ = publish(t, s, "wsm", "two")
	c.expectFrame(t, ws.OpText, "id: "+id.String()+"\n\ntwo")
	id, _ = publish(t, s, "wsm", "\x00\x01", "Content-Type", "application/octet-stream")
	c.expectFrame(t, ws.OpBinary, "id: "+id.String()+"\ncontent-type: application/octet-stream\n\n\x00\x01")
	id, _ = publish(t, s, "wsm", "")
	c.expectFrame(t, ws.OpText, "id: "+id.String()+"\n\n")
}

func TestWebSocketResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	cases := []struct {
		name string
		mode resumeMode
	}{
		{"last_event_id query", byQuery},
		{"Last-Event-ID header", byLastEventID},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("wsres%d", i)
			ids := publishN(t, s, ch, "m", 3)
			u, h := resumeWithID(t, "/sub/"+ch, tc.mode, ids[0].String())
			c := openWebSocket(t, s, u, append([]string{"Sec-WebSocket-Protocol", "ws+meta.nchan"}, h...)...)
			c.expectFrame(t, ws.OpText, "id: "+ids[1].String()+"\n\nm2")
			c.expectFrame(t, ws.OpText, "id: "+ids[2].String()+"\n\nm3")
			c.expectSilence(t, 150*time.Millisecond)
			id4, _ := publish(t, s, ch, "m4")
			c.expectFrame(t, ws.OpText, "id: "+id4.String()+"\n\nm4")
		})
	}
}

func TestWebSocketControl(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	t.Run("ping gets pong", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/wsc1")
		c.send(t, ws.OpPing, []byte("are you there?"), true, false)
		c.expectFrame(t, ws.OpPong, "are you there?")
		c.send(t, ws.OpPing, nil, true, false)
		c.expectFrame(t, ws.OpPong, "")
		// Still subscribed after control traffic.
		publish(t, s, "wsc1", "after ping")
		c.expectFrame(t, ws.OpText, "after ping")
	})
	t.Run("client close is echoed", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/wsc2")
		c.send(t, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), true, false)
		c.expectClose(t, ws.StatusNormalClosure, "*")
		waitSubscribers(t, s, "wsc2", 0)
	})
	t.Run("client close 1001 is echoed", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/wsc3")
		c.send(t, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""), true, false)
		c.expectClose(t, ws.StatusGoingAway, "*")
	})
	t.Run("channel delete closes 1001 410 Gone", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/wsc4")
		publish(t, s, "wsc4", "x")
		c.expectFrame(t, ws.OpText, "x")
		deleteChannel(t, s, "wsc4")
		c.expectClose(t, ws.StatusGoingAway, "410 Gone")
	})
}

// TestWebSocketServerClose: after a server-initiated close (channel
// deleted, subscriber timeout) the client answers with its own close frame,
// as RFC 6455 §5.5.1 requires; the server, having sent its close already,
// must then just close the TCP connection (no second close frame) and do so
// at once rather than after its linger.
func TestWebSocketServerClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	cases := []struct {
		name, target string
		trigger      func(t *testing.T)
		code         ws.StatusCode
		reason       string
	}{
		{"channel deleted", "/sub/wssc1", func(t *testing.T) {
			deleteChannel(t, s, "wssc1")
		}, ws.StatusGoingAway, "410 Gone"},
		{"subscriber timeout", "/timeout/wssc2", func(t *testing.T) {}, ws.StatusNormalClosure, "408 408 Request Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := openWebSocket(t, s, tc.target)
			tc.trigger(t)
			h, p := c.frame(t, 3*time.Second)
			code, reason := ws.ParseCloseFrameData(p)
			if h.OpCode != ws.OpClose || code != tc.code || reason != tc.reason {
				t.Fatalf("frame op %d %q, want close %d %q", h.OpCode, p, tc.code, tc.reason)
			}
			c.send(t, ws.OpClose, ws.NewCloseFrameBody(code, ""), true, false)
			start := time.Now()
			rest, err := c.drain(2 * time.Second)
			if err != nil {
				t.Fatalf("connection still open after the close handshake: %v", err)
			}
			if rest != "" {
				t.Errorf("server sent %q after its own close frame and the client's reply; want nothing (a second close frame breaks RFC 6455 §5.5.1)", rest)
			}
			if d := time.Since(start); d > 200*time.Millisecond {
				t.Errorf("connection closed %v after the client's close reply, want at once", d)
			}
		})
	}
}

// TestWebSocketFragments: a message sent in fragments is published
// whole; a ping between fragments is answered at once.
func TestWebSocketFragments(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	a := openWebSocket(t, s, "/pubsub/frag")
	write := func(op ws.OpCode, fin bool, p string) {
		a.writeFrame(t, ws.MaskFrame(ws.NewFrame(op, fin, []byte(p))))
	}
	write(ws.OpText, false, "hel")
	write(ws.OpPing, true, "mid")
	a.expectFrame(t, ws.OpPong, "mid")
	write(ws.OpContinuation, false, "lo ")
	write(ws.OpContinuation, true, "world")
	a.expectFrame(t, ws.OpText, "hello world")
	if n := queued(t, s, "frag"); n != 1 {
		t.Errorf("queued messages %d, want 1", n)
	}
	// A continuation with no message started is a protocol error.
	b := openWebSocket(t, s, "/pubsub/frag2")
	b.send(t, ws.OpContinuation, []byte("orphan"), true, false)
	b.expectClose(t, ws.StatusProtocolError, "*")
}

// TestWebSocketProtocolErrors: bad client frames close the
// connection with the right code and publish nothing.
func TestWebSocketProtocolErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	cases := []struct {
		name    string
		loc     string
		op      ws.OpCode
		payload []byte
		masked  bool
		rsv1    bool
		code    ws.StatusCode
		reason  string
	}{
		{"invalid UTF-8 text", "pubsub", ws.OpText, []byte("bad \xff\xfe utf8"), true, false, ws.StatusInvalidFramePayloadData, "Invalid text frame (not UTF8)."},
		{"over client_max_body_size", "small", ws.OpText, []byte("seventeen bytes!!"), true, false, ws.StatusMessageTooBig, "*"},
		{"binary over client_max_body_size", "small", ws.OpBinary, bytes.Repeat([]byte{1}, 4000), true, false, ws.StatusMessageTooBig, "*"},
		{"control frame of 126 bytes", "sub", ws.OpPing, bytes.Repeat([]byte("p"), 126), true, false, ws.StatusProtocolError, "*"},
		{"unmasked frame", "pubsub", ws.OpText, []byte("naked"), false, false, ws.StatusProtocolError, "*"},
		{"RSV1 without permessage-deflate", "pubsub", ws.OpText, []byte("x"), true, true, ws.StatusProtocolError, "*"},
		{"text on a subscriber-only location", "sub", ws.OpText, []byte("let me publish"), true, false, ws.StatusPolicyViolation, "Publishing not allowed."},
		{"binary on a subscriber-only location", "sub", ws.OpBinary, []byte{1, 2}, true, false, ws.StatusPolicyViolation, "Publishing not allowed."},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("wspe%d", i)
			c := openWebSocket(t, s, "/"+tc.loc+"/"+ch)
			c.send(t, tc.op, tc.payload, tc.masked, tc.rsv1)
			c.expectClose(t, tc.code, tc.reason)
			if n := queued(t, s, ch); n != 0 {
				t.Errorf("%d messages published by a rejected frame", n)
			}
		})
	}
	// Within the limit on /small, publishing works.
	c := openWebSocket(t, s, "/small/wspeok")
	c.send(t, ws.OpText, []byte("sixteen bytes!!!"), true, false)
	c.expectFrame(t, ws.OpText, "sixteen bytes!!!")
}

// TestWebSocketPublishPubsub: on a pubsub location a WebSocket is an
// echo: it gets its own messages back as a subscriber and no info replies;
// other subscribers get them too.
func TestWebSocketPublishPubsub(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	a := openWebSocket(t, s, "/pubsub/wpp", "Content-Type", "text/x-custom")
	b := openWebSocket(t, s, "/sub/wpp", "Sec-WebSocket-Protocol", "ws+meta.nchan")
	e := openEventSource(t, s, "/sub/wpp")
	waitSubscribers(t, s, "wpp", 3)

	a.send(t, ws.OpText, []byte("hello"), true, false)
	a.expectFrame(t, ws.OpText, "hello")
	id := b.metaID(t, ws.OpText, "text/x-custom", "hello")
	e.expect(t, sseEvent("", id, "hello"))

	a.send(t, ws.OpBinary, []byte{0, 1, 2}, true, false)
	a.expectFrame(t, ws.OpBinary, "\x00\x01\x02")
	id = b.metaID(t, ws.OpBinary, "application/octet-stream", "\x00\x01\x02")
	e.expect(t, sseEvent("", id, "\x00\x01\x02"))

	a.send(t, ws.OpText, []byte("two"), true, false)
	a.expectFrame(t, ws.OpText, "two") // not a channel info frame
	a.expectSilence(t, 200*time.Millisecond)
	if n := queued(t, s, "wpp"); n != 3 {
		t.Errorf("queued messages %d, want 3", n)
	}
	// The id in the stream is the publisher's last message id.
	last := getInfo(t, s.URL+"/pub/wpp").ID.String()
	id = b.metaID(t, ws.OpText, "text/x-custom", "two")
	if last != id {
		t.Errorf("last message id %q, subscriber saw %q", last, id)
	}
}

// TestWebSocketPublishLocation: a WebSocket on a publisher location
// publishes each frame and is answered with the channel info.
func TestWebSocketPublishLocation(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	e := openEventSource(t, s, "/sub/wpl")
	p := openWebSocket(t, s, "/pub/wpl")
	pj := openWebSocket(t, s, "/pub/wpl", "Accept", "application/json")
	for i, tc := range []struct {
		c  *rawConn
		re *regexp.Regexp
	}{{p, infoRE}, {pj, infoJSONRE}} {
		body := fmt.Sprintf("published over websocket %d", i+1)
		tc.c.send(t, ws.OpText, []byte(body), true, false)
		h, p := tc.c.frame(t, 3*time.Second)
		info, err := tryParseInfo(tc.re, string(p))
		if h.OpCode != ws.OpText || err != nil {
			t.Fatalf("reply op %d %q, want a channel info text frame", h.OpCode, p)
		}
		if info.Messages != i+1 || info.Subscribers != 1 {
			t.Errorf("info %q: want %d messages and 1 subscriber", p, i+1)
		}
		e.expect(t, sseEvent("", info.ID.String(), body))
	}
	// The publisher socket is not a subscriber.
	p.expectSilence(t, 150*time.Millisecond)
	if n := subscribers(t, s, "wpl"); n != 1 {
		t.Errorf("active subscribers %d, want 1 (publisher sockets do not count)", n)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openWebSocket(t, s, "/hb/beat")
	for range 2 {
		c.send(t, ws.OpText, []byte("PING"), true, false)
		c.expectFrame(t, ws.OpText, "PONG")
	}
	if n := queued(t, s, "beat"); n != 0 {
		t.Errorf("heartbeat was published: %d messages", n)
	}
	publish(t, s, "beat", "still subscribed")
	c.expectFrame(t, ws.OpText, "still subscribed")
	// Anything else is a publish attempt on a subscriber location.
	c.send(t, ws.OpText, []byte("PING2"), true, false)
	c.expectClose(t, ws.StatusPolicyViolation, "Publishing not allowed.")
}

func TestWebSocketPingInterval(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openWebSocket(t, s, "/wsping/p")
	start := time.Now()
	for range 2 {
		h, p := c.frame(t, 2*time.Second)
		if h.OpCode != ws.OpPing || !h.Fin || h.Rsv != 0 {
			t.Fatalf("frame op %d %q, want a ping", h.OpCode, p)
		}
		c.send(t, ws.OpPong, p, true, false)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("two pings within %v, want them 150ms apart", d)
	}
	// No pings without the setting.
	q := openWebSocket(t, s, "/sub/p")
	q.expectSilence(t, 400*time.Millisecond)
}

func TestWebSocketDeflate(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	body := strings.Repeat("compress me, compress me again. ", 100)

	t.Run("negotiation", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/dfneg", "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
		ext := c.Header.Get("Sec-WebSocket-Extensions")
		if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
			t.Fatalf("Sec-WebSocket-Extensions %q, want permessage-deflate with server_no_context_takeover", ext)
		}
		// deflate_message_for_websocket is off at /pub: plain frames.
		publish(t, s, "dfneg", body)
		c.expectFrame(t, ws.OpText, body)
	})
	t.Run("compressed frames", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/dfon", "Sec-WebSocket-Extensions", "permessage-deflate")
		for i := range 2 {
			b := fmt.Sprintf("%d %s", i, body)
			publishTo(t, s, "/pubdeflate/dfon", b)
			h, p := c.frame(t, 3*time.Second)
			if h.OpCode != ws.OpText || !h.Fin || !h.Rsv1() {
				t.Fatalf("frame op %d fin %v rsv %d, want a text frame with RSV1", h.OpCode, h.Fin, h.Rsv)
			}
			if len(p) >= len(b) {
				t.Errorf("compressed payload %d bytes for a %d-byte body", len(p), len(b))
			}
			// server_no_context_takeover: each frame inflates on its own.
			if got := inflate(t, p); got != b {
				t.Fatalf("inflated %q..., want %q...", got[:min(40, len(got))], b[:40])
			}
		}
		publishTo(t, s, "/pubdeflate/dfon", "\x00\x01", "Content-Type", "application/octet-stream")
		h, p := c.frame(t, 3*time.Second)
		if h.OpCode != ws.OpBinary || !h.Rsv1() || inflate(t, p) != "\x00\x01" {
			t.Fatalf("binary message: op %d rsv %d, want a compressed binary frame", h.OpCode, h.Rsv)
		}
	})
	t.Run("compressed ws+meta", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/dfmeta", "Sec-WebSocket-Extensions", "permessage-deflate", "Sec-WebSocket-Protocol", "ws+meta.nchan")
		id, _ := publishTo(t, s, "/pubdeflate/dfmeta", body, "Content-Type", "text/plain")
		h, p := c.frame(t, 3*time.Second)
		if !h.Rsv1() {
			t.Fatalf("frame without RSV1")
		}
		if got, want := inflate(t, p), "id: "+id.String()+"\ncontent-type: text/plain\n\n"+body; got != want {
			t.Fatalf("inflated %q..., want %q...", got[:min(60, len(got))], want[:60])
		}
	})
	t.Run("not offered: plain frames", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/dfoff")
		if ext := c.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
			t.Errorf("Sec-WebSocket-Extensions %q without an offer", ext)
		}
		publishTo(t, s, "/pubdeflate/dfoff", body)
		c.expectFrame(t, ws.OpText, body)
	})
	t.Run("the publisher location decides", func(t *testing.T) {
		t.Parallel()
		// As in Nchan: messages published through a location with
		// deflate_message_for_websocket go out compressed to every client
		// that negotiated permessage-deflate; messages from other publisher
		// locations do not, and the subscriber location's setting changes
		// nothing.
		clients := []struct {
			name, path string
			ext, meta  bool
		}{
			{"deflate", "/sub/dfpub", true, false},
			{"deflate and ws+meta", "/sub/dfpub", true, true},
			{"no extension", "/sub/dfpub", false, false},
			{"deflate on a location that sets deflate", "/subdeflate/dfpub", true, false},
		}
		conns := make([]*rawConn, len(clients))
		for i, c := range clients {
			var hd []string
			if c.ext {
				hd = append(hd, "Sec-WebSocket-Extensions", "permessage-deflate")
			}
			if c.meta {
				hd = append(hd, "Sec-WebSocket-Protocol", "ws+meta.nchan")
			}
			conns[i] = openWebSocket(t, s, c.path, hd...)
		}
		waitSubscribers(t, s, "dfpub", len(clients))
		for i, pub := range []string{"/pub/", "/pubdeflate/", "/pubdeflate/", "/pub/", "/pubdeflate1/"} {
			b := fmt.Sprintf("%d via %s: %s", i, pub, body)
			id, _ := publishTo(t, s, pub+"dfpub", b, "Content-Type", "text/plain")
			for j, c := range clients {
				h, p := conns[j].frame(t, 3*time.Second)
				compressed := c.ext && pub != "/pub/"
				if h.OpCode != ws.OpText || !h.Fin || h.Rsv1() != compressed {
					t.Fatalf("%s, message %d via %s: frame op %d fin %v rsv1 %v, want a text frame with rsv1 %v",
						c.name, i, pub, h.OpCode, h.Fin, h.Rsv1(), compressed)
				}
				got := string(p)
				if compressed {
					got = inflate(t, p)
				}
				want := b
				if c.meta {
					want = "id: " + id.String() + "\ncontent-type: text/plain\n\n" + b
				}
				if got != want {
					t.Fatalf("%s, message %d: %.60q..., want %.60q...", c.name, i, got, want)
				}
			}
		}
	})
	t.Run("the publisher location's compression level", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/sub/dflevel", "Sec-WebSocket-Extensions", "permessage-deflate")
		waitSubscribers(t, s, "dflevel", 1)
		b := strings.Repeat("abcdefghij0123456789klmnopqrstuvwxyz", 40) + body
		level1, level9 := deflateAt(t, b, flate.BestSpeed), deflateAt(t, b, flate.BestCompression)
		if bytes.Equal(level1, level9) {
			t.Fatal("test setup: the body compresses the same at levels 1 and 9")
		}
		for _, tc := range []struct {
			pub  string
			want []byte
		}{{"/pubdeflate1/", level1}, {"/pubdeflate/", deflateAt(t, b, 6)}} {
			publishTo(t, s, tc.pub+"dflevel", b)
			if _, p := c.frame(t, 3*time.Second); !bytes.Equal(p, tc.want) {
				t.Fatalf("via %s: a %d-byte payload, not the body compressed at that location's level (%d bytes)", tc.pub, len(p), len(tc.want))
			}
		}
	})
	t.Run("compressed client frame is published decompressed", func(t *testing.T) {
		t.Parallel()
		a := openWebSocket(t, s, "/pubsub/dfin", "Sec-WebSocket-Extensions", "permessage-deflate")
		sub := openEventSource(t, s, "/sub/dfin")
		msg := "client says: " + body
		a.send(t, ws.OpText, deflate(t, msg), true, true)
		a.expectFrame(t, ws.OpText, msg) // the pubsub location does not deflate
		sub.expect(t, sseEvent("", getInfo(t, s.URL+"/pub/dfin").ID.String(), msg))
		// A second, independently compressed message.
		a.send(t, ws.OpText, deflate(t, "again "+msg), true, true)
		a.expectFrame(t, ws.OpText, "again "+msg)
	})
	t.Run("client context takeover", func(t *testing.T) {
		t.Parallel()
		// Browsers keep their compression window across messages unless
		// client_no_context_takeover was agreed: the second message refers
		// back to the first.
		a := openWebSocket(t, s, "/pubsub/dfctx", "Sec-WebSocket-Extensions", "permessage-deflate")
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		var sent []string
		for i := range 3 {
			msg := fmt.Sprintf("%d: %s", i, body)
			w.Write([]byte(msg))
			w.Flush()
			p := bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
			if i > 0 && len(p) > 40 {
				t.Fatalf("test setup: message %d compressed to %d bytes, expected a back-reference", i, len(p))
			}
			a.send(t, ws.OpText, append([]byte(nil), p...), true, true)
			buf.Reset()
			sent = append(sent, msg)
		}
		for _, msg := range sent {
			a.expectFrame(t, ws.OpText, msg)
		}
	})
}
