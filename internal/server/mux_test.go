package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/protocol"
)

// muxConfig has /mux (herald.v1, pubsub), /sub/<id> and /pub/<id>, and
// extra lines on /mux.
func muxConfig(extra ...string) string {
	return testConfig(nil,
		location("= /mux", append([]string{"pubsub: true", "websocket_multiplex: on", "message_buffer_length: 20"}, extra...)...),
		prefixLocation("sub", "subscriber: true"),
		prefixLocation("pub", "publisher: true", "message_buffer_length: 20"))
}

// openMux opens a herald.v1 connection and checks the subprotocol answer.
func openMux(t testing.TB, s *testServer, target string, extra ...string) *rawConn {
	t.Helper()
	c := openWebSocket(t, s, target, append([]string{"Sec-WebSocket-Protocol", "herald.v1"}, extra...)...)
	if got := c.Header.Get("Sec-WebSocket-Protocol"); got != protocol.MuxProtocol {
		t.Fatalf("Sec-WebSocket-Protocol %q, want %q", got, protocol.MuxProtocol)
	}
	return c
}

// sendOp sends one frame as JSON.
func (c *rawConn) sendOp(t testing.TB, f protocol.MuxFrame) {
	t.Helper()
	c.send(t, ws.OpText, protocol.AppendMuxFrame(nil, &f), true, false)
}

// nextOp reads one herald.v1 frame, skipping pings.
func (c *rawConn) nextOp(t testing.TB) *protocol.MuxFrame {
	t.Helper()
	for {
		h, p := c.frame(t, 3*time.Second)
		if h.OpCode == ws.OpPing {
			continue
		}
		if h.OpCode != ws.OpText {
			t.Fatalf("frame op %d %q, want a text frame", h.OpCode, p)
		}
		if !json.Valid(p) {
			t.Fatalf("frame %q is not JSON", p)
		}
		f, err := protocol.ParseMuxFrame(p)
		if err != nil {
			t.Fatalf("frame %q: %v", p, err)
		}
		return f
	}
}

// expectOp reads a frame and checks its op, ref and channel.
func (c *rawConn) expectOp(t testing.TB, op protocol.MuxOp, ref uint64, channel string) *protocol.MuxFrame {
	t.Helper()
	f := c.nextOp(t)
	if f.Op != op || f.Ref != ref || f.Channel != channel {
		t.Fatalf("got %+v, want op %s ref %d channel %q", f, op, ref, channel)
	}
	return f
}

// expectMsg reads a message frame of channel with data.
func (c *rawConn) expectMsg(t testing.TB, channel, data string) string {
	t.Helper()
	f := c.expectOp(t, protocol.MuxMessage, 0, channel)
	if string(f.Data) != data {
		t.Fatalf("message data %q, want %q", f.Data, data)
	}
	return f.ID
}

func TestMuxSubscribeChangeOnTheFly(t *testing.T) {
	s := startServer(t, muxConfig())
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", From: "end", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "a")
	publish(t, s, "a", "a1")
	c.expectMsg(t, "a", "a1")
	// Join b while a is live; both arrive tagged with their channel.
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "b", From: "end", Ref: 2})
	c.expectOp(t, protocol.MuxAck, 2, "b")
	publish(t, s, "b", "b1")
	c.expectMsg(t, "b", "b1")
	publish(t, s, "a", "a2")
	c.expectMsg(t, "a", "a2")
	// Leave a: nothing of it after the ack.
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "a", Ref: 3})
	c.expectOp(t, protocol.MuxAck, 3, "a")
	waitSubscribers(t, s, "a", 0)
	publish(t, s, "a", "a3")
	publish(t, s, "b", "b2")
	c.expectMsg(t, "b", "b2")
	// Errors answer the frame and keep the connection.
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "a", Ref: 4})
	if f := c.expectOp(t, protocol.MuxError, 4, "a"); f.Status != http.StatusNotFound {
		t.Fatalf("unsubscribe twice: %+v, want 404", f)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "b", Ref: 5})
	if f := c.expectOp(t, protocol.MuxError, 5, "b"); f.Status != http.StatusConflict {
		t.Fatalf("subscribe twice: %+v, want 409", f)
	}
	c.send(t, ws.OpText, []byte(`{"op":"subscribe","ref":6}`), true, false)
	if f := c.expectOp(t, protocol.MuxError, 6, ""); f.Status != http.StatusBadRequest {
		t.Fatalf("bad frame: %+v, want 400", f)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPing, Ref: 7})
	c.expectOp(t, protocol.MuxPong, 7, "")
}

func TestMuxResumeEachChannelFromItsOwnID(t *testing.T) {
	s := startServer(t, muxConfig())
	a1, _ := publish(t, s, "a", "a1")
	publish(t, s, "a", "a2")
	publish(t, s, "b", "b1")
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", From: a1.String(), Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "a")
	c.expectMsg(t, "a", "a2")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "b", From: "start", Ref: 2})
	c.expectOp(t, protocol.MuxAck, 2, "b")
	id := c.expectMsg(t, "b", "b1")
	b2, _ := publish(t, s, "b", "b2")
	if got := c.expectMsg(t, "b", "b2"); got != b2.String() || got == id {
		t.Fatalf("id %q, want %q", got, b2)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "c", From: "nonsense:x", Ref: 3})
	if f := c.expectOp(t, protocol.MuxError, 3, "c"); f.Status != http.StatusBadRequest {
		t.Fatalf("bad from: %+v", f)
	}
}

