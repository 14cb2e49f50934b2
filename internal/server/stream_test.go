package server_test

// Streaming subscriber transports over real sockets: transport selection,
// EventSource, WebSocket (handshake, frames, ws+meta.nchan, close codes,
// publishing, heartbeats, pings, permessage-deflate), HTTP chunked,
// multipart/mixed, http-raw-stream, multiplexing, slow consumers, subscriber
// accounting, CORS, HTTP/2 and graceful shutdown. Byte-exact expectations
// follow nchan-behaviour.md §1.5 and §2.5–2.11 and are computed here from
// the ids the publisher reports, independently of Herald's encoders.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store/memory"
)

// stConfig is the configuration of every streaming test: one location per
// combination of settings under test. All share the channel namespace, so
// /pub/x publishes to what /sub/x, /es/x, /raw/x ... subscribe to.
const stConfig = `channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
      - location: ~ ^/pubsub/(.+)$
        pubsub: true
        channel_id: $1
      - location: ~ ^/all/(.+)$
        subscriber: [websocket, eventsource, chunked, multipart-mixed, intervalpoll, http-raw-stream, longpoll]
        channel_id: $1
      - location: ~ ^/rawlp/(.+)$
        subscriber: [http-raw-stream, longpoll]
        channel_id: $1
      - location: ~ ^/lp/(.+)$
        subscriber: [longpoll]
        channel_id: $1
      - location: ~ ^/ipoll/(.+)$
        subscriber: [intervalpoll]
        channel_id: $1
      - location: ~ ^/lpwspub/(.+)$
        publisher: [websocket]
        subscriber: [longpoll]
        channel_id: $1
      - location: ~ ^/es/(.+)$
        subscriber: [eventsource]
        channel_id: $1
      - location: ~ ^/raw/(.+)$
        subscriber: [http-raw-stream]
        channel_id: $1
      - location: ~ ^/rawsep/(.+)$
        subscriber: [http-raw-stream]
        subscriber_http_raw_stream_separator: "--sep"
        channel_id: $1
      - location: ~ ^/pubev/(.+)$
        publisher: true
        eventsource_event: from-publisher
        channel_id: $1
      - location: ~ ^/esev/(.+)$
        subscriber: true
        eventsource_event: forced
        channel_id: $1
      - location: ~ ^/esping/(.+)$
        subscriber: true
        eventsource_ping_interval: 150ms
        channel_id: $1
      - location: ~ ^/espingc/(.+)$
        subscriber: true
        eventsource_ping_interval: 150ms
        eventsource_ping_comment: keepalive
        eventsource_ping_data: "{}"
        channel_id: $1
      - location: ~ ^/espinge/(.+)$
        subscriber: true
        eventsource_ping_interval: 150ms
        eventsource_ping_event: ""
        channel_id: $1
      - location: ~ ^/timeout/(.+)$
        subscriber: true
        subscriber_timeout: 700ms
        channel_id: $1
      - location: ~ ^/wsping/(.+)$
        subscriber: true
        websocket_ping_interval: 150ms
        channel_id: $1
      - location: ~ ^/hb/(.+)$
        subscriber: true
        websocket_client_heartbeat: PING PONG
        channel_id: $1
      - location: ~ ^/small/(.+)$
        pubsub: true
        client_max_body_size: 16
        channel_id: $1
      - location: ~ ^/deflate/(.+)$
        subscriber: true
        deflate_message_for_websocket: on
        channel_id: $1
      - location: ~ ^/slowpub/(.+)$
        publisher: true
        message_buffer_length: 400
        channel_id: $1
      - location: ~ ^/slow/(.+)$
        subscriber: true
        send_timeout: 1s
        channel_id: $1
      - location: ~ ^/cors/(.+)$
        subscriber: true
        access_control_allow_origin: http://good.example
        channel_id: $1
`

// stConn is a raw TCP HTTP/1.1 client connection: the request is written by
// hand and the response read byte for byte.
type stConn struct {
	conn   net.Conn
	br     *bufio.Reader
	Status int
	Header http.Header
}

func stAddr(s *testServer) string { return strings.TrimPrefix(s.URL, "http://") }

// stSend dials the server and writes one request (headers as name, value
// pairs) without reading anything.
func stSend(t testing.TB, s *testServer, method, target string, headers ...string) *stConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", stAddr(s), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return stRequest(t, s, conn, method, target, headers...)
}

// stRequest writes one request on conn, which the test then owns.
func stRequest(t testing.TB, s *testServer, conn net.Conn, method, target string, headers ...string) *stConn {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, stAddr(s))
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return &stConn{conn: conn, br: bufio.NewReaderSize(conn, 128<<10)}
}

// stOpen sends a request and reads the response head.
func stOpen(t testing.TB, s *testServer, method, target string, headers ...string) *stConn {
	t.Helper()
	c := stSend(t, s, method, target, headers...)
	if err := c.readHead(3 * time.Second); err != nil {
		t.Fatalf("%s %s: read response head: %v", method, target, err)
	}
	return c
}

// stES opens an EventSource subscription and checks its start.
func stES(t testing.TB, s *testServer, target string, headers ...string) *stConn {
	t.Helper()
	c := stOpen(t, s, "GET", target, append([]string{"Accept", "text/event-stream"}, headers...)...)
	if c.Status != http.StatusOK {
		t.Fatalf("EventSource %s: status %d, want 200", target, c.Status)
	}
	if ct := c.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("EventSource %s: Content-Type %q, want %q", target, ct, "text/event-stream; charset=utf-8")
	}
	if cl := c.Header.Get("Content-Length"); cl != "" {
		t.Errorf("EventSource %s: Content-Length %q, want none", target, cl)
	}
	c.expect(t, ": hi\n\n")
	return c
}

func (c *stConn) readHead(d time.Duration) error {
	c.conn.SetReadDeadline(time.Now().Add(d))
	tp := textproto.NewReader(c.br)
	line, err := tp.ReadLine()
	if err != nil {
		return err
	}
	_, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if c.Status, err = strconv.Atoi(code); err != nil {
		return fmt.Errorf("bad status line %q", line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return err
	}
	c.Header = http.Header(mh)
	return nil
}

// body reads a Content-Length body.
func (c *stConn) body(t testing.TB) string {
	t.Helper()
	n, err := strconv.Atoi(c.Header.Get("Content-Length"))
	if err != nil {
		t.Fatalf("response without Content-Length (%v): %v", c.Header, err)
	}
	return c.readN(t, n, 3*time.Second)
}

func (c *stConn) readN(t testing.TB, n int, d time.Duration) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, n)
	k, err := io.ReadFull(c.br, buf)
	if err != nil {
		t.Fatalf("reading %d bytes: got %q, then %v", n, buf[:k], err)
	}
	return string(buf)
}

// expect reads exactly the bytes of want.
func (c *stConn) expect(t testing.TB, want string) {
	t.Helper()
	if got := c.readN(t, len(want), 3*time.Second); got != want {
		t.Fatalf("stream bytes:\n got %q\nwant %q", got, want)
	}
}

// drain reads until the connection ends or d passes; err is nil when the
// server closed the connection (EOF or reset).
func (c *stConn) drain(d time.Duration) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.br)
	if err != nil && !isTimeoutErr(err) {
		err = nil // reset by peer: closed too.
	}
	return string(b), err
}

// expectEOF asserts the server closes the connection with nothing more.
func (c *stConn) expectEOF(t testing.TB) {
	t.Helper()
	rest, err := c.drain(3 * time.Second)
	if rest != "" {
		t.Fatalf("unexpected bytes before the connection ended: %q", rest)
	}
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// expectSilence asserts nothing arrives for d and the connection stays open.
func (c *stConn) expectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.Peek(1); err == nil {
		b, _ := c.br.Peek(c.br.Buffered())
		t.Fatalf("unexpected bytes: %q", b)
	} else if !isTimeoutErr(err) {
		t.Fatalf("connection ended: %v", err)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stPub publishes body to channel ch through /pub and returns the message
// id from the channel info's "last message id".
func stPub(t testing.TB, s *testServer, ch, body string, headers ...string) string {
	t.Helper()
	return stPubAt(t, s, "/pub/"+ch, body, headers...)
}

func stPubAt(t testing.TB, s *testServer, path, body string, headers ...string) string {
	t.Helper()
	r := do(t, "POST", s.URL+path, body, headers...)
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		t.Fatalf("publish to %s: got %d %q", path, r.Status, r.Body)
	}
	return stField(t, r.Body, "last message id")
}

func stField(t testing.TB, info, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	t.Fatalf("channel info has no %q: %q", name, info)
	return ""
}

// stActive is the channel's "active subscribers" (0 when it does not exist).
func stActive(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/pub/"+ch, "")
	if r.Status == http.StatusNotFound {
		return 0
	}
	n, err := strconv.Atoi(stField(t, r.Body, "active subscribers"))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("channel info %s: %d %q", ch, r.Status, r.Body)
	}
	return n
}

