package server_test

// WebSocket clients that are slow or hostile: frames that stop part way,
// messages over the location's cap, connections that go quiet between
// messages (which is fine), and the permessage-deflate negotiation as
// Nchan answers it.

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// heartbeat200 is a 200-byte websocket_client_heartbeat, longer than the
// 125 bytes a subscriber-only location otherwise accepts.
var heartbeat200 = strings.Repeat("h", 200)

// hostileConfig: a short client_body_timeout everywhere but /steady.
var hostileConfig = testConfig([]string{"client_body_timeout: 300ms"},
	prefixLocation("pub", "publisher: true"),
	prefixLocation("sub", "subscriber: true"),
	prefixLocation("pubsub", "pubsub: true"),
	prefixLocation("small", "pubsub: true", "client_max_body_size: 16"),
	prefixLocation("hb", "subscriber: true", "websocket_client_heartbeat: "+heartbeat200+" PONG"),
	prefixLocation("deflate", "subscriber: true"),
	prefixLocation("deflatepub", "publisher: true", "deflate_message_for_websocket: on"),
	prefixLocation("steady", "pubsub: true", "client_body_timeout: 2s"),
)

// timedOut is the close reason of a message that stopped arriving.
const timedOut = "Message not received within client_body_timeout."

func TestWebSocketHostileFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileConfig)
	deflateExt := []string{"Sec-WebSocket-Extensions", "permessage-deflate"}
	text := func(n int) []byte { return bytes.Repeat([]byte("t"), n) }
	whole := func(op ws.OpCode, p []byte) []byte {
		return append(maskedHeader(op, true, int64(len(p))), maskedPayload(p, 0)...)
	}
	cases := []struct {
		name    string
		loc     string
		headers []string
		send    func(t *testing.T) []byte
		code    ws.StatusCode
		reason  string
	}{
		// Where nothing is published over WebSocket a message can only be a
		// heartbeat: anything longer is refused at its header, as Nchan does.
		{"1 MiB announced on a subscriber location", "sub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpBinary, true, 1<<20) }, ws.StatusPolicyViolation, "Publishing not allowed."},
		{"1 TiB announced on a subscriber location", "sub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpText, false, 1<<40) }, ws.StatusPolicyViolation, "Publishing not allowed."},
		{"126 bytes on a subscriber location", "sub", nil,
			func(*testing.T) []byte { return whole(ws.OpText, text(126)) }, ws.StatusPolicyViolation, "Publishing not allowed."},
		{"longer than the heartbeat", "hb", nil,
			func(*testing.T) []byte { return whole(ws.OpText, text(201)) }, ws.StatusPolicyViolation, "Publishing not allowed."},
		{"compressed, inflating past 125 bytes on a subscriber location", "sub", deflateExt,
			func(t *testing.T) []byte { return compressed(t, strings.Repeat("z", 1000)) }, ws.StatusPolicyViolation, "Publishing not allowed."},
		// Where it is published, client_max_body_size caps it.
		{"1 TiB announced on a pubsub location", "pubsub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpBinary, true, 1<<40) }, ws.StatusMessageTooBig, "*"},
		{"compressed, inflating past client_max_body_size", "small", deflateExt,
			func(t *testing.T) []byte { return compressed(t, strings.Repeat("z", 100)) }, ws.StatusMessageTooBig, "Message too big."},
		// Frames that stop arriving are given up after client_body_timeout.
		{"payload stops part way", "pubsub", nil,
			func(*testing.T) []byte {
				return append(maskedHeader(ws.OpBinary, true, 64<<10), maskedPayload(text(1000), 0)...)
			}, ws.StatusPolicyViolation, timedOut},
		{"header only", "pubsub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpText, true, 100) }, ws.StatusPolicyViolation, timedOut},
		{"header cut short", "pubsub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpText, true, 100)[:3] }, ws.StatusPolicyViolation, timedOut},
		{"first fragment, then nothing", "pubsub", nil,
			func(*testing.T) []byte {
				return append(maskedHeader(ws.OpText, false, 3), maskedPayload([]byte("abc"), 0)...)
			}, ws.StatusPolicyViolation, timedOut},
		{"a subscriber's frame header, then nothing", "sub", nil,
			func(*testing.T) []byte { return maskedHeader(ws.OpPing, true, 10) }, ws.StatusPolicyViolation, timedOut},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("wsh%d", i)
			c := openWebSocket(t, s, "/"+tc.loc+"/"+ch, tc.headers...)
			c.write(t, tc.send(t))
			c.expectClose(t, tc.code, tc.reason)
			if n := queued(t, s, ch); n != 0 {
				t.Errorf("%d messages published", n)
			}
		})
	}
	t.Cleanup(func() {
		// Every connection was closed: the readers let go of what they held.
		waitFor(t, waitTimeout, "readers let go", func() bool { r := s.receiving(); return r.Messages == 0 && r.Bytes == 0 })
	})
}

// TestWebSocketQuietClients: client_body_timeout runs only within a
// message. A connection quiet between messages stays open, a long
// heartbeat is answered, and a message sent slowly but steadily arrives.
func TestWebSocketQuietClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileConfig)
	t.Run("quiet between messages", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/pubsub/wsquiet")
		for _, m := range []string{"one", "two"} {
			c.send(t, ws.OpText, []byte(m), true, false)
			c.expectFrame(t, ws.OpText, m)
			c.expectSilence(t, 700*time.Millisecond) // over the 300ms timeout
		}
		sub := openWebSocket(t, s, "/sub/wsquiet2")
		sub.send(t, ws.OpPing, []byte("p"), true, false)
		sub.expectFrame(t, ws.OpPong, "p")
		sub.expectSilence(t, 700*time.Millisecond)
	})
	t.Run("long heartbeat", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/hb/wsquiethb")
		c.send(t, ws.OpText, []byte(heartbeat200), true, false)
		c.expectFrame(t, ws.OpText, "PONG")
	})
	t.Run("slow but steady message", func(t *testing.T) {
		t.Parallel()
		c := openWebSocket(t, s, "/steady/wssteady")
		msg := bytes.Repeat([]byte("0123456789"), 3000)
		c.write(t, maskedHeader(ws.OpText, true, int64(len(msg))))
		const piece = 3000
		for i := 0; i < len(msg); i += piece {
			time.Sleep(20 * time.Millisecond) // far below the timeout
			c.write(t, maskedPayload(msg[i:i+piece], i))
		}
		c.expectFrame(t, ws.OpText, string(msg))
	})
}