func TestMuxPublishAck(t *testing.T) {
	s := startServer(t, muxConfig("client_max_body_size: 10"))
	sub := openWebSocket(t, s, "/sub/room")
	waitSubscribers(t, s, "room", 1)
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "room", Data: []byte("hello"), ContentType: "text/plain", Ref: 9})
	ack := c.expectOp(t, protocol.MuxAck, 9, "room")
	if ack.ID == "" || ack.Status != http.StatusCreated {
		t.Fatalf("ack %+v, want an id and 201", ack)
	}
	sub.expectFrame(t, ws.OpText, "hello")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "room", Data: []byte{0, 1, 2, 0xff}, Ref: 10})
	bin := c.expectOp(t, protocol.MuxAck, 10, "room")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "room", From: ack.ID, Ref: 11})
	c.expectOp(t, protocol.MuxAck, 11, "room")
	f := c.expectOp(t, protocol.MuxMessage, 0, "room")
	if string(f.Data) != "\x00\x01\x02\xff" || f.ID != bin.ID {
		t.Fatalf("binary message %+v, want the bytes with id %s", f, bin.ID)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "room", Data: []byte("more than ten"), Ref: 12})
	if e := c.expectOp(t, protocol.MuxError, 12, "room"); e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("too big: %+v", e)
	}
}

func TestMuxRefusesPublishOnSubscriberLocation(t *testing.T) {
	s := startServer(t, testConfig(nil, location("= /mux", "subscriber: true", "websocket_multiplex: on")))
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "a", Data: []byte("x"), Ref: 1})
	if e := c.expectOp(t, protocol.MuxError, 1, "a"); e.Status != http.StatusForbidden {
		t.Fatalf("%+v, want 403", e)
	}
}

func TestMuxChannelDeleted(t *testing.T) {
	s := startServer(t, muxConfig())
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "gone", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "gone")
	publish(t, s, "gone", "x")
	c.expectMsg(t, "gone", "x")
	deleteChannel(t, s, "gone")
	if f := c.expectOp(t, protocol.MuxUnsubscribed, 0, "gone"); f.Status != http.StatusGone {
		t.Fatalf("%+v, want 410", f)
	}
}

// Each channel joined is authorized as an HTTP subscriber naming it would
// be: authorize_request sees $nchan_channel_id and the handshake's
// headers, and a refusal answers that frame only.
func TestMuxAuthorizesEachChannel(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Channel") == "secret" || r.Header.Get("X-User") != "ann" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte("not for you"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()
	s := startServer(t, muxConfig(`authorize_request: {url: "`+app.URL+`/auth", headers: {X-Channel: $nchan_channel_id}}`))
	c := openMux(t, s, "/mux", "X-User", "ann")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "open", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "open")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "secret", Ref: 2})
	e := c.expectOp(t, protocol.MuxError, 2, "secret")
	if e.Status != http.StatusForbidden || e.Reason != "not for you" {
		t.Fatalf("%+v, want 403 with the application's body", e)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "secret", Data: []byte("x"), Ref: 3})
	if e := c.expectOp(t, protocol.MuxError, 3, "secret"); e.Status != http.StatusForbidden {
		t.Fatalf("%+v, want 403", e)
	}
	publish(t, s, "open", "still here")
	c.expectMsg(t, "open", "still here")
}

func TestMuxTokensPerFrame(t *testing.T) {
	s := startServer(t, muxConfig("token_alg: HS256", "token_secret: "+tokenSecret))
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", Ref: 1})
	if e := c.expectOp(t, protocol.MuxError, 1, "a"); e.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %+v, want 401", e)
	}
	tok := hsToken(t, []string{"a"}, []string{"a"}, nil)
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", Token: tok, Ref: 2})
	c.expectOp(t, protocol.MuxAck, 2, "a")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "b", Token: tok, Ref: 3})
	if e := c.expectOp(t, protocol.MuxError, 3, "b"); e.Status != http.StatusForbidden {
		t.Fatalf("token for a only: %+v, want 403", e)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxPublish, Channel: "a", Token: tok, Data: []byte("x"), Ref: 4})
	c.expectOp(t, protocol.MuxAck, 4, "a")
	c.expectMsg(t, "a", "x")
}

func TestMuxPlainWebSocketUnchanged(t *testing.T) {
	s := startServer(t, testConfig(nil, location("~ ^/mux/(.+)$", "pubsub: true", "channel_id: $1", "websocket_multiplex: on")))
	c := openWebSocket(t, s, "/mux/x", "Sec-WebSocket-Protocol", "ws+meta.nchan")
	if got := c.Header.Get("Sec-WebSocket-Protocol"); got != "ws+meta.nchan" {
		t.Fatalf("subprotocol %q", got)
	}
	waitSubscribers(t, s, "x", 1)
	publishTo(t, s, "/mux/x", "hi", "Content-Type", "text/plain")
	c.metaID(t, ws.OpText, "text/plain", "hi")
	// A location without websocket_multiplex does not answer herald.v1.
	p := openWebSocket(t, startServer(t, defaultConfig()), "/sub/x", "Sec-WebSocket-Protocol", "herald.v1")
	if got := p.Header.Get("Sec-WebSocket-Protocol"); strings.Contains(got, "herald") {
		t.Fatalf("subprotocol %q answered without websocket_multiplex", got)
	}
}