// stQueued is the channel's "queued messages" (0 when it does not exist).
func stQueued(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/pub/"+ch, "")
	if r.Status == http.StatusNotFound {
		return 0
	}
	n, _ := strconv.Atoi(stField(t, r.Body, "queued messages"))
	return n
}

// stWaitActive polls the channel info until it shows n subscribers.
func stWaitActive(t testing.TB, s *testServer, ch string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := stActive(t, s, ch)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s: %d active subscribers after %v, want %d", ch, got, within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stEvent is the EventSource event Herald must write for a message.
func stEvent(event, id, data string) string {
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("id: " + id + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// ---------------------------------------------------------------------------
// WebSocket client pieces (raw TCP, gobwas/ws framing).

const stWSKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3 example

func stWSAccept(key string) string {
	sum := sha1.Sum([]byte(strings.TrimSpace(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func stWSHeaders(extra ...string) []string {
	return append([]string{
		"Connection", "Upgrade",
		"Upgrade", "websocket",
		"Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", stWSKey,
	}, extra...)
}

// stWS opens a WebSocket and checks the 101 answer.
func stWS(t testing.TB, s *testServer, target string, extra ...string) *stConn {
	t.Helper()
	c := stOpen(t, s, "GET", target, stWSHeaders(extra...)...)
	if c.Status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket %s: status %d, want 101", target, c.Status)
	}
	if got := c.Header.Get("Sec-WebSocket-Accept"); got != stWSAccept(stWSKey) {
		t.Fatalf("WebSocket %s: Sec-WebSocket-Accept %q, want %q", target, got, stWSAccept(stWSKey))
	}
	return c
}

// frame reads one server frame.
func (c *stConn) frame(t testing.TB, d time.Duration) (ws.Header, []byte) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	if h.Masked {
		t.Fatalf("server frame is masked: %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatalf("read frame payload (%d bytes): %v", h.Length, err)
	}
	return h, p
}

// expectFrame reads a final, uncompressed frame with op and payload.
func (c *stConn) expectFrame(t testing.TB, op ws.OpCode, payload string) {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	if h.OpCode != op || !h.Fin || h.Rsv != 0 || string(p) != payload {
		t.Fatalf("frame: op %d fin %v rsv %d payload %q; want op %d fin true rsv 0 payload %q", h.OpCode, h.Fin, h.Rsv, p, op, payload)
	}
}

// expectClose reads a close frame with code and reason (reason "*": any)
// and then the end of the connection.
func (c *stConn) expectClose(t testing.TB, code ws.StatusCode, reason string) {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	if h.OpCode != ws.OpClose {
		t.Fatalf("frame op %d payload %q, want a close frame", h.OpCode, p)
	}
	if len(p) < 2 {
		t.Fatalf("close frame without a status code: %q", p)
	}
	gotCode, gotReason := ws.ParseCloseFrameData(p)
	if gotCode != code || (reason != "*" && gotReason != reason) {
		t.Fatalf("close frame %d %q, want %d %q", gotCode, gotReason, code, reason)
	}
	c.expectEOF(t)
}

// send writes one client frame: masked unless told otherwise, with RSV1
// when compressed.
func (c *stConn) send(t testing.TB, op ws.OpCode, payload []byte, masked, rsv1 bool) {
	t.Helper()
	f := ws.NewFrame(op, true, payload)
	if rsv1 {
		f.Header.Rsv = ws.Rsv(true, false, false)
	}
	if masked {
		f = ws.MaskFrame(f)
	}
	c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if err := ws.WriteFrame(c.conn, f); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// stInflate decompresses a permessage-deflate payload (RFC 7692 §7.2.2: add
// the 0x00 0x00 0xff 0xff tail; an empty final block ends the stream).
func stInflate(t testing.TB, p []byte) string {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate %d bytes: %v", len(p), err)
	}
	return string(out)
}

// stDeflate compresses a client message as permessage-deflate does.
func stDeflate(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write([]byte(s))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

// ---------------------------------------------------------------------------
// Transport selection.

// stClassify makes a request and names the transport that answered it.
func stClassify(t testing.TB, s *testServer, target string, headers []string) string {
	t.Helper()
	c := stSend(t, s, "GET", target, headers...)
	defer c.conn.Close()
	if err := c.readHead(400 * time.Millisecond); err != nil {
		if isTimeoutErr(err) {
			return "longpoll" // parked, waiting for a message
		}
		t.Fatalf("GET %s: %v", target, err)
	}
	ct := c.Header.Get("Content-Type")
	switch {
	case c.Status == http.StatusSwitchingProtocols:
		return "websocket"
	case c.Status == http.StatusOK && strings.HasPrefix(ct, "text/event-stream"):
		return "eventsource"
	case c.Status == http.StatusOK && strings.EqualFold(c.Header.Get("Transfer-Encoding"), "chunked"):
		return "chunked"
	case c.Status == http.StatusOK && strings.HasPrefix(ct, "multipart/mixed"):
		return "multipart"
	case c.Status == http.StatusNotModified:
		return "intervalpoll"
	case c.Status == http.StatusOK && c.Header.Get("Content-Length") == "":
		return "raw"
	}
	return strconv.Itoa(c.Status)
}

func TestStreamTransportSelection(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	es := []string{"Accept", "text/event-stream"}
	te := []string{"TE", "chunked"}
	mp := []string{"Accept", "multipart/mixed"}
	cat := func(hs ...[]string) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h...)
		}
		return out
	}
	cases := []struct {
		name, loc string
		headers   []string
		want      string
	}{
		{"websocket beats everything", "all", cat(stWSHeaders(), []string{"Accept", "text/event-stream, multipart/mixed"}, te), "websocket"},
		{"eventsource beats chunked and multipart", "all", cat([]string{"Accept", "multipart/mixed, text/event-stream"}, te), "eventsource"},
		{"chunked beats multipart", "all", cat(te, mp), "chunked"},
		{"chunked among TE values", "all", []string{"TE", "trailers, chunked"}, "chunked"},
		{"multipart", "all", mp, "multipart"},
		{"intervalpoll replaces longpoll", "all", nil, "intervalpoll"},
		{"raw stream before longpoll", "rawlp", nil, "raw"},
		{"eventsource falls through to raw stream", "rawlp", es, "raw"},
		{"longpoll", "lp", nil, "longpoll"},
		{"eventsource falls through to longpoll", "lp", es, "longpoll"},
		{"chunked falls through to longpoll", "lp", te, "longpoll"},
		// Nchan checks for a WebSocket handshake before anything else: on a
		// location without WebSocket subscribers it is a WebSocket publisher
		// or 403, never a poll (nchan_pubsub_handler; test_interval_poll).
		{"websocket on longpoll-only is 403", "lp", stWSHeaders(), "403"},
		{"websocket on intervalpoll-only is 403", "ipoll", stWSHeaders(), "403"},
		{"websocket on longpoll + websocket publisher is the publisher", "lpwspub", stWSHeaders(), "websocket"},
		{"intervalpoll-only", "ipoll", nil, "intervalpoll"},
		{"longpoll + websocket publisher: plain GET", "lpwspub", nil, "longpoll"},
		{"TE chunkedfoo is not chunked", "sub", []string{"TE", "chunkedfoo"}, "longpoll"},
		{"TE chunked;q=0 is not chunked", "sub", []string{"TE", "chunked;q=0"}, "longpoll"},
		{"default subscriber: eventsource", "sub", es, "eventsource"},
		{"default subscriber: chunked", "sub", te, "chunked"},
		{"default subscriber: multipart", "sub", mp, "multipart"},
		{"default subscriber: websocket", "sub", stWSHeaders(), "websocket"},
		{"default subscriber: longpoll", "sub", nil, "longpoll"},
		{"eventsource-only: plain GET is 403", "es", nil, "403"},
		{"eventsource-only: websocket is 403", "es", stWSHeaders(), "403"},
		{"eventsource-only: chunked is 403", "es", te, "403"},
		{"eventsource-only: eventsource", "es", es, "eventsource"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := fmt.Sprintf("/%s/sel%d", tc.loc, i)
			if got := stClassify(t, s, target, tc.headers); got != tc.want {
				t.Errorf("GET %s %q: answered as %s, want %s", target, tc.headers, got, tc.want)
			}
		})
	}
}

// TestStreamFallThroughLongPoll: an EventSource request on a long-poll-only
// location is a plain long-poll, answered with the message and its ids.
func TestStreamFallThroughLongPoll(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stSend(t, s, "GET", "/lp/ft", "Accept", "text/event-stream")
	waitSubscribers(t, s, "/ft", 1)
	c.expectSilence(t, 100*time.Millisecond)
	id := stPub(t, s, "ft", "long-polled")
	if err := c.readHead(3 * time.Second); err != nil {
		t.Fatalf("read head: %v", err)
	}
	if c.Status != http.StatusOK || c.Header.Get("Content-Type") == "text/event-stream; charset=utf-8" {
		t.Fatalf("got %d %q, want a 200 long-poll answer", c.Status, c.Header.Get("Content-Type"))
	}
	if got := c.body(t); got != "long-polled" {
		t.Errorf("body %q, want %q", got, "long-polled")
	}
	_, tag, _ := strings.Cut(id, ":")
	if c.Header.Get("Etag") != tag {
		t.Errorf("Etag %q, want %q (id %s)", c.Header.Get("Etag"), tag, id)
	}
}

// ---------------------------------------------------------------------------
// EventSource.

func TestStreamEventSourceFormat(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stES(t, s, "/sub/esfmt")
	cases := []struct {
		name, body string
		headers    []string
		event      string
		data       string // body with every line ending turned into \n
	}{
		{"plain", "hello", nil, "", "hello"},
		{"event name", "hi", []string{"X-EventSource-Event", "greet"}, "greet", "hi"},
		{"LF", "a\nb", nil, "", "a\nb"},
		{"CRLF", "a\r\nb\r\nc", nil, "", "a\nb\nc"},
		{"lone CR", "a\rb", nil, "", "a\nb"},
		{"mixed endings and blank lines", "a\r\n\rb\n\nc", nil, "", "a\n\nb\n\nc"},
		{"trailing LF", "a\n", nil, "", "a\n"},
		{"only CRLF", "\r\n", nil, "", "\n"},
		{"empty", "", nil, "", ""},
		{"utf-8 and colons", "héllo: ✓ id: x", nil, "", "héllo: ✓ id: x"},
		{"event with multi-line body", "x\ny", []string{"X-EventSource-Event", "multi"}, "multi", "x\ny"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := stPub(t, s, "esfmt", tc.body, tc.headers...)
			c.expect(t, stEvent(tc.event, id, tc.data))
		})
	}
	// Exact spot checks of the wire bytes (not built by stEvent).
	id := stPub(t, s, "esfmt", "a\n")
	c.expect(t, "id: "+id+"\ndata: a\ndata: \n\n")
	id = stPub(t, s, "esfmt", "")
	c.expect(t, "id: "+id+"\ndata: \n\n")
	id = stPub(t, s, "esfmt", "x", "X-EventSource-Event", "ev")
	c.expect(t, "event: ev\nid: "+id+"\ndata: x\n\n")
}

func TestStreamEventSourceEventOverride(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stES(t, s, "/esev/ov")
	plain := stES(t, s, "/sub/ov")
	id := stPub(t, s, "ov", "one", "X-EventSource-Event", "publisher-event")
	c.expect(t, stEvent("forced", id, "one"))
	plain.expect(t, stEvent("publisher-event", id, "one"))
	id = stPub(t, s, "ov", "two")
	c.expect(t, stEvent("forced", id, "two"))
	plain.expect(t, stEvent("", id, "two"))
}

// TestStreamEventSourceEventPublisher: eventsource_event on a publisher
// location names the messages it publishes, overriding the publisher's
// X-EventSource-Event (nchan-behaviour.md §1.13); a subscriber location's
// eventsource_event still wins.
func TestStreamEventSourceEventPublisher(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	plain := stES(t, s, "/sub/evpub")
	forced := stES(t, s, "/esev/evpub")
	for _, hdr := range [][]string{nil, {"X-EventSource-Event", "from-header"}} {
		id := stPubAt(t, s, "/pubev/evpub", "named", hdr...)
		plain.expect(t, stEvent("from-publisher", id, "named"))
		forced.expect(t, stEvent("forced", id, "named"))
	}
}

func TestStreamEventSourcePing(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	cases := []struct{ loc, want string }{
		{"esping", "event: ping\n\n"},
		{"espingc", ":keepalive\nevent: ping\ndata: {}\n\n"},
		{"espinge", ":\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.loc, func(t *testing.T) {
			t.Parallel()
			ch := "ping" + tc.loc
			c := stES(t, s, "/"+tc.loc+"/"+ch)
			start := time.Now()
			c.expect(t, tc.want)
			if d := time.Since(start); d < 75*time.Millisecond {
				t.Errorf("first ping after %v, want about the 150ms interval", d)
			}
			c.expect(t, tc.want)
			// Messages still flow between pings, with no ping inside them.
			id := stPub(t, s, ch, "between")
			for {
				c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				if b, err := c.br.Peek(len(tc.want)); err == nil && string(b) == tc.want {
					c.readN(t, len(tc.want), time.Second)
					continue
				}
				break
			}
			c.expect(t, stEvent("", id, "between"))
		})
	}
	// No pings without an interval.
	c := stES(t, s, "/sub/noping")
	c.expectSilence(t, 400*time.Millisecond)
}

func TestStreamEventSourceDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stES(t, s, "/sub/esdel")
	id := stPub(t, s, "esdel", "last words")
	c.expect(t, stEvent("", id, "last words"))
	if r := do(t, "DELETE", s.URL+"/pub/esdel", ""); r.Status != http.StatusOK {
		t.Fatalf("delete: got %d %q", r.Status, r.Body)
	}
	c.expect(t, ":410: 410 Gone\n\n")
	c.expectEOF(t)
}