// TestWebSocketDeflateNegotiation: each offer is answered as Nchan 1.3.6
// answers it (nchan, measured on a running Nchan), except that Herald
// always adds server_no_context_takeover (it never keeps compression
// context), reads every Sec-WebSocket-Extensions header where Nchan reads
// the first, and declines the legacy per-frame extensions it does not
// implement where Nchan accepts them.
func TestWebSocketDeflateNegotiation(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileConfig)
	const pmd = "permessage-deflate; server_no_context_takeover"
	cases := []struct {
		offers []string // one Sec-WebSocket-Extensions header each
		status int
		ext    string // Herald's answer, or the body of a 400
		nchan  string // Nchan's answer, where it differs
	}{
		{[]string{"permessage-deflate"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; client_max_window_bits"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; client_max_window_bits=8"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; client_max_window_bits=9"}, 101, pmd + "; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9"},
		{[]string{"permessage-deflate; client_max_window_bits=12"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"permessage-deflate; client_max_window_bits=15"}, 101, pmd + "; client_max_window_bits=15", "permessage-deflate; client_max_window_bits=15"},
		{[]string{"permessage-deflate; client_max_window_bits=16"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; client_max_window_bits=0"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; client_max_window_bits=99999999999999999999"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{`permessage-deflate; client_max_window_bits="12"`}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"permessage-deflate; client_max_window_bits=12abc"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"permessage-deflate; client_max_window_bits=abc"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; client_max_window_bits=-1"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; server_max_window_bits"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; server_max_window_bits=8"}, 400, "invalid server_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; server_max_window_bits=9"}, 400, "server_max_window_bits perframe-deflate is too small", ""},
		{[]string{"permessage-deflate; server_max_window_bits=10"}, 101, pmd + "; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"},
		{[]string{"permessage-deflate; server_max_window_bits=11"}, 101, pmd + "; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"},
		{[]string{"permessage-deflate; server_max_window_bits=15"}, 101, pmd + "; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, 400, "invalid server_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; server_no_context_takeover"}, 101, pmd, ""},
		{[]string{"permessage-deflate; client_no_context_takeover"}, 101, pmd + "; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"},
		{[]string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, 101, pmd + "; client_no_context_takeover", ""},
		{[]string{"permessage-deflate; client_max_window_bits=11; server_max_window_bits=12"}, 101, pmd + "; server_max_window_bits=10; client_max_window_bits=11", "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"},
		{[]string{"permessage-deflate; client_max_window_bits=8; server_max_window_bits=9"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; client_max_window_bits=12; client_max_window_bits=8"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"permessage-deflate; foo=bar"}, 101, pmd, "permessage-deflate"},
		{[]string{"PERMESSAGE-DEFLATE"}, 101, "", ""},
		{[]string{"foo-ext"}, 101, "", ""},
		// Several offers.
		{[]string{"permessage-deflate; client_max_window_bits=8, permessage-deflate"}, 400, "invalid client_max_window_bits permessage-deflate setting", ""},
		{[]string{"permessage-deflate; client_max_window_bits=12, permessage-deflate"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"foo-ext, permessage-deflate; client_max_window_bits=12"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"x-webkit-deflate-frame; max_window_bits=8, permessage-deflate"}, 101, pmd, "permessage-deflate"},
		{[]string{"permessage-deflate; server_max_window_bits=10, x-webkit-deflate-frame; max_window_bits=8"}, 101, pmd + "; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"},
		{[]string{"permessage-deflate; client_max_window_bits=12", "permessage-deflate; server_max_window_bits=8"}, 101, pmd + "; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"},
		{[]string{"foo-ext", "permessage-deflate"}, 101, pmd, "(none: Nchan reads the first header only)"},
		// The legacy per-frame extensions: refused as Nchan refuses them,
		// declined where Nchan accepts them.
		{[]string{"x-webkit-deflate-frame"}, 101, "", "x-webkit-deflate-frame"},
		{[]string{"x-webkit-deflate-frame; max_window_bits=8"}, 400, "invalid max_window_bits perframe-deflate setting", ""},
		{[]string{"x-webkit-deflate-frame; max_window_bits=9"}, 400, "max_window_bits perframe-deflate is too small", ""},
		{[]string{"x-webkit-deflate-frame; max_window_bits=12"}, 101, "", "x-webkit-deflate-frame; max_window_bits=10"},
		{[]string{"x-webkit-deflate-frame; max_window_bits=16"}, 400, "invalid max_window_bits perframe-deflate setting", ""},
		{[]string{"x-webkit-deflate-frame; max_window_bits=abc"}, 101, "", "x-webkit-deflate-frame"},
		{[]string{"deflate-frame; max_window_bits=8"}, 400, "invalid max_window_bits perframe-deflate setting", ""},
		{[]string{"deflate-frame; max_window_bits=12"}, 101, "", "deflate-frame; max_window_bits=10"},
	}
	for i, tc := range cases {
		t.Run(strings.Join(tc.offers, " | "), func(t *testing.T) {
			t.Parallel()
			var extra []string
			for _, o := range tc.offers {
				extra = append(extra, "Sec-WebSocket-Extensions", o)
			}
			c := openRaw(t, s, "GET", fmt.Sprintf("/sub/wsneg%d", i), wsHeaders(extra...)...)
			if c.Status != tc.status {
				t.Fatalf("status %d, want %d", c.Status, tc.status)
			}
			if tc.status == http.StatusBadRequest {
				if got := strings.TrimSpace(c.body(t)); got != tc.ext {
					t.Errorf("body %q, want %q", got, tc.ext)
				}
				return
			}
			if got := c.Header.Get("Sec-WebSocket-Extensions"); got != tc.ext {
				t.Errorf("Sec-WebSocket-Extensions %q, want %q", got, tc.ext)
			}
		})
	}
}

// TestWebSocketDeflateWindow: with server_max_window_bits answered as 10,
// messages that fit a 1 KiB window go out compressed and larger ones
// plain.
func TestWebSocketDeflateWindow(t *testing.T) {
	t.Parallel()
	s := startServer(t, hostileConfig)
	for _, meta := range []bool{false, true} {
		t.Run(fmt.Sprintf("ws+meta %v", meta), func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("wswin%v", meta)
			h := []string{"Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=12"}
			if meta {
				h = append(h, "Sec-WebSocket-Protocol", "ws+meta.nchan")
			}
			c := openWebSocket(t, s, "/deflate/"+ch, h...)
			if ext := c.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "server_max_window_bits=10") {
				t.Fatalf("Sec-WebSocket-Extensions %q, want server_max_window_bits=10", ext)
			}
			small, large := strings.Repeat("small message ", 60), strings.Repeat("large message ", 80) // 840 and 1120 bytes
			for _, body := range []string{small, large} {
				id, _ := publishTo(t, s, "/deflatepub/"+ch, body)
				want := body
				if meta {
					want = "id: " + id.String() + "\n\n" + body
				}
				hd, p := c.frame(t, 3*time.Second)
				got := string(p)
				if hd.Rsv1() {
					got = inflate(t, p)
				}
				if got != want || hd.Rsv1() != (body == small) {
					t.Fatalf("%d-byte message: RSV1 %v, payload %.60q; want it compressed only if it fits 1 KiB", len(body), hd.Rsv1(), got)
				}
			}
		})
	}
}
