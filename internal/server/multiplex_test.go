package server_test

// Streaming multiplexed subscribers (/sub/a,b): their compound ids, the
// order of backlog and live messages, and resuming.

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestMultiplexStreaming(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
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
			mux := newMuxIDs(2)
			type sent struct {
				step
				id msgID
			}
			publishAll := func(steps []step) []sent {
				var out []sent
				for _, st := range steps {
					id, _ := publish(t, s, chans[st.idx], st.body)
					out = append(out, sent{st, id})
				}
				return out
			}
			backlog := publishAll(before)
			var c *rawConn
			if transport == "eventsource" {
				c = openEventSource(t, s, target)
			} else {
				c = openWebSocket(t, s, target, "Sec-WebSocket-Protocol", "ws+meta.nchan")
			}
			check := func(x sent) {
				t.Helper()
				want := mux.next(x.idx, x.id)
				if transport == "eventsource" {
					c.expect(t, sseEvent("", want, x.body))
				} else {
					c.expectFrame(t, ws.OpText, "id: "+want+"\n\n"+x.body)
				}
			}
			// The backlog comes in publish order, not channel order.
			for _, x := range backlog {
				check(x)
			}
			// Live messages published back to back also keep their order.
			for _, x := range publishAll(after) {
				check(x)
			}
		})
	}
	// A multiplexed resume from an url-encoded id continues after it.
	t.Run("resume", func(t *testing.T) {
		t.Parallel()
		chans := []string{"mxra", "mxrb"}
		mux := newMuxIDs(2)
		id1, _ := publish(t, s, chans[0], "a1")
		resume := mux.next(0, id1)
		id2, _ := publish(t, s, chans[1], "b1")
		u, _ := resumeWithID(t, "/sub/mxra,mxrb", byQuery, resume)
		c := openEventSource(t, s, u)
		c.expect(t, sseEvent("", mux.next(1, id2), "b1"))
		c.expectSilence(t, 100*time.Millisecond)
	})
}