// TestStreamEventSourceTimeout: subscriber_timeout (700ms) ends an idle
// stream with a 408 comment; every message restarts the timer.
func TestStreamEventSourceTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stES(t, s, "/timeout/est")
	for _, body := range []string{"m1", "m2"} {
		time.Sleep(450 * time.Millisecond)
		id := stPub(t, s, "est", body)
		// Without the reset the 408 would come before m2 (at 700ms).
		c.expect(t, stEvent("", id, body))
	}
	last := time.Now()
	c.expect(t, ":408: 408 Request Timeout\n\n")
	if d := time.Since(last); d < 500*time.Millisecond {
		t.Errorf("408 came %v after the last message, want about 700ms (timer reset by each message)", d)
	}
	c.expectEOF(t)
}

// TestStreamEventSourceResume: a dropped EventSource reconnects with the
// last id it saw and gets exactly the messages published meanwhile.
func TestStreamEventSourceResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	t.Run("invalid id", func(t *testing.T) {
		t.Parallel()
		for _, hdr := range [][]string{{"Last-Event-ID", "garbage"}, {"Last-Event-ID", "1:2:3"}} {
			c := stOpen(t, s, "GET", "/sub/esbad", append([]string{"Accept", "text/event-stream"}, hdr...)...)
			if c.Status != http.StatusBadRequest || strings.TrimSpace(c.body(t)) != "Message ID invalid" {
				t.Errorf("Last-Event-ID %q: status %d, want 400 Message ID invalid", hdr[1], c.Status)
			}
		}
		c := stOpen(t, s, "GET", "/sub/esbad?last_event_id=nope", "Accept", "text/event-stream")
		if c.Status != http.StatusBadRequest {
			t.Errorf("?last_event_id=nope: status %d, want 400", c.Status)
		}
	})
	cases := []struct {
		name  string
		build func(id string) (string, []string)
	}{
		{"Last-Event-ID header", func(id string) (string, []string) { return "", []string{"Last-Event-ID", id} }},
		{"last_event_id query", func(id string) (string, []string) { return "?last_event_id=" + url.QueryEscape(id), nil }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("esres%d", i)
			ids := map[string]string{}
			for _, b := range []string{"m1", "m2"} {
				ids[b] = stPub(t, s, ch, b)
			}
			c := stES(t, s, "/sub/"+ch)
			c.expect(t, stEvent("", ids["m1"], "m1"))
			c.expect(t, stEvent("", ids["m2"], "m2"))
			c.conn.Close()
			stWaitActive(t, s, ch, 0, 2*time.Second)
			for _, b := range []string{"m3", "m4"} {
				ids[b] = stPub(t, s, ch, b)
			}
			q, h := tc.build(ids["m2"])
			c = stES(t, s, "/sub/"+ch+q, h...)
			c.expect(t, stEvent("", ids["m3"], "m3"))
			c.expect(t, stEvent("", ids["m4"], "m4"))
			c.expectSilence(t, 150*time.Millisecond)
			ids["m5"] = stPub(t, s, ch, "m5")
			c.expect(t, stEvent("", ids["m5"], "m5"))
		})
	}
}

