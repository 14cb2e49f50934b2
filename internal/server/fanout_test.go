//go:build linux

package server_test

// Fan-out groups over real sockets: many subscribers of one channel served
// by several group writers, and subscribers whose connection stops taking
// data for a while (a partial write hands them to a goroutine of their own)
// and then read on.

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// tcpQueues is the send and receive queue of the IPv4 TCP socket from
// local to remote, from /proc/net/tcp; ok is false if there is none.
func tcpQueues(local, remote net.Addr) (tx, rx int, ok bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, 0, false
	}
	key := func(a net.Addr) string {
		ta := a.(*net.TCPAddr)
		ip := ta.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
	}
	l, r := key(local), key(remote)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != l || f[2] != r {
			continue
		}
		txs, rxs, _ := strings.Cut(f[4], ":")
		t, err1 := strconv.ParseUint(txs, 16, 32)
		r, err2 := strconv.ParseUint(rxs, 16, 32)
		return int(t), int(r), err1 == nil && err2 == nil
	}
	return 0, 0, false
}

// TestFanOutManySubscribers: hundreds of EventSource and WebSocket
// subscribers of one channel (more than one group writer's share) get every
// message of a burst four times the buffer's length once and in order, and
// stop counting as soon as they close.
func TestFanOutManySubscribers(t *testing.T) {
	t.Parallel()
	const perTransport, messages = 350, 40
	s := startServer(t, streamConfig)
	type sub struct {
		c    *rawConn
		isWS bool
	}
	var subs []sub
	for i := range perTransport {
		subs = append(subs, sub{openEventSource(t, s, "/sub/many"), false}, sub{openWebSocket(t, s, "/sub/many"), true})
		if i%50 == 0 { // a ramp, not a connect storm
			waitSubscribers(t, s, "many", len(subs))
		}
	}
	waitSubscribers(t, s, "many", 2*perTransport)

	ids := make([]msgID, messages)
	for i := range messages {
		// Published back to back into a buffer of 10: later messages
		// arrive while the writers are still delivering earlier ones, go
		// out together, and those that leave the buffer before a
		// subscriber was written to are still delivered to it.
		ids[i], _ = publish(t, s, "many", fmt.Sprintf("burst-%03d", i))
	}

	errs := make(chan error, len(subs))
	var wg sync.WaitGroup
	for n, sb := range subs {
		wg.Go(func() {
			sb.c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var pongs int
			for i := range messages {
				id, body, err := sb.c.readMessage(sb.isWS, &pongs)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d (websocket %v): message %d: %v", n, sb.isWS, i, err)
					return
				}
				if want := fmt.Sprintf("burst-%03d", i); body != want || (!sb.isWS && id != ids[i].String()) {
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
	waitSubscribers(t, s, "many", len(subs)-len(subs)/2)
	// The rest still receive.
	id, _ := publish(t, s, "many", "after")
	for _, sb := range subs[len(subs)/2:] {
		sb.c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var pongs int
		gotID, body, err := sb.c.readMessage(sb.isWS, &pongs)
		if err != nil || body != "after" || (!sb.isWS && gotID != id.String()) {
			t.Fatalf("after closing half: got %q %q %v, want %q %q", gotID, body, err, id, "after")
		}
	}
}

// TestFanOutPausedReader: a subscriber that stops reading while large
// messages are published (its socket buffers fill, so a write goes out only
// in part) and then reads on gets every message intact and in order, stays
// subscribed, and keeps receiving. A WebSocket ping sent meanwhile is
// answered after the frame in flight, not inside it.
func TestFanOutPausedReader(t *testing.T) {
	t.Parallel()
	const n, size = 100, 64 << 10 // 6.4 MB: more than loopback socket buffers hold
	bodyOf := func(i int) string {
		head := fmt.Sprintf("msg-%04d-", i)
		return head + strings.Repeat(string(rune('a'+i%26)), size-len(head))
	}
	for _, isWS := range []bool{false, true} {
		t.Run(map[bool]string{false: "eventsource", true: "websocket"}[isWS], func(t *testing.T) {
			t.Parallel()
			s := startServer(t, streamConfig)
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
			conn, err := d.Dial("tcp", s.addr())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			var c *rawConn
			if isWS {
				c = sendRawOn(t, s, conn, "GET", "/sub/"+ch, wsHeaders()...)
			} else {
				c = sendRawOn(t, s, conn, "GET", "/sub/"+ch, "Accept", "text/event-stream")
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
			waitSubscribers(t, s, ch, 1)

			for i := range n {
				publishTo(t, s, "/slowpub/"+ch, bodyOf(i))
			}
			if isWS {
				c.send(t, ws.OpPing, []byte("are you there"), true, false)
			}
			// The reader stays paused until data backs up on both ends: in
			// its receive queue and in the server's send queue.
			waitFor(t, waitTimeout, "data backed up on the paused connection", func() bool {
				_, rx, ok1 := tcpQueues(conn.LocalAddr(), conn.RemoteAddr())
				tx, _, ok2 := tcpQueues(conn.RemoteAddr(), conn.LocalAddr())
				return ok1 && ok2 && rx > 0 && tx > 0
			})

			c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			var pongs int
			for i := range n {
				_, body, err := c.readMessage(isWS, &pongs)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if body != bodyOf(i) {
					t.Fatalf("message %d is %.20q..., want %.20q...", i, body, bodyOf(i))
				}
			}
			if got := subscribers(t, s, ch); got != 1 {
				t.Fatalf("active subscribers %d, want 1: a paused reader is not too slow within send_timeout", got)
			}
			publish(t, s, ch, "still here")
			if _, body, err := c.readMessage(isWS, &pongs); err != nil || body != "still here" {
				t.Fatalf("after catching up: %q %v, want %q", body, err, "still here")
			}
			if isWS && pongs != 1 {
				t.Fatalf("%d pongs, want 1", pongs)
			}
		})
	}
}
