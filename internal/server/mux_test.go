package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	// A subscription from the end stands at the newest message: its ack
	// says so, and a new subscription from there misses nothing.
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "d", From: "end", Ref: 4})
	if ack := c.expectOp(t, protocol.MuxAck, 4, "d"); ack.ID != "0:0" {
		t.Fatalf("ack on an empty channel %+v, want id 0:0", ack)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "d", Ref: 5})
	c.expectOp(t, protocol.MuxAck, 5, "d")
	publish(t, s, "d", "while away")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "d", From: "0:0", Ref: 6})
	c.expectOp(t, protocol.MuxAck, 6, "d")
	d1 := c.expectMsg(t, "d", "while away")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "d", Ref: 7})
	c.expectOp(t, protocol.MuxAck, 7, "d")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "d", From: "end", Ref: 8})
	if ack := c.expectOp(t, protocol.MuxAck, 8, "d"); ack.ID != d1 {
		t.Fatalf("ack %+v, want id %s", ack, d1)
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
	// The ack and the message of a subscribed channel come in either order.
	var ops []protocol.MuxOp
	for range 2 {
		f := c.nextOp(t)
		ops = append(ops, f.Op)
		if f.Op == protocol.MuxMessage && string(f.Data) != "x" || f.Op == protocol.MuxAck && f.Ref != 4 {
			t.Fatalf("frame %+v", f)
		}
	}
	if ops[0] == ops[1] {
		t.Fatalf("frames %v, want an ack and a message", ops)
	}
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

// Each subscription holds a limit_conn slot as an HTTP subscriber would,
// given back when it ends; the connection holds one of its own.
func TestMuxLimitConnPerSubscription(t *testing.T) {
	s := startServer(t, muxConfig("limit_conn: 3"))
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "a")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "b", Ref: 2})
	c.expectOp(t, protocol.MuxAck, 2, "b")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "c", Ref: 3})
	if e := c.expectOp(t, protocol.MuxError, 3, "c"); e.Status != http.StatusTooManyRequests {
		t.Fatalf("third slot: %+v, want 429", e)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "a", Ref: 4})
	c.expectOp(t, protocol.MuxAck, 4, "a")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "c", Ref: 5})
	c.expectOp(t, protocol.MuxAck, 5, "c")
}

// subscribe_request and unsubscribe_request are told of each channel
// joined and left, with $nchan_channel_id the frame's channel.
func TestMuxSubscribeRequestPerChannel(t *testing.T) {
	a := startHookApp(t)
	s := startServer(t, muxConfig(
		"subscribe_request: {url: \""+a.URL+"/notify/sub\", headers: {X-Channel-Id: $nchan_channel_id, X-Subscriber-Type: $nchan_subscriber_type}}",
		"unsubscribe_request: {url: \""+a.URL+"/notify/unsub\", headers: {X-Channel-Id: $nchan_channel_id}}"))
	c := openMux(t, s, "/mux")
	for i, ch := range []string{"x", "y"} {
		c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: ch, Ref: uint64(i + 1)})
		c.expectOp(t, protocol.MuxAck, uint64(i+1), ch)
	}
	subs := a.waitCalls(t, "/notify/sub", 2)
	got := map[string]string{}
	for _, call := range subs {
		got[call.Header.Get("X-Channel-Id")] = call.Header.Get("X-Subscriber-Type")
	}
	if got["x"] != "websocket" || got["y"] != "websocket" {
		t.Fatalf("subscribe_request calls %v", got)
	}
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxUnsubscribe, Channel: "x", Ref: 3})
	c.expectOp(t, protocol.MuxAck, 3, "x")
	if u := a.waitCalls(t, "/notify/unsub", 1); u[0].Header.Get("X-Channel-Id") != "x" {
		t.Fatalf("unsubscribe_request %+v", u[0])
	}
	c.conn.Close()
	if u := a.waitCalls(t, "/notify/unsub", 2); u[1].Header.Get("X-Channel-Id") != "y" {
		t.Fatalf("unsubscribe_request %+v", u[1])
	}
}

// The channels joined are in the location's channel_group, shared with
// the HTTP locations of that group.
func TestMuxChannelGroup(t *testing.T) {
	s := startServer(t, testConfig(nil,
		location("= /mux", "pubsub: true", "websocket_multiplex: on", "channel_group: g1"),
		prefixLocation("pub", "publisher: true", "channel_group: g1")))
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "a", From: "end", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "a")
	waitFor(t, waitTimeout, "a subscriber of g1/a", func() bool {
		info, err := s.Store.Info(context.Background(), storeKey(t, "g1/a"))
		return err == nil && info.Subscribers == 1
	})
	publish(t, s, "a", "in g1")
	c.expectMsg(t, "a", "in g1")
}

func TestHeraldJSAndRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>chat</p>"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, testConfig(nil,
		location("^~ /lib/", "herald_js: on"),
		location("/", "root: "+dir)))
	r := do(t, "GET", s.URL+"/lib/herald.js", "")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(r.Body, "herald.v1") {
		t.Fatalf("herald.js: %d %q %.80q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = do(t, "GET", s.URL+"/lib/herald.d.ts", "")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "declare class Herald") {
		t.Fatalf("herald.d.ts: %d %.80q", r.Status, r.Body)
	}
	if r := do(t, "GET", s.URL+"/lib/other.js", ""); r.Status != http.StatusNotFound {
		t.Fatalf("other.js: %d", r.Status)
	}
	if r := do(t, "POST", s.URL+"/lib/herald.js", "x"); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.Status)
	}
	if r := do(t, "GET", s.URL+"/", ""); r.Status != http.StatusOK || r.Body != "<p>chat</p>" {
		t.Fatalf("index: %d %q", r.Status, r.Body)
	}
	if r := do(t, "GET", s.URL+"/missing.html", ""); r.Status != http.StatusNotFound {
		t.Fatalf("missing file: %d", r.Status)
	}
}

// A message published without a content type carries the subscriber
// location's default_type; with one, its own.
func TestMuxContentTypes(t *testing.T) {
	s := startServer(t, muxConfig("default_type: text/x-default"))
	c := openMux(t, s, "/mux")
	c.sendOp(t, protocol.MuxFrame{Op: protocol.MuxSubscribe, Channel: "t", From: "end", Ref: 1})
	c.expectOp(t, protocol.MuxAck, 1, "t")
	publishTo(t, s, "/pub/t", "plain")
	if f := c.expectOp(t, protocol.MuxMessage, 0, "t"); f.ContentType != "text/x-default" {
		t.Fatalf("%+v, want the default type", f)
	}
	publishTo(t, s, "/pub/t", "{}", "Content-Type", "application/json", "X-EventSource-Event", "greeting")
	if f := c.expectOp(t, protocol.MuxMessage, 0, "t"); f.ContentType != "application/json" || f.Event != "greeting" || string(f.Data) != "{}" {
		t.Fatalf("%+v, want application/json with event greeting", f)
	}
}