// ---------------------------------------------------------------------------
// WebSocket.

func TestStreamWebSocketHandshakeErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	base := []string{"Connection", "Upgrade", "Upgrade", "websocket"}
	cases := []struct {
		name    string
		headers []string
		msg     string
	}{
		{"no version", []string{"Sec-WebSocket-Key", stWSKey}, "No Sec-Websocket-Version header present"},
		{"version 12", []string{"Sec-WebSocket-Version", "12", "Sec-WebSocket-Key", stWSKey}, "Unsupported websocket protocol version (only version 13 is supported)"},
		{"no key", []string{"Sec-WebSocket-Version", "13"}, "No Sec-Websocket-Key header present"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("/sub/hse%d", i)
			c := stOpen(t, s, "GET", ch, append(append([]string{}, base...), tc.headers...)...)
			if c.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", c.Status)
			}
			if got := strings.TrimSpace(c.body(t)); got != tc.msg {
				t.Errorf("body %q, want %q", got, tc.msg)
			}
			stWaitActive(t, s, ch[len("/sub/"):], 0, 2*time.Second)
		})
	}
}

func TestStreamWebSocketHandshake(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	long := strings.Repeat("k", 120)
	for _, key := range []string{stWSKey, "  " + stWSKey + "  ", long} {
		c := stOpen(t, s, "GET", "/sub/hs", "Connection", "keep-alive, Upgrade", "Upgrade", "websocket",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", key)
		if c.Status != http.StatusSwitchingProtocols {
			t.Fatalf("key %q: status %d, want 101", key, c.Status)
		}
		if got, want := c.Header.Get("Sec-WebSocket-Accept"), stWSAccept(key); got != want {
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
	if stWSAccept(stWSKey) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("test's accept computation is wrong")
	}
}

// TestStreamWebSocketFrames uses gobwas/ws's Dialer as a client would.
func TestStreamWebSocketFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, hs, err := ws.Dialer{Timeout: 3 * time.Second}.Dial(ctx, "ws://"+stAddr(s)+"/sub/wsf")
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
	c := &stConn{conn: conn, br: br}
	waitSubscribers(t, s, "/wsf", 1)
	stPub(t, s, "wsf", "hello")
	c.expectFrame(t, ws.OpText, "hello")
	stPub(t, s, "wsf", `{"a":1}`, "Content-Type", "application/json")
	c.expectFrame(t, ws.OpText, `{"a":1}`)
	bin := "\x00\x01\xff\xfe binary"
	stPub(t, s, "wsf", bin, "Content-Type", "application/octet-stream")
	c.expectFrame(t, ws.OpBinary, bin)
	stPub(t, s, "wsf", "")
	c.expectFrame(t, ws.OpText, "")
	big := strings.Repeat("0123456789", 7000) // 64-bit length header
	stPub(t, s, "wsf", big)
	c.expectFrame(t, ws.OpText, big)
}

func TestStreamWebSocketMeta(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stWS(t, s, "/sub/wsm", "Sec-WebSocket-Protocol", "ws+meta.nchan")
	if p := c.Header.Get("Sec-WebSocket-Protocol"); p != "ws+meta.nchan" {
		t.Fatalf("Sec-WebSocket-Protocol %q, want ws+meta.nchan", p)
	}
	id := stPub(t, s, "wsm", "one", "Content-Type", "text/plain")
	c.expectFrame(t, ws.OpText, "id: "+id+"\ncontent-type: text/plain\n\none")
	id = stPub(t, s, "wsm", "two")
	c.expectFrame(t, ws.OpText, "id: "+id+"\n\ntwo")
	id = stPub(t, s, "wsm", "\x00\x01", "Content-Type", "application/octet-stream")
	c.expectFrame(t, ws.OpBinary, "id: "+id+"\ncontent-type: application/octet-stream\n\n\x00\x01")
	id = stPub(t, s, "wsm", "")
	c.expectFrame(t, ws.OpText, "id: "+id+"\n\n")
}

func TestStreamWebSocketResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	cases := []struct {
		name  string
		build func(id string) (string, []string)
	}{
		{"last_event_id query", func(id string) (string, []string) { return "?last_event_id=" + url.QueryEscape(id), nil }},
		{"Last-Event-ID header", func(id string) (string, []string) { return "", []string{"Last-Event-ID", id} }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("wsres%d", i)
			var ids []string
			for _, b := range []string{"m1", "m2", "m3"} {
				ids = append(ids, stPub(t, s, ch, b))
			}
			q, h := tc.build(ids[0])
			c := stWS(t, s, "/sub/"+ch+q, append([]string{"Sec-WebSocket-Protocol", "ws+meta.nchan"}, h...)...)
			c.expectFrame(t, ws.OpText, "id: "+ids[1]+"\n\nm2")
			c.expectFrame(t, ws.OpText, "id: "+ids[2]+"\n\nm3")
			c.expectSilence(t, 150*time.Millisecond)
			id4 := stPub(t, s, ch, "m4")
			c.expectFrame(t, ws.OpText, "id: "+id4+"\n\nm4")
		})
	}
}

func TestStreamWebSocketControl(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	t.Run("ping gets pong", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/sub/wsc1")
		c.send(t, ws.OpPing, []byte("are you there?"), true, false)
		c.expectFrame(t, ws.OpPong, "are you there?")
		c.send(t, ws.OpPing, nil, true, false)
		c.expectFrame(t, ws.OpPong, "")
		// Still subscribed after control traffic.
		stPub(t, s, "wsc1", "after ping")
		c.expectFrame(t, ws.OpText, "after ping")
	})
	t.Run("client close is echoed", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/sub/wsc2")
		c.send(t, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), true, false)
		c.expectClose(t, ws.StatusNormalClosure, "*")
		stWaitActive(t, s, "wsc2", 0, 2*time.Second)
	})
	t.Run("client close 1001 is echoed", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/sub/wsc3")
		c.send(t, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""), true, false)
		c.expectClose(t, ws.StatusGoingAway, "*")
	})
	t.Run("channel delete closes 1001 410 Gone", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/sub/wsc4")
		stPub(t, s, "wsc4", "x")
		c.expectFrame(t, ws.OpText, "x")
		if r := do(t, "DELETE", s.URL+"/pub/wsc4", ""); r.Status != http.StatusOK {
			t.Fatalf("delete: %d", r.Status)
		}
		c.expectClose(t, ws.StatusGoingAway, "410 Gone")
	})
}

// TestStreamWebSocketServerClose: after a server-initiated close (channel
// deleted, subscriber timeout) the client answers with its own close frame,
// as RFC 6455 §5.5.1 requires; the server, having sent its close already,
// must then just close the TCP connection (no second close frame) and do so
// at once rather than after its linger.
func TestStreamWebSocketServerClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	cases := []struct {
		name, target string
		trigger      func(t *testing.T)
		code         ws.StatusCode
		reason       string
	}{
		{"channel deleted", "/sub/wssc1", func(t *testing.T) {
			if r := do(t, "DELETE", s.URL+"/pub/wssc1", ""); r.Status != http.StatusOK {
				t.Fatalf("delete: %d", r.Status)
			}
		}, ws.StatusGoingAway, "410 Gone"},
		{"subscriber timeout", "/timeout/wssc2", func(t *testing.T) {}, ws.StatusNormalClosure, "408 408 Request Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := stWS(t, s, tc.target)
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

// TestStreamWebSocketFragments: a message sent in fragments is published
// whole; a ping between fragments is answered at once.
func TestStreamWebSocketFragments(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	a := stWS(t, s, "/pubsub/frag")
	write := func(op ws.OpCode, fin bool, p string) {
		f := ws.MaskFrame(ws.NewFrame(op, fin, []byte(p)))
		a.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := ws.WriteFrame(a.conn, f); err != nil {
			t.Fatal(err)
		}
	}
	write(ws.OpText, false, "hel")
	write(ws.OpPing, true, "mid")
	a.expectFrame(t, ws.OpPong, "mid")
	write(ws.OpContinuation, false, "lo ")
	write(ws.OpContinuation, true, "world")
	a.expectFrame(t, ws.OpText, "hello world")
	if n := stQueued(t, s, "frag"); n != 1 {
		t.Errorf("queued messages %d, want 1", n)
	}
	// A continuation with no message started is a protocol error.
	b := stWS(t, s, "/pubsub/frag2")
	b.send(t, ws.OpContinuation, []byte("orphan"), true, false)
	b.expectClose(t, ws.StatusProtocolError, "*")
}

// TestStreamWebSocketProtocolErrors: bad client frames close the
// connection with the right code and publish nothing.
func TestStreamWebSocketProtocolErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
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
			c := stWS(t, s, "/"+tc.loc+"/"+ch)
			c.send(t, tc.op, tc.payload, tc.masked, tc.rsv1)
			c.expectClose(t, tc.code, tc.reason)
			if n := stQueued(t, s, ch); n != 0 {
				t.Errorf("%d messages published by a rejected frame", n)
			}
		})
	}
	// Within the limit on /small, publishing works.
	c := stWS(t, s, "/small/wspeok")
	c.send(t, ws.OpText, []byte("sixteen bytes!!!"), true, false)
	c.expectFrame(t, ws.OpText, "sixteen bytes!!!")
}

