package server_test

// Server-level behaviour: the smoke test, subscriber accounting, slow
// consumers, HTTP/2 and graceful shutdown.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestSmoke(t *testing.T) {
	s := startServer(t, "")
	got := async(t, 5*time.Second, "GET", s.URL+"/sub/chat", "")
	waitSubscribers(t, s, "chat", 1)
	pub := do(t, "POST", s.URL+"/pub/chat", "hello", "Content-Type", "text/plain")
	if pub.Status != http.StatusCreated {
		t.Fatalf("publish: got %d, want 201", pub.Status)
	}
	r := <-got
	if r.Status != 200 || r.Body != "hello" || r.Header.Get("Etag") != "0" {
		t.Fatalf("subscriber got %d %q etag %q", r.Status, r.Body, r.Header.Get("Etag"))
	}
}

// TestSubscriberCounts: subscribers count while they wait or stream, and
// stop counting as soon as they are answered or their TCP connection
// closes.
func TestSubscriberCounts(t *testing.T) {
	t.Parallel()
	t.Run("long-poll", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", ""))
		if r := do(t, "GET", s.URL+"/pub/cnt", ""); r.Status != http.StatusNotFound {
			t.Fatalf("info before anything: got %d, want 404", r.Status)
		}
		a := async(t, 5*time.Second, "GET", s.URL+"/sub/cnt", "")
		waitSubscribers(t, s, "cnt", 1)
		if n := subscribers(t, s, "cnt"); n != 1 {
			t.Errorf("one parked long-poll: %d active subscribers", n)
		}
		b := async(t, 5*time.Second, "GET", s.URL+"/sub/cnt", "")
		waitSubscribers(t, s, "cnt", 2)
		if n := subscribers(t, s, "cnt"); n != 2 {
			t.Errorf("two parked long-polls: %d active subscribers", n)
		}
		pub := do(t, "POST", s.URL+"/pub/cnt", "m1")
		info, err := tryParseInfo(infoRE, pub.Body)
		if pub.Status != http.StatusCreated || err != nil || info.Subscribers != 2 {
			t.Errorf("publish: got %d %q, want 201 with 2 active subscribers", pub.Status, pub.Body)
		}
		recv(t, a)
		recv(t, b)
		if n := subscribers(t, s, "cnt"); n != 0 {
			t.Errorf("after both were answered: %d active subscribers, want 0", n)
		}
		// A subscriber that goes away while parked stops counting.
		u, _ := resumeWithID(t, s.URL+"/sub/cnt", byQuery, parseInfo(t, pub.Body).ID.String())
		c, cancel := asyncCancel(5*time.Second, "GET", u, "")
		defer cancel()
		waitSubscribers(t, s, "cnt", 1)
		if n := subscribers(t, s, "cnt"); n != 1 {
			t.Errorf("one parked long-poll again: %d active subscribers", n)
		}
		cancel()
		select {
		case r := <-c:
			if r.Status != -1 {
				t.Errorf("cancelled request got %d %q", r.Status, r.Body)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("cancelled request did not end")
		}
		waitFor(t, waitTimeout, "no active subscribers after the client went away", func() bool {
			return subscribers(t, s, "cnt") == 0
		})
		if st := s.Store.Stats(); st.Subscribers != 0 {
			t.Errorf("store-wide subscribers %d, want 0", st.Subscribers)
		}
	})
	s := startServer(t, streamConfig)
	cases := []struct {
		name, loc string
		headers   []string
	}{
		{"eventsource", "sub", []string{"Accept", "text/event-stream"}},
		{"websocket", "sub", wsHeaders()},
		{"websocket ws+meta", "sub", wsHeaders("Sec-WebSocket-Protocol", "ws+meta.nchan")},
		{"websocket pubsub", "pubsub", wsHeaders()},
		{"chunked", "sub", []string{"TE", "chunked"}},
		{"multipart", "sub", []string{"Accept", "multipart/mixed"}},
		{"raw stream", "raw", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("cnt%d", i)
			var conns []*rawConn
			for range 2 {
				c := openRaw(t, s, "GET", "/"+tc.loc+"/"+ch, tc.headers...)
				if c.Status != http.StatusOK && c.Status != http.StatusSwitchingProtocols {
					t.Fatalf("status %d", c.Status)
				}
				conns = append(conns, c)
			}
			if n := subscribers(t, s, ch); n != 2 {
				t.Fatalf("active subscribers %d, want 2", n)
			}
			conns[0].conn.Close()
			waitSubscribers(t, s, ch, 1)
			// The survivor still receives.
			publish(t, s, ch, "still here")
			conns[1].conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := conns[1].br.Peek(1); err != nil {
				t.Fatalf("survivor: %v", err)
			}
			conns[1].conn.Close()
			waitSubscribers(t, s, ch, 0)
		})
	}
}

