//go:build linux

package server_test

// Fan-out groups over real sockets: many subscribers of one channel served
// by several group writers, and subscribers whose connection stops taking
// data for a while (a partial write hands them to a goroutine of their own)
// and then read on.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// stReadMessage reads the next message body of an EventSource or WebSocket
// subscription; WebSocket pongs are counted in pongs and skipped.
func stReadMessage(c *stConn, isWS bool, pongs *int) (id, body string, err error) {
	if !isWS {
		var lines []string
		for {
			line, err := c.br.ReadString('\n')
			if err != nil {
				return "", "", err
			}
			if line == "\n" {
				break
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], "data: ") {
			return "", "", fmt.Errorf("malformed event %.120q", lines)
		}
		return strings.TrimPrefix(lines[0], "id: "), strings.TrimPrefix(lines[1], "data: "), nil
	}
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return "", "", err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return "", "", err
		}
		switch {
		case h.OpCode == ws.OpPong && h.Fin:
			*pongs++
			continue
		case h.OpCode != ws.OpText || !h.Fin || h.Masked || h.Rsv != 0:
			return "", "", fmt.Errorf("frame op %d fin %v masked %v rsv %d", h.OpCode, h.Fin, h.Masked, h.Rsv)
		}
		return "", string(p), nil
	}
}

// TestStreamManySubscribers: hundreds of EventSource and WebSocket
// subscribers of one channel (more than one group writer's share) get every
// message of a burst four times the buffer's length once and in order, and
// stop counting as soon as they close.
func TestStreamManySubscribers(t *testing.T) {
	t.Parallel()
	const perTransport, messages = 350, 40
	s := startServer(t, stConfig)
	type sub struct {
		c    *stConn
		isWS bool
	}
	var subs []sub
	for i := range perTransport {
		subs = append(subs, sub{stES(t, s, "/sub/many"), false}, sub{stWS(t, s, "/sub/many"), true})
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // a ramp, not a connect storm
		}
	}
	waitSubscribers(t, s, "/many", 2*perTransport)

	ids := make([]string, messages)
	for i := range messages {
		// Published back to back into a buffer of 10: later messages
		// arrive while the writers are still delivering earlier ones, go
		// out together, and those that leave the buffer before a
		// subscriber was written to are still delivered to it.
		ids[i] = stPub(t, s, "many", fmt.Sprintf("burst-%03d", i))
	}

	errs := make(chan error, len(subs))
	var wg sync.WaitGroup
	for n, sb := range subs {
		wg.Go(func() {
			sb.c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var pongs int
			for i := range messages {
				id, body, err := stReadMessage(sb.c, sb.isWS, &pongs)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d (websocket %v): message %d: %v", n, sb.isWS, i, err)
					return
				}
				if want := fmt.Sprintf("burst-%03d", i); body != want || (!sb.isWS && id != ids[i]) {
					errs <- fmt.Errorf("subscriber %d (websocket %v): message %d is id %q %q, want id %q %q", n, sb.isWS, i, id, body, ids[i], want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d subscribers did not get the burst", failed, len(subs))
	}
	for _, sb := range subs {
		sb.c.expectSilence(t, time.Millisecond)
	}

	for _, sb := range subs[:len(subs)/2] {
		sb.c.conn.Close()
	}
	stWaitActive(t, s, "many", len(subs)-len(subs)/2, 5*time.Second)
	// The rest still receive.
	id := stPub(t, s, "many", "after")
	for _, sb := range subs[len(subs)/2:] {
		sb.c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var pongs int
		gotID, body, err := stReadMessage(sb.c, sb.isWS, &pongs)
		if err != nil || body != "after" || (!sb.isWS && gotID != id) {
			t.Fatalf("after closing half: got %q %q %v, want %q %q", gotID, body, err, id, "after")
		}
	}
}

// TestStreamPausedReader: a subscriber that stops reading while large
// messages are published (its socket buffers fill, so a write goes out only
// in part) and then reads on gets every message intact and in order, stays
// subscribed, and keeps receiving. A WebSocket ping sent meanwhile is
// answered after the frame in flight, not inside it.
func TestStreamPausedReader(t *testing.T) {
	t.Parallel()
	const n, size = 100, 64 << 10 // 6.4 MB: more than loopback socket buffers hold
	bodyOf := func(i int) string {
		head := fmt.Sprintf("msg-%04d-", i)
		return head + strings.Repeat(string(rune('a'+i%26)), size-len(head))
	}
	for _, isWS := range []bool{false, true} {
		t.Run(map[bool]string{false: "eventsource", true: "websocket"}[isWS], func(t *testing.T) {
			t.Parallel()
			s := startServer(t, stConfig)
			ch := fmt.Sprintf("paused%v", isWS)
			// A small receive buffer, set before connecting so the window
			// is sized for it from the start.
			d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
				})
				if err != nil {
					return err
				}
				return serr
			}}
			conn, err := d.Dial("tcp", stAddr(s))
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			var c *stConn
			if isWS {
				c = stRequest(t, s, conn, "GET", "/sub/"+ch, stWSHeaders()...)
			} else {
				c = stRequest(t, s, conn, "GET", "/sub/"+ch, "Accept", "text/event-stream")
			}
			if err := c.readHead(3 * time.Second); err != nil {
				t.Fatalf("response head: %v", err)
			}
			if want := map[bool]int{false: http.StatusOK, true: http.StatusSwitchingProtocols}[isWS]; c.Status != want {
				t.Fatalf("status %d, want %d", c.Status, want)
			}
			if !isWS {
				c.expect(t, ": hi\n\n")
			}
			waitSubscribers(t, s, "/"+ch, 1)

			for i := range n {
				stPubAt(t, s, "/slowpub/"+ch, bodyOf(i))
			}
			if isWS {
				c.send(t, ws.OpPing, []byte("are you there"), true, false)
			}
			time.Sleep(200 * time.Millisecond)

			c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var pongs int
			for i := range n {
				_, body, err := stReadMessage(c, isWS, &pongs)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if body != bodyOf(i) {
					t.Fatalf("message %d is %.20q..., want %.20q...", i, body, bodyOf(i))
				}
			}
			if got := stActive(t, s, ch); got != 1 {
				t.Fatalf("active subscribers %d, want 1: a paused reader is not too slow within send_timeout", got)
			}
			stPub(t, s, ch, "still here")
			if _, body, err := stReadMessage(c, isWS, &pongs); err != nil || body != "still here" {
				t.Fatalf("after catching up: %q %v, want %q", body, err, "still here")
			}
			if isWS && pongs != 1 {
				t.Fatalf("%d pongs, want 1", pongs)
			}
		})
	}
}