// TestStreamWebSocketPublishPubsub: on a pubsub location a WebSocket is an
// echo: it gets its own messages back as a subscriber and no info replies;
// other subscribers get them too.
func TestStreamWebSocketPublishPubsub(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	a := stWS(t, s, "/pubsub/wpp", "Content-Type", "text/x-custom")
	b := stWS(t, s, "/sub/wpp", "Sec-WebSocket-Protocol", "ws+meta.nchan")
	e := stES(t, s, "/sub/wpp")
	waitSubscribers(t, s, "/wpp", 3)

	a.send(t, ws.OpText, []byte("hello"), true, false)
	a.expectFrame(t, ws.OpText, "hello")
	id := b.metaID(t, ws.OpText, "text/x-custom", "hello")
	e.expect(t, stEvent("", id, "hello"))

	a.send(t, ws.OpBinary, []byte{0, 1, 2}, true, false)
	a.expectFrame(t, ws.OpBinary, "\x00\x01\x02")
	id = b.metaID(t, ws.OpBinary, "application/octet-stream", "\x00\x01\x02")
	e.expect(t, stEvent("", id, "\x00\x01\x02"))

	a.send(t, ws.OpText, []byte("two"), true, false)
	a.expectFrame(t, ws.OpText, "two") // not a channel info frame
	a.expectSilence(t, 200*time.Millisecond)
	if n := stQueued(t, s, "wpp"); n != 3 {
		t.Errorf("queued messages %d, want 3", n)
	}
	// The id in the stream is the publisher's last message id.
	r := do(t, "GET", s.URL+"/pub/wpp", "")
	id = b.metaID(t, ws.OpText, "text/x-custom", "two")
	if got := stField(t, r.Body, "last message id"); got != id {
		t.Errorf("last message id %q, subscriber saw %q", got, id)
	}
}

// metaID reads a ws+meta.nchan frame, checks its content type and body and
// returns its id.
func (c *stConn) metaID(t testing.TB, op ws.OpCode, ct, body string) string {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	re := regexp.MustCompile(`^id: (\d+:\d+)\n` + regexp.QuoteMeta("content-type: "+ct+"\n\n"+body) + `$`)
	m := re.FindSubmatch(p)
	if h.OpCode != op || m == nil {
		t.Fatalf("ws+meta frame op %d %q, want op %d with content-type %q and body %q", h.OpCode, p, op, ct, body)
	}
	return string(m[1])
}

var stInfoPlainRE = regexp.MustCompile(`^queued messages: (\d+)\r\nlast requested: -?\d+ sec\. ago\r\nactive subscribers: (\d+)\r\nlast message id: (\d+:\d+)$`)
var stInfoJSONRE = regexp.MustCompile(`^\{"messages": (\d+), "requested": -?\d+, "subscribers": (\d+), "last_message_id": "(\d+:\d+)" \}\s*$`)

// TestStreamWebSocketPublishLocation: a WebSocket on a publisher location
// publishes each frame and is answered with the channel info.
func TestStreamWebSocketPublishLocation(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	e := stES(t, s, "/sub/wpl")
	p := stWS(t, s, "/pub/wpl")
	pj := stWS(t, s, "/pub/wpl", "Accept", "application/json")
	for i, tc := range []struct {
		c  *stConn
		re *regexp.Regexp
	}{{p, stInfoPlainRE}, {pj, stInfoJSONRE}} {
		body := fmt.Sprintf("published over websocket %d", i+1)
		tc.c.send(t, ws.OpText, []byte(body), true, false)
		h, info := tc.c.frame(t, 3*time.Second)
		m := tc.re.FindStringSubmatch(string(info))
		if h.OpCode != ws.OpText || m == nil {
			t.Fatalf("reply op %d %q, want a channel info text frame", h.OpCode, info)
		}
		if m[1] != strconv.Itoa(i+1) || m[2] != "1" {
			t.Errorf("info %q: want %d messages and 1 subscriber", info, i+1)
		}
		e.expect(t, stEvent("", m[3], body))
	}
	// The publisher socket is not a subscriber.
	p.expectSilence(t, 150*time.Millisecond)
	if n := stActive(t, s, "wpl"); n != 1 {
		t.Errorf("active subscribers %d, want 1 (publisher sockets do not count)", n)
	}
}

func TestStreamWebSocketHeartbeat(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stWS(t, s, "/hb/beat")
	for range 2 {
		c.send(t, ws.OpText, []byte("PING"), true, false)
		c.expectFrame(t, ws.OpText, "PONG")
	}
	if n := stQueued(t, s, "beat"); n != 0 {
		t.Errorf("heartbeat was published: %d messages", n)
	}
	stPub(t, s, "beat", "still subscribed")
	c.expectFrame(t, ws.OpText, "still subscribed")
	// Anything else is a publish attempt on a subscriber location.
	c.send(t, ws.OpText, []byte("PING2"), true, false)
	c.expectClose(t, ws.StatusPolicyViolation, "Publishing not allowed.")
}

func TestStreamWebSocketPingInterval(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stWS(t, s, "/wsping/p")
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
	q := stWS(t, s, "/sub/p")
	q.expectSilence(t, 400*time.Millisecond)
}