// TestSlowConsumer: a streaming client that stops reading while
// ~20 MB are published is disconnected after send_timeout (1s); the
// publisher is never slowed and a reading subscriber gets everything.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	const n, size = 320, 64 << 10
	bodyOf := func(i int) string {
		head := fmt.Sprintf("msg-%04d-", i)
		return head + strings.Repeat(string(rune('a'+i%26)), size-len(head))
	}
	cases := []struct {
		name string
		isWS bool
	}{{"eventsource", false}, {"websocket", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, streamConfig)
			slow := openStream(t, s, "/slow/sc", tc.isWS)
			if tcp, ok := slow.conn.(*net.TCPConn); ok {
				tcp.SetReadBuffer(16 << 10)
			}
			good := openStream(t, s, "/slow/sc", tc.isWS)
			waitSubscribers(t, s, "sc", 2)

			type result struct {
				got int
				err error
			}
			goodDone := make(chan result, 1)
			go func() {
				// Reads every message as it comes, checking order and content.
				good.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				pongs := 0
				for got := 0; got < n; got++ {
					_, b, err := good.readMessage(tc.isWS, &pongs)
					if err == nil && pongs > 0 {
						err = fmt.Errorf("a pong frame unasked for")
					}
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
			for i := range n {
				r := do(t, "POST", s.URL+"/slowpub/sc", bodyOf(i))
				if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
					t.Fatalf("publish %d: %d %q", i, r.Status, r.Body)
				}
			}
			t.Logf("published %d x %d KB in %v", n, size>>10, time.Since(start))

			// The slow subscriber is dropped (send_timeout 1s), the good one
			// stays. Under load dropping it can take a while: wait (with a
			// generous deadline) for the server to count one subscriber and
			// for the slow subscriber's connection to end.
			waitSubscribersWithin(t, s, "sc", 1, 20*time.Second)
			rest, err := slow.drain(20 * time.Second)
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
			if got := subscribers(t, s, "sc"); got != 1 {
				t.Errorf("active subscribers %d, want 1 (the good one)", got)
			}
			good.expectSilence(t, 50*time.Millisecond)
		})
	}
}

func TestHTTP2(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
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
			id, _ := publish(t, s, "h2es", b)
			readExactly(t, res.Body, sseEvent("", id.String(), b))
		}
		deleteChannel(t, s, "h2es")
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
		waitSubscribers(t, s, "h2raw", 1)
		publish(t, s, "h2raw", "raw over h2")
		readExactly(t, res.Body, "raw over h2\n")
	})
	t.Run("multipart", func(t *testing.T) {
		res, done := open(t, "/sub/h2mp", "Accept", "multipart/mixed")
		defer done()
		m := multipartBoundaryRE.FindStringSubmatch(res.Header.Get("Content-Type"))
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		readExactly(t, res.Body, "--"+m[1])
		id, _ := publish(t, s, "h2mp", "part", "Content-Type", "text/plain")
		readExactly(t, res.Body, multipartPart(m[1], id, "text/plain", "part"))
	})
	t.Run("subscriber count drops on cancel", func(t *testing.T) {
		res, done := open(t, "/sub/h2cnt", "Accept", "text/event-stream")
		readExactly(t, res.Body, ": hi\n\n")
		waitSubscribers(t, s, "h2cnt", 1)
		done() // RST_STREAM
		waitSubscribers(t, s, "h2cnt", 0)
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
		waitSubscribers(t, s, "h2slow", 1)
		pad := strings.Repeat("x", 64<<10)
		for i := range 160 { // 10 MB, more than the client's 4 MB stream window
			publishTo(t, s, "/slowpub/h2slow", fmt.Sprint(i, pad))
		}
		waitSubscribers(t, s, "h2slow", 0)
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
		waitFor(t, waitTimeout, "long-poll over h2c parks", func() bool {
			select {
			case o := <-ch:
				t.Fatalf("long-poll over h2c never parked: %v", o.err)
			default:
			}
			return storeSubscribers(s, "h2lp") == 1
		})
		publish(t, s, "h2lp", "polled")
		o := <-ch
		if o.err != nil {
			t.Fatalf("long-poll: %v", o.err)
		}
		if o.res.ProtoMajor != 2 || o.res.StatusCode != 200 || o.body != "polled" {
			t.Fatalf("got %s %d %q, want HTTP/2 200 %q", o.res.Proto, o.res.StatusCode, o.body, "polled")
		}
	})
}

