package server_test

// Publishes that arrive slowly or not at all: client_body_timeout on
// request bodies, and max_body_memory, the budget HTTP bodies and
// WebSocket messages being received share.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestPublishBodyTimeout: a body that stops arriving for
// client_body_timeout gets 408, the connection is closed and nothing is
// published; one that arrives slowly but steadily is published.
func TestPublishBodyTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig([]string{"client_body_timeout: 300ms"}, prefixLocation("pub", "publisher: true")))
	cases := []struct {
		name    string
		headers []string
		sent    string
	}{
		{"Content-Length, part sent", []string{"Content-Length", "100"}, "only ten b"},
		{"Content-Length, nothing sent", []string{"Content-Length", "100"}, ""},
		{"Content-Length of 1M, part sent", []string{"Content-Length", "1048576"}, strings.Repeat("x", 5000)},
		{"chunked, one chunk sent", []string{"Transfer-Encoding", "chunked"}, "5\r\nhello\r\n"},
		{"chunked, a chunk cut short", []string{"Transfer-Encoding", "chunked"}, "a\r\nhel"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("bto%d", i)
			c := sendRaw(t, s, "POST", "/pub/"+ch, tc.headers...)
			c.write(t, []byte(tc.sent))
			if err := c.readHead(3 * time.Second); err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if c.Status != http.StatusRequestTimeout || !strings.EqualFold(c.Header.Get("Connection"), "close") {
				t.Fatalf("status %d, Connection %q; want 408 and close", c.Status, c.Header.Get("Connection"))
			}
			if got := strings.TrimSpace(c.body(t)); got != "Request body not received within client_body_timeout." {
				t.Errorf("body %q", got)
			}
			c.expectEOF(t)
			if n := queued(t, s, ch); n != 0 {
				t.Errorf("%d messages published by a body that timed out", n)
			}
		})
	}
	t.Run("HTTP/2 stream, part sent", func(t *testing.T) {
		t.Parallel()
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &protos}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/pub/btoh2", pr)
		req.ContentLength = 100
		go pw.Write([]byte("part of it")) // then nothing
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("POST over h2c: %v", err)
		}
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("%s %d, want HTTP/2 408", res.Proto, res.StatusCode)
		}
		if n := queued(t, s, "btoh2"); n != 0 {
			t.Errorf("%d messages published by a body that timed out", n)
		}
	})
	t.Run("slow but steady", func(t *testing.T) {
		t.Parallel()
		body := strings.Repeat("steady ", 10)
		c := sendRaw(t, s, "POST", "/pub/btosteady", "Content-Length", fmt.Sprint(len(body)))
		for i := 0; i < len(body); i += 7 {
			time.Sleep(20 * time.Millisecond) // far below the timeout
			c.write(t, []byte(body[i:min(i+7, len(body))]))
		}
		if err := c.readHead(3 * time.Second); err != nil || c.Status != http.StatusAccepted {
			t.Fatalf("status %d (%v), want 202", c.Status, err)
		}
		if r := do(t, "GET", s.URL+"/pub/btosteady", ""); parseInfo(t, r.Body).Messages != 1 {
			t.Fatalf("channel info %q, want 1 message", r.Body)
		}
	})
}

// TestBodyMemoryBudget: HTTP bodies and WebSocket messages still arriving
// hold what they sent, not what they announced, against max_body_memory.
// A publish of either kind that would pass it is refused (503 with
// Retry-After; close 1013) and publishes nothing; once the stalled ones
// time out the budget is free again.
func TestBodyMemoryBudget(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig([]string{"max_body_memory: 64k", "client_body_timeout: 1s"},
		prefixLocation("pub", "publisher: true"),
		prefixLocation("pubsub", "pubsub: true")))
	if got := s.receiving(); got.Limit != 64<<10 || got.Bytes != 0 {
		t.Fatalf("receiving %+v at the start, want 0 bytes of 64k", got)
	}

	// Stalled: an HTTP body announcing 100000 bytes and a WebSocket
	// message announcing as many; they hold what they sent.
	h := sendRaw(t, s, "POST", "/pub/held", "Content-Length", "100000")
	h.write(t, bytes.Repeat([]byte("a"), 40000))
	waitReceiving(t, s, 40000)
	w := openWebSocket(t, s, "/pubsub/held")
	w.write(t, append(maskedHeader(ws.OpBinary, true, 100000), maskedPayload(make([]byte, 20000), 0)...))
	waitReceiving(t, s, 60000)
	if got := s.receiving(); got.Bodies != 1 || got.Messages != 1 {
		t.Fatalf("receiving %+v, want one body and one message", got)
	}

	// Over the budget: refused, nothing published.
	p := sendRaw(t, s, "POST", "/pub/refused", "Content-Length", "20000")
	p.write(t, bytes.Repeat([]byte("b"), 20000))
	if err := p.readHead(3 * time.Second); err != nil || p.Status != http.StatusServiceUnavailable {
		t.Fatalf("HTTP publish over the budget: status %d (%v), want 503", p.Status, err)
	}
	if ra := p.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("503 with Retry-After %q, want 1", ra)
	}
	x := openWebSocket(t, s, "/pubsub/refused")
	x.write(t, append(maskedHeader(ws.OpText, true, 20000), maskedPayload(bytes.Repeat([]byte("c"), 20000), 0)...))
	x.expectClose(t, ws.StatusCode(1013), "Too many messages being received; try again later.")
	if n := queued(t, s, "refused"); n != 0 {
		t.Errorf("%d messages published over the budget", n)
	}

	// The stalled ones give up; the budget is whole again.
	if err := h.readHead(3 * time.Second); err != nil || h.Status != http.StatusRequestTimeout {
		t.Fatalf("stalled body: status %d (%v), want 408", h.Status, err)
	}
	w.expectClose(t, ws.StatusPolicyViolation, "Message not received within client_body_timeout.")
	waitReceiving(t, s, 0)
	if n := queued(t, s, "held"); n != 0 {
		t.Errorf("%d messages published by stalled publishers", n)
	}
	expectStatus(t, do(t, "POST", s.URL+"/pub/after", strings.Repeat("d", 20000)), http.StatusAccepted, "publish once the budget is free")
	if got := s.receiving(); got.Bodies != 0 || got.Messages != 0 || got.Bytes != 0 {
		t.Errorf("receiving %+v at the end, want nothing", got)
	}
}
