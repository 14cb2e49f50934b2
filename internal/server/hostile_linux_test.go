package server_test

// Thousands of hostile connections at once: WebSocket clients that start
// a frame announcing 1 MiB and publishers that announce a 1 MiB body, each
// sending 100 bytes and then nothing. The server holds what they sent and
// a connection's own small state, not what they announced; subscribers on
// the same server keep receiving every message; the stalled ones are
// given up after client_body_timeout. Linux only: it reads
// /proc/self/status and the open-file limit.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/heraldpush/herald/internal/server"
)

// hostileConns is how many hostile connections each case opens: with the
// server's side of each, 2 descriptors apiece.
const hostileConns = 5000

// needOpenFiles raises the open-file limit to n if it is lower (as the
// load tool does) and skips the test if it cannot.
func needOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("needs %d open files; getrlimit: %v", n, err)
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		t.Skipf("needs %d open files; the hard limit is %d", n, rl.Max)
	}
	want := rl
	want.Cur = n
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		t.Skipf("needs %d open files (limit %d); setrlimit: %v", n, rl.Cur, err)
	}
}

// heldMemory is the process's live heap and goroutine stacks, in bytes,
// after a full collection.
type heldMemory struct{ heap, stacks uint64 }

func readHeldMemory() heldMemory {
	runtime.GC()
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(samples)
	return heldMemory{samples[0].Value.Uint64(), samples[1].Value.Uint64()}
}

// perConn is the growth from m to after, in bytes per connection of n:
// heap and stacks, and their sum.
func (m heldMemory) perConn(after heldMemory, n uint64) (heap, stacks, total uint64) {
	grow := func(a, b uint64) uint64 { return (max(a, b) - a) / n }
	return grow(m.heap, after.heap), grow(m.stacks, after.stacks), grow(m.heap+m.stacks, after.heap+after.stacks)
}

// vmRSS is the process's resident memory from /proc/self/status, for the
// log.
func vmRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// healthyReaders are subscribers that read every message of a channel, a
// goroutine each.
type healthyReaders struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts []int // messages received in order, per subscriber
	errs   []error
}