func TestStreamWebSocketDeflate(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	body := strings.Repeat("compress me, compress me again. ", 100)

	t.Run("negotiation", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/sub/dfneg", "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
		ext := c.Header.Get("Sec-WebSocket-Extensions")
		if !strings.HasPrefix(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
			t.Fatalf("Sec-WebSocket-Extensions %q, want permessage-deflate with server_no_context_takeover", ext)
		}
		// deflate_message_for_websocket is off here: plain frames.
		stPub(t, s, "dfneg", body)
		c.expectFrame(t, ws.OpText, body)
	})
	t.Run("compressed frames", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/deflate/dfon", "Sec-WebSocket-Extensions", "permessage-deflate")
		for i := range 2 {
			b := fmt.Sprintf("%d %s", i, body)
			stPub(t, s, "dfon", b)
			h, p := c.frame(t, 3*time.Second)
			if h.OpCode != ws.OpText || !h.Fin || !h.Rsv1() {
				t.Fatalf("frame op %d fin %v rsv %d, want a text frame with RSV1", h.OpCode, h.Fin, h.Rsv)
			}
			if len(p) >= len(b) {
				t.Errorf("compressed payload %d bytes for a %d-byte body", len(p), len(b))
			}
			// server_no_context_takeover: each frame inflates on its own.
			if got := stInflate(t, p); got != b {
				t.Fatalf("inflated %q..., want %q...", got[:min(40, len(got))], b[:40])
			}
		}
		stPub(t, s, "dfon", "\x00\x01", "Content-Type", "application/octet-stream")
		h, p := c.frame(t, 3*time.Second)
		if h.OpCode != ws.OpBinary || !h.Rsv1() || stInflate(t, p) != "\x00\x01" {
			t.Fatalf("binary message: op %d rsv %d, want a compressed binary frame", h.OpCode, h.Rsv)
		}
	})
	t.Run("compressed ws+meta", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/deflate/dfmeta", "Sec-WebSocket-Extensions", "permessage-deflate", "Sec-WebSocket-Protocol", "ws+meta.nchan")
		id := stPub(t, s, "dfmeta", body, "Content-Type", "text/plain")
		h, p := c.frame(t, 3*time.Second)
		if !h.Rsv1() {
			t.Fatalf("frame without RSV1")
		}
		if got, want := stInflate(t, p), "id: "+id+"\ncontent-type: text/plain\n\n"+body; got != want {
			t.Fatalf("inflated %q..., want %q...", got[:min(60, len(got))], want[:60])
		}
	})
	t.Run("not offered: plain frames", func(t *testing.T) {
		t.Parallel()
		c := stWS(t, s, "/deflate/dfoff")
		if ext := c.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
			t.Errorf("Sec-WebSocket-Extensions %q without an offer", ext)
		}
		stPub(t, s, "dfoff", body)
		c.expectFrame(t, ws.OpText, body)
	})
	t.Run("compressed client frame is published decompressed", func(t *testing.T) {
		t.Parallel()
		a := stWS(t, s, "/pubsub/dfin", "Sec-WebSocket-Extensions", "permessage-deflate")
		sub := stES(t, s, "/sub/dfin")
		msg := "client says: " + body
		a.send(t, ws.OpText, stDeflate(t, msg), true, true)
		a.expectFrame(t, ws.OpText, msg) // the pubsub location does not deflate
		r := do(t, "GET", s.URL+"/pub/dfin", "")
		sub.expect(t, stEvent("", stField(t, r.Body, "last message id"), msg))
		// A second, independently compressed message.
		a.send(t, ws.OpText, stDeflate(t, "again "+msg), true, true)
		a.expectFrame(t, ws.OpText, "again "+msg)
	})
	t.Run("client context takeover", func(t *testing.T) {
		t.Parallel()
		// Browsers keep their compression window across messages unless
		// client_no_context_takeover was agreed: the second message refers
		// back to the first.
		a := stWS(t, s, "/pubsub/dfctx", "Sec-WebSocket-Extensions", "permessage-deflate")
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

// ---------------------------------------------------------------------------
// HTTP chunked, multipart/mixed, raw stream.

func TestStreamChunked(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stOpen(t, s, "GET", "/sub/chk", "TE", "chunked")
	if c.Status != http.StatusOK || !strings.EqualFold(c.Header.Get("Transfer-Encoding"), "chunked") || c.Header.Get("Content-Length") != "" {
		t.Fatalf("got %d Transfer-Encoding %q Content-Length %q, want 200 chunked", c.Status, c.Header.Get("Transfer-Encoding"), c.Header.Get("Content-Length"))
	}
	stPub(t, s, "chk", "hello")
	c.expect(t, "5\r\nhello\r\n")
	stPub(t, s, "chk", "") // skipped: a zero chunk would end the body
	big := strings.Repeat("x", 300)
	stPub(t, s, "chk", big)
	c.expect(t, "12c\r\n"+big+"\r\n")
	stPub(t, s, "chk", "line1\r\nline2\n")
	c.expect(t, "d\r\nline1\r\nline2\n\r\n")
	if r := do(t, "DELETE", s.URL+"/pub/chk", ""); r.Status != http.StatusOK {
		t.Fatalf("delete: %d", r.Status)
	}
	c.expect(t, "0\r\n\r\n")
	c.expectEOF(t)
}

var stBoundaryRE = regexp.MustCompile(`^multipart/mixed; boundary=([./0-9A-Za-z]{32})$`)

func TestStreamMultipart(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	c := stOpen(t, s, "GET", "/sub/mpm", "Accept", "multipart/mixed")
	m := stBoundaryRE.FindStringSubmatch(c.Header.Get("Content-Type"))
	if c.Status != http.StatusOK || m == nil {
		t.Fatalf("got %d Content-Type %q, want 200 multipart/mixed with a 32-character boundary", c.Status, c.Header.Get("Content-Type"))
	}
	bnd := m[1]
	c.expect(t, "--"+bnd)
	part := func(id, ct, body string) string {
		sec, tag, _ := strings.Cut(id, ":")
		n, _ := strconv.ParseInt(sec, 10, 64)
		p := "\r\nLast-Modified: " + time.Unix(n, 0).UTC().Format(http.TimeFormat) + "\r\nEtag: " + tag
		if ct != "" {
			p += "\r\nContent-Type: " + ct
		}
		return p + "\r\n\r\n" + body + "\r\n--" + bnd
	}
	id := stPub(t, s, "mpm", "hello", "Content-Type", "text/plain")
	c.expect(t, part(id, "text/plain", "hello"))
	id = stPub(t, s, "mpm", "no type")
	c.expect(t, part(id, "", "no type"))
	id = stPub(t, s, "mpm", "")
	c.expect(t, part(id, "", ""))
	id = stPub(t, s, "mpm", "{\r\n}", "Content-Type", "application/json")
	c.expect(t, part(id, "application/json", "{\r\n}"))
	if r := do(t, "DELETE", s.URL+"/pub/mpm", ""); r.Status != http.StatusOK {
		t.Fatalf("delete: %d", r.Status)
	}
	c.expect(t, "--\r\n")
	c.expectEOF(t)
}

func TestStreamRawStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	cases := []struct{ loc, sep string }{{"raw", "\n"}, {"rawsep", "--sep\n"}}
	for _, tc := range cases {
		t.Run(tc.loc, func(t *testing.T) {
			t.Parallel()
			ch := "rs" + tc.loc
			c := stOpen(t, s, "GET", "/"+tc.loc+"/"+ch)
			if c.Status != http.StatusOK || c.Header.Get("Content-Length") != "" || c.Header.Get("Transfer-Encoding") != "" {
				t.Fatalf("got %d %v, want 200 without framing", c.Status, c.Header)
			}
			for _, b := range []string{"first", "", "multi\nline", "last"} {
				stPub(t, s, ch, b)
				c.expect(t, b+tc.sep)
			}
			if r := do(t, "DELETE", s.URL+"/pub/"+ch, ""); r.Status != http.StatusOK {
				t.Fatalf("delete: %d", r.Status)
			}
			c.expectEOF(t)
		})
	}
}

// ---------------------------------------------------------------------------
// Multiplexing.

// stMux tracks the ids of a multiplexed subscription the way Nchan writes
// them: the time of the newest message; each channel's tag if its last
// message has that time, else "-"; the channel that just delivered in [ ].
type stMux struct{ last []string }

func (m *stMux) next(idx int, id string) string {
	m.last[idx] = id
	sec, _, _ := strings.Cut(id, ":")
	parts := make([]string, len(m.last))
	for i, l := range m.last {
		p := "-"
		if ls, tag, _ := strings.Cut(l, ":"); l != "" && ls == sec {
			p = tag
		}
		if i == idx {
			p = "[" + p + "]"
		}
		parts[i] = p
	}
	return sec + ":" + strings.Join(parts, ",")
}

func TestStreamMultiplex(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	type step struct {
		idx  int
		body string
	}
	before := []step{{1, "b1"}, {0, "a1"}}
	after := []step{{0, "a2"}, {1, "b2"}, {1, "b3"}, {0, "a3"}}
	for _, transport := range []string{"eventsource", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			chans := []string{"mx" + transport + "a", "mx" + transport + "b"}
			target := "/sub/" + chans[0] + "," + chans[1]
			mux := &stMux{last: make([]string, 2)}
			type sent struct {
				step
				id string
			}
			var backlog []sent
			for _, st := range before {
				backlog = append(backlog, sent{st, stPub(t, s, chans[st.idx], st.body)})
			}
			var c *stConn
			if transport == "eventsource" {
				c = stES(t, s, target)
			} else {
				c = stWS(t, s, target, "Sec-WebSocket-Protocol", "ws+meta.nchan")
			}
			check := func(x sent) {
				t.Helper()
				want := mux.next(x.idx, x.id)
				if transport == "eventsource" {
					c.expect(t, stEvent("", want, x.body))
				} else {
					c.expectFrame(t, ws.OpText, "id: "+want+"\n\n"+x.body)
				}
			}
			// The backlog comes in publish order, not channel order.
			for _, x := range backlog {
				check(x)
			}
			// Live messages published back to back also keep their order.
			var live []sent
			for _, st := range after {
				live = append(live, sent{st, stPub(t, s, chans[st.idx], st.body)})
			}
			for _, x := range live {
				check(x)
			}
		})
	}
	// A multiplexed resume from an url-encoded id continues after it.
	t.Run("resume", func(t *testing.T) {
		t.Parallel()
		chans := []string{"mxra", "mxrb"}
		mux := &stMux{last: make([]string, 2)}
		id1 := stPub(t, s, chans[0], "a1")
		resume := mux.next(0, id1)
		id2 := stPub(t, s, chans[1], "b1")
		c := stES(t, s, "/sub/mxra,mxrb?last_event_id="+url.QueryEscape(resume))
		c.expect(t, stEvent("", mux.next(1, id2), "b1"))
		c.expectSilence(t, 100*time.Millisecond)
	})
}