// expectServeReturned expects Serve to return nil within 3s of the start
// of a shutdown whose result arrives on done.
func expectServeReturned(t testing.TB, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Serve did not return after shutdown began")
	}
}

// TestGracefulShutdown: when shutdown begins, a parked long-poll gets a 503
// at once, every stream ends with its transport's ending, and Serve
// returns.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	t.Run("long-poll", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "")
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/bye", "")
		waitSubscribers(t, s, "bye", 1)
		expectPending(t, got, 30*time.Millisecond)
		start := time.Now()
		done := s.shutdown()
		r := recv(t, got)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("parked long-poll at shutdown: got %d %q, want 503", r.Status, r.Body)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("503 took %v, want it at once", d)
		}
		if ra := r.Header.Get("Retry-After"); ra == "" {
			t.Errorf("503 without Retry-After")
		}
		expectServeReturned(t, done)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("shutdown took %v with only an answered long-poll open", d)
		}
	})
	t.Run("streams", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, streamConfig)
		es := openEventSource(t, s, "/sub/bye")
		wsc := openWebSocket(t, s, "/sub/bye")
		chunk := openRaw(t, s, "GET", "/sub/bye", "TE", "chunked")
		wsPub := openWebSocket(t, s, "/pub/bye")
		id, _ := publish(t, s, "bye", "before")
		es.expect(t, sseEvent("", id.String(), "before"))
		wsc.expectFrame(t, ws.OpText, "before")
		chunk.expect(t, "6\r\nbefore\r\n")

		start := time.Now()
		done := s.shutdown()
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
		expectServeReturned(t, done)
	})
}

// TestPublisherNeverWaitsOnSlowSubscriber: a subscriber that stops reading
// while 20 MB are published to its channel, on a location whose
// send_timeout is 30 s, never holds a publisher up. A publish that waited
// on it would take until the send timeout; each is given 5 s (a bound on
// a request, not a speed to meet: it separates "not waiting" from
// "waiting 30 s" on any machine).
func TestPublisherNeverWaitsOnSlowSubscriber(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true", "message_buffer_length: 400"),
		prefixLocation("patient", "subscriber: true", "send_timeout: 30s")))
	for _, isWS := range []bool{false, true} {
		ch := fmt.Sprintf("patient%v", isWS)
		slow := openStream(t, s, "/patient/"+ch, isWS)
		if tcp, ok := slow.conn.(*net.TCPConn); ok {
			tcp.SetReadBuffer(16 << 10)
		}
		waitSubscribers(t, s, ch, 1)
		body := strings.Repeat("p", 64<<10)
		for i := range 320 {
			r := doTimeout(t, 5*time.Second, "POST", s.URL+"/pub/"+ch, body)
			if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
				t.Fatalf("publish %d: %d %q", i, r.Status, r.Body)
			}
		}
		if n := subscribers(t, s, ch); n != 1 {
			t.Fatalf("the slow subscriber was dropped before its send_timeout (%d subscribers)", n)
		}
		slow.conn.Close()
	}
}