// startHealthy opens n WebSocket and n EventSource subscribers of /sub/ch
// and reads, each on its own goroutine, the messages "h1".."h<want>".
func startHealthy(t *testing.T, s *testServer, ch string, n, want int) *healthyReaders {
	t.Helper()
	h := &healthyReaders{counts: make([]int, 2*n), errs: make([]error, 2*n)}
	for i := range 2 * n {
		isWS := i < n
		c := openStream(t, s, "/sub/"+ch, isWS)
		h.wg.Go(func() {
			c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			pongs := 0
			for k := 1; k <= want; k++ {
				_, body, err := c.readMessage(isWS, &pongs)
				if err == nil && body != fmt.Sprintf("h%d", k) {
					err = fmt.Errorf("message %d is %q", k, body)
				}
				h.mu.Lock()
				if err != nil {
					h.errs[i] = err
				} else {
					h.counts[i]++
				}
				h.mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	waitSubscribers(t, s, ch, 2*n)
	return h
}

// check waits for the readers and fails unless each got all want
// messages.
func (h *healthyReaders) check(t *testing.T, want int) {
	t.Helper()
	h.wg.Wait()
	complete := 0
	for i, n := range h.counts {
		if n == want {
			complete++
		} else {
			t.Errorf("healthy subscriber %d received %d of %d messages: %v", i, n, want, h.errs[i])
		}
	}
	t.Logf("healthy subscribers: %d of %d received all %d messages, in order", complete, len(h.counts), want)
}

func TestHostileConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5,000 connections at a time")
	}
	// Not parallel: it measures the process's memory.
	needOpenFiles(t, 2*hostileConns+2000)
	const (
		announced = 1 << 20 // what each hostile connection announces
		sent      = 100     // what it sends of that
		healthy   = 25      // WebSocket and as many EventSource subscribers
		messages  = 100     // published to them during the attack
	)
	payload := bytes.Repeat([]byte("x"), sent)
	cases := []struct {
		name string
		// open makes one connection ready to attack: it is in place
		// before the attack starts, so client_body_timeout starts for all
		// at about the same time.
		open   func(s *testServer) (net.Conn, error)
		attack []byte
		// inProgress is how many the server is reading, of this kind.
		inProgress func(server.Receiving) int64
		// bound is the most memory one hostile connection may cost the
		// process (the server's side and the test's): far less than the
		// 1 MiB it announced.
		bound uint64
		// given checks how the server gave up on one.
		given func(br *bufio.Reader) error
	}{
		{
			name: "WebSocket frames announcing 1 MiB",
			open: func(s *testServer) (net.Conn, error) {
				c, status, err := openLean(s, "GET", "/pubsub/hostile", wsHeaders()...)
				if err == nil && status != http.StatusSwitchingProtocols {
					c.Close()
					err = fmt.Errorf("status %d, want 101", status)
				}
				return c, err
			},
			attack:     append(maskedHeader(ws.OpBinary, true, announced), maskedPayload(payload, 0)...),
			inProgress: func(r server.Receiving) int64 { return r.Messages },
			bound:      16 << 10,
			given: func(br *bufio.Reader) error {
				h, err := ws.ReadHeader(br)
				if err != nil {
					return err
				}
				p := make([]byte, h.Length)
				if _, err := br.Read(p); err != nil {
					return err
				}
				if code, reason := ws.ParseCloseFrameData(p); h.OpCode != ws.OpClose || code != ws.StatusPolicyViolation || reason != timedOut {
					return fmt.Errorf("frame op %d %q, want close 1008 %q", h.OpCode, p, timedOut)
				}
				return nil
			},
		},
		{
			name: "HTTP bodies announcing 1 MiB",
			open: func(s *testServer) (net.Conn, error) { return net.DialTimeout("tcp", s.addr(), 5*time.Second) },
			attack: append([]byte(fmt.Sprintf("POST /pub/hostile HTTP/1.1\r\nHost: herald\r\nContent-Length: %d\r\n\r\n", announced)),
				payload...),
			inProgress: func(r server.Receiving) int64 { return r.Bodies },
			bound:      32 << 10,
			given: func(br *bufio.Reader) error {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusRequestTimeout {
					return fmt.Errorf("status %d, want 408", res.StatusCode)
				}
				return nil
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, testConfig([]string{"client_body_timeout: 8s"},
				prefixLocation("pub", "publisher: true"),
				prefixLocation("sub", "subscriber: true"),
				prefixLocation("pubsub", "pubsub: true")))
			h := startHealthy(t, s, "healthy", healthy, messages)

			before, rssBefore := readHeldMemory(), vmRSS()
			conns := make([]net.Conn, 0, hostileConns)
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			for range hostileConns {
				c, err := tc.open(s)
				if err != nil {
					t.Fatalf("hostile connection %d: %v", len(conns)+1, err)
				}
				conns = append(conns, c)
			}
			attacked := time.Now()
			for i, c := range conns {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(tc.attack); err != nil {
					t.Fatalf("hostile connection %d: %v", i+1, err)
				}
			}
			// Every one is being read, and holds what it sent.
			var r server.Receiving
			waitFor(t, 30*time.Second, "every hostile connection being read", func() bool {
				r = s.receiving()
				return tc.inProgress(r) == hostileConns && r.Bytes == hostileConns*sent
			})
			after, rssAfter := readHeldMemory(), vmRSS()
			heap, stacks, per := before.perConn(after, hostileConns)
			t.Logf("%d hostile connections announcing %d bytes and sending %d: held heap and stacks grew by %d bytes per connection (heap %d, stacks %d; bound %d); VmRSS %s -> %s; the budget holds %d bytes of %d",
				hostileConns, announced, sent, per, heap, stacks, tc.bound, rssBefore, rssAfter, r.Bytes, r.Limit)
			if per > tc.bound {
				t.Errorf("each hostile connection costs %d bytes, more than %d", per, tc.bound)
			}

			// Healthy subscribers get every message meanwhile.
			for k := 1; k <= messages; k++ {
				publish(t, s, "healthy", fmt.Sprintf("h%d", k))
			}
			h.check(t, messages)
			if got := tc.inProgress(s.receiving()); got != hostileConns {
				t.Fatalf("%d hostile connections in progress %v after the attack began, want %d: client_body_timeout is too short for this machine", got, time.Since(attacked), hostileConns)
			}
			t.Logf("measured and published within %v of the attack", time.Since(attacked).Round(time.Millisecond))

			// Each is given up after client_body_timeout, and closed.
			deadline := time.Now().Add(30 * time.Second)
			for i, c := range conns {
				c.SetReadDeadline(deadline)
				br := bufio.NewReaderSize(c, 256)
				if err := tc.given(br); err != nil {
					t.Fatalf("hostile connection %d: %v", i+1, err)
				}
				if _, err := br.ReadByte(); err == nil || isTimeoutErr(err) {
					t.Fatalf("hostile connection %d: not closed after the server gave up (%v)", i+1, err)
				}
			}
			waitFor(t, waitTimeout, "nothing held once they are given up", func() bool {
				r = s.receiving()
				return tc.inProgress(r) == 0 && r.Bytes == 0
			})
			if n := queued(t, s, "hostile"); n != 0 {
				t.Errorf("%d messages published by hostile connections", n)
			}
		})
	}
}