// ---------------------------------------------------------------------------
// Slow consumers, subscriber accounting.

// TestStreamSlowConsumer: a streaming client that stops reading while
// ~20 MB are published is disconnected after send_timeout (1s); the
// publisher is never slowed and a reading subscriber gets everything.
func TestStreamSlowConsumer(t *testing.T) {
	t.Parallel()
	const n, size = 320, 64 << 10
	bodyOf := func(i int) string {
		head := fmt.Sprintf("msg-%04d-", i)
		return head + strings.Repeat(string(rune('a'+i%26)), size-len(head))
	}
	// readES and readWS read one message and return its body.
	readES := func(c *stConn) (string, error) {
		var ev []string
		for {
			line, err := c.br.ReadString('\n')
			if err != nil {
				return "", err
			}
			if line == "\n" {
				break
			}
			ev = append(ev, line)
		}
		if len(ev) != 2 || !strings.HasPrefix(ev[0], "id: ") || !strings.HasPrefix(ev[1], "data: ") {
			return "", fmt.Errorf("malformed event %.120q", ev)
		}
		return strings.TrimSuffix(strings.TrimPrefix(ev[1], "data: "), "\n"), nil
	}
	readWS := func(c *stConn) (string, error) {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return "", err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return "", err
		}
		if h.OpCode != ws.OpText || h.Masked {
			return "", fmt.Errorf("frame op %d masked %v", h.OpCode, h.Masked)
		}
		return string(p), nil
	}
	cases := []struct {
		name string
		open func(t testing.TB, s *testServer, target string) *stConn
		read func(c *stConn) (string, error)
	}{
		{"eventsource", func(t testing.TB, s *testServer, target string) *stConn { return stES(t, s, target) }, readES},
		{"websocket", func(t testing.TB, s *testServer, target string) *stConn { return stWS(t, s, target) }, readWS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, stConfig)
			slow := tc.open(t, s, "/slow/sc")
			if tcp, ok := slow.conn.(*net.TCPConn); ok {
				tcp.SetReadBuffer(16 << 10)
			}
			good := tc.open(t, s, "/slow/sc")
			waitSubscribers(t, s, "/sc", 2)

			type result struct {
				got int
				err error
			}
			goodDone := make(chan result, 1)
			go func() {
				// Reads every message as it comes, checking order and content.
				good.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				for got := 0; got < n; got++ {
					b, err := tc.read(good)
					if err != nil {
						goodDone <- result{got, err}
						return
					}
					if b != bodyOf(got) {
						goodDone <- result{got, fmt.Errorf("message %d is %.20q..., want %.20q...", got, b, bodyOf(got))}
						return
					}
				}
				goodDone <- result{n, nil}
			}()

			start := time.Now()
			var slowest time.Duration
			for i := range n {
				t0 := time.Now()
				r := do(t, "POST", s.URL+"/slowpub/sc", bodyOf(i))
				if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
					t.Fatalf("publish %d: %d %q", i, r.Status, r.Body)
				}
				slowest = max(slowest, time.Since(t0))
			}
			if slowest > 800*time.Millisecond {
				t.Errorf("slowest publish took %v: the publisher waited on a slow subscriber", slowest)
			}
			t.Logf("published %d x %d KB in %v (slowest %v)", n, size>>10, time.Since(start), slowest)

			// The slow subscriber is dropped (send_timeout 1s), the good one stays.
			stWaitActive(t, s, "sc", 1, 6*time.Second)
			rest, err := slow.drain(5 * time.Second)
			if err != nil {
				t.Errorf("slow subscriber's connection still open: %v", err)
			}
			if len(rest) >= n*size {
				t.Errorf("slow subscriber received everything (%d bytes): it was never too slow", len(rest))
			}
			select {
			case r := <-goodDone:
				if r.err != nil || r.got != n {
					t.Fatalf("good subscriber got %d of %d: %v", r.got, n, r.err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("good subscriber did not get every message")
			}
			if got := stActive(t, s, "sc"); got != 1 {
				t.Errorf("active subscribers %d, want 1 (the good one)", got)
			}
			good.expectSilence(t, 50*time.Millisecond)
		})
	}
}

// TestStreamSubscriberCounts: streaming subscribers count while connected
// and stop counting as soon as their TCP connection closes.
func TestStreamSubscriberCounts(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	cases := []struct {
		name, loc string
		headers   []string
	}{
		{"eventsource", "sub", []string{"Accept", "text/event-stream"}},
		{"websocket", "sub", stWSHeaders()},
		{"websocket ws+meta", "sub", stWSHeaders("Sec-WebSocket-Protocol", "ws+meta.nchan")},
		{"websocket pubsub", "pubsub", stWSHeaders()},
		{"chunked", "sub", []string{"TE", "chunked"}},
		{"multipart", "sub", []string{"Accept", "multipart/mixed"}},
		{"raw stream", "raw", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("cnt%d", i)
			var conns []*stConn
			for range 2 {
				c := stOpen(t, s, "GET", "/"+tc.loc+"/"+ch, tc.headers...)
				if c.Status != http.StatusOK && c.Status != http.StatusSwitchingProtocols {
					t.Fatalf("status %d", c.Status)
				}
				conns = append(conns, c)
			}
			if n := stActive(t, s, ch); n != 2 {
				t.Fatalf("active subscribers %d, want 2", n)
			}
			conns[0].conn.Close()
			stWaitActive(t, s, ch, 1, 2*time.Second)
			// The survivor still receives.
			stPub(t, s, ch, "still here")
			conns[1].conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := conns[1].br.Peek(1); err != nil {
				t.Fatalf("survivor: %v", err)
			}
			conns[1].conn.Close()
			stWaitActive(t, s, ch, 0, 2*time.Second)
		})
	}
}

// ---------------------------------------------------------------------------
// CORS.

func TestStreamCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	const origin = "http://app.example"
	checkCORS := func(t *testing.T, h http.Header, origin string) {
		t.Helper()
		if got := h.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
		}
		if got := h.Get("Access-Control-Expose-Headers"); got != "Last-Modified, Etag, Content-Type" {
			t.Errorf("Access-Control-Expose-Headers %q, want %q", got, "Last-Modified, Etag, Content-Type")
		}
	}
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"eventsource", []string{"Accept", "text/event-stream"}},
		{"chunked", []string{"TE", "chunked"}},
		{"multipart", []string{"Accept", "multipart/mixed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := stOpen(t, s, "GET", "/sub/cors"+tc.name, append([]string{"Origin", origin}, tc.headers...)...)
			if c.Status != http.StatusOK {
				t.Fatalf("status %d", c.Status)
			}
			checkCORS(t, c.Header, origin)
			// Without an Origin: no CORS headers.
			p := stOpen(t, s, "GET", "/sub/cors"+tc.name, tc.headers...)
			if v := p.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("Access-Control-Allow-Origin %q without an Origin", v)
			}
		})
	}
	t.Run("long-poll", func(t *testing.T) {
		stPub(t, s, "corslp", "m")
		r := do(t, "GET", s.URL+"/sub/corslp", "", "Origin", origin)
		if r.Status != http.StatusOK || r.Body != "m" {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
		checkCORS(t, r.Header, origin)
	})
	t.Run("allowed origin list", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			headers []string
		}{
			{"eventsource", []string{"Accept", "text/event-stream"}},
			{"websocket", stWSHeaders()},
			{"long-poll", nil},
		} {
			c := stOpen(t, s, "GET", "/cors/x"+tc.name, append([]string{"Origin", "http://evil.example"}, tc.headers...)...)
			if c.Status != http.StatusForbidden {
				t.Errorf("%s from http://evil.example: status %d, want 403", tc.name, c.Status)
			}
		}
		c := stOpen(t, s, "GET", "/cors/xgood", "Origin", "http://good.example", "Accept", "text/event-stream")
		if c.Status != http.StatusOK {
			t.Fatalf("from http://good.example: status %d, want 200", c.Status)
		}
		checkCORS(t, c.Header, "http://good.example")
		c.expect(t, ": hi\n\n")
		id := stPub(t, s, "xgood", "welcome")
		c.expect(t, stEvent("", id, "welcome"))
		// No Origin (same-origin or non-browser client): allowed.
		if n := stOpen(t, s, "GET", "/cors/xgood", "Accept", "text/event-stream"); n.Status != http.StatusOK {
			t.Errorf("without Origin: status %d, want 200", n.Status)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		c := stOpen(t, s, "OPTIONS", "/sub/pre", "Origin", origin, "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "etag")
		if c.Status != http.StatusOK {
			t.Fatalf("OPTIONS: status %d, want 200", c.Status)
		}
		allowed := map[string]bool{}
		for h := range strings.SplitSeq(c.Header.Get("Access-Control-Allow-Headers"), ",") {
			allowed[strings.ToLower(strings.TrimSpace(h))] = true
		}
		for _, h := range []string{"etag", "if-none-match", "if-modified-since", "last-event-id"} {
			if !allowed[h] {
				t.Errorf("Access-Control-Allow-Headers %q lacks %s", c.Header.Get("Access-Control-Allow-Headers"), h)
			}
		}
		if m := c.Header.Get("Access-Control-Allow-Methods"); m != "GET" {
			t.Errorf("Access-Control-Allow-Methods %q, want GET", m)
		}
		if got := c.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
		}
	})
}

// ---------------------------------------------------------------------------
// HTTP/2 (cleartext, prior knowledge).

func TestStreamHTTP2(t *testing.T) {
	t.Parallel()
	s := startServer(t, stConfig)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	open := func(t *testing.T, path string, headers ...string) (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %s over h2c: %v", path, err)
		}
		if res.ProtoMajor != 2 {
			res.Body.Close()
			cancel()
			t.Fatalf("GET %s: protocol %s, want HTTP/2", path, res.Proto)
		}
		return res, func() { res.Body.Close(); cancel() }
	}
	readExactly := func(t *testing.T, r io.Reader, want string) {
		t.Helper()
		buf := make([]byte, len(want))
		if n, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q (%v), want %q", buf[:n], err, want)
		}
	}

	t.Run("eventsource", func(t *testing.T) {
		res, done := open(t, "/sub/h2es", "Accept", "text/event-stream")
		defer done()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
			t.Fatalf("got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		readExactly(t, res.Body, ": hi\n\n")
		for _, b := range []string{"first", "second\nline"} {
			id := stPub(t, s, "h2es", b)
			readExactly(t, res.Body, stEvent("", id, b))
		}
		do(t, "DELETE", s.URL+"/pub/h2es", "")
		readExactly(t, res.Body, ":410: 410 Gone\n\n")
		if b, err := io.ReadAll(res.Body); err != nil || len(b) != 0 {
			t.Errorf("after 410: %q %v, want the end of the stream", b, err)
		}
	})
	t.Run("raw stream", func(t *testing.T) {
		res, done := open(t, "/raw/h2raw")
		defer done()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		waitSubscribers(t, s, "/h2raw", 1)
		stPub(t, s, "h2raw", "raw over h2")
		readExactly(t, res.Body, "raw over h2\n")
	})
	t.Run("multipart", func(t *testing.T) {
		res, done := open(t, "/sub/h2mp", "Accept", "multipart/mixed")
		defer done()
		m := stBoundaryRE.FindStringSubmatch(res.Header.Get("Content-Type"))
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		readExactly(t, res.Body, "--"+m[1])
		id := stPub(t, s, "h2mp", "part", "Content-Type", "text/plain")
		sec, tag, _ := strings.Cut(id, ":")
		n, _ := strconv.ParseInt(sec, 10, 64)
		readExactly(t, res.Body, "\r\nLast-Modified: "+time.Unix(n, 0).UTC().Format(http.TimeFormat)+"\r\nEtag: "+tag+
			"\r\nContent-Type: text/plain\r\n\r\npart\r\n--"+m[1])
	})
	t.Run("subscriber count drops on cancel", func(t *testing.T) {
		res, done := open(t, "/sub/h2cnt", "Accept", "text/event-stream")
		readExactly(t, res.Body, ": hi\n\n")
		stWaitActive(t, s, "h2cnt", 1, 2*time.Second)
		done() // RST_STREAM
		stWaitActive(t, s, "h2cnt", 0, 2*time.Second)
	})
	t.Run("send_timeout", func(t *testing.T) {
		// A stream whose client stops reading exhausts its flow-control
		// window; after send_timeout (1s) the server gives up on it.
		slowTr := &http.Transport{Protocols: &protos}
		defer slowTr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/slow/h2slow", nil)
		req.Header.Set("Accept", "text/event-stream")
		res, err := (&http.Client{Transport: slowTr}).Do(req)
		if err != nil {
			t.Fatalf("GET over h2c: %v", err)
		}
		defer res.Body.Close()
		stWaitActive(t, s, "h2slow", 1, 2*time.Second)
		pad := strings.Repeat("x", 64<<10)
		for i := range 160 { // 10 MB, more than the client's 4 MB stream window
			t0 := time.Now()
			stPubAt(t, s, "/slowpub/h2slow", fmt.Sprint(i, pad))
			if d := time.Since(t0); d > 800*time.Millisecond {
				t.Fatalf("publish %d took %v: the publisher waited on a slow subscriber", i, d)
			}
		}
		stWaitActive(t, s, "h2slow", 0, 6*time.Second)
	})
	t.Run("long-poll", func(t *testing.T) {
		type out struct {
			res  *http.Response
			body string
			err  error
		}
		ch := make(chan out, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/sub/h2lp", nil)
			res, err := client.Do(req)
			if err != nil {
				ch <- out{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			ch <- out{res, string(b), err}
		}()
		deadline := time.Now().Add(3 * time.Second)
		for stActive(t, s, "h2lp") != 1 {
			if time.Now().After(deadline) {
				select {
				case o := <-ch:
					t.Fatalf("long-poll over h2c never parked: %v", o.err)
				default:
					t.Fatalf("long-poll over h2c never parked")
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		stPub(t, s, "h2lp", "polled")
		o := <-ch
		if o.err != nil {
			t.Fatalf("long-poll: %v", o.err)
		}
		if o.res.ProtoMajor != 2 || o.res.StatusCode != 200 || o.body != "polled" {
			t.Fatalf("got %s %d %q, want HTTP/2 200 %q", o.res.Proto, o.res.StatusCode, o.body, "polled")
		}
	})
}

// ---------------------------------------------------------------------------
// Graceful shutdown.

func TestStreamGracefulShutdown(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(stConfig), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv := servertest.Start(t, servertest.Options{Config: cfg})
	s := &testServer{URL: srv.URL, Store: srv.Store.(*memory.Store)}
	done := make(chan error, 1)
	cancel := func() { go func() { done <- srv.Stop() }() } // shutdown begins

	es := stES(t, s, "/sub/bye")
	wsc := stWS(t, s, "/sub/bye")
	chunk := stOpen(t, s, "GET", "/sub/bye", "TE", "chunked")
	wsPub := stWS(t, s, "/pub/bye")
	id := stPub(t, s, "bye", "before")
	es.expect(t, stEvent("", id, "before"))
	wsc.expectFrame(t, ws.OpText, "before")
	chunk.expect(t, "6\r\nbefore\r\n")

	start := time.Now()
	cancel()
	var wg sync.WaitGroup
	check := func(name string, f func(t *testing.T)) {
		wg.Go(func() { t.Run(name, f) })
	}
	check("eventsource", func(t *testing.T) {
		rest, err := es.drain(1500 * time.Millisecond)
		if err != nil {
			t.Errorf("EventSource stream still open %v after shutdown began", time.Since(start))
		}
		if rest != "" && rest != ":503: 503 Service Unavailable\n\n" {
			t.Errorf("EventSource stream ended with %q", rest)
		}
	})
	check("websocket", func(t *testing.T) { wsc.expectClose(t, ws.StatusGoingAway, "*") })
	check("websocket publisher", func(t *testing.T) { wsPub.expectClose(t, ws.StatusGoingAway, "*") })
	check("chunked", func(t *testing.T) {
		rest, err := chunk.drain(1500 * time.Millisecond)
		if err != nil {
			t.Errorf("chunked stream still open after shutdown began")
		}
		if rest != "0\r\n\r\n" {
			t.Errorf("chunked stream ended with %q, want the last chunk", rest)
		}
	})
	wg.Wait()
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("streams took %v to end", d)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Serve did not return")
	}
}
