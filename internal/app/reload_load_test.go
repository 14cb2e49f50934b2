package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/protocol"
)

// loadConfig is the configuration of TestReloadUnderLoad; extra is one
// more location, so each reload changes something.
func loadConfig(extra string) string {
	return `shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)$
        publisher: true
        channel_id: $1
        message_buffer_length: 500
      - location: ~ ^/sub/(\w+)$
        subscriber: [eventsource, websocket, longpoll, chunked, multipart]
        channel_id: $1
      - location: ~ ^/poll/(\w+)$
        subscriber: [intervalpoll]
        channel_id: $1
      - location: ~ ^/` + extra + `/(\w+)$
        publisher: true
        channel_id: $1
`
}

// collector is what one subscriber received, in order.
type collector struct {
	name string
	mu   sync.Mutex
	got  []string
	err  error
}

func (c *collector) add(body string) {
	c.mu.Lock()
	c.got = append(c.got, body)
	c.mu.Unlock()
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *collector) snapshot() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...), c.err
}

// TestReloadUnderLoad reloads a running App three times (and refuses a
// broken configuration once) while every channel is published to without
// pause and read by a subscriber of every transport: EventSource,
// WebSocket, chunked, multipart/mixed, long-poll and interval-poll (the
// polls resuming by id). Each receives every message of its channel once,
// in order, and no stream is dropped.
func TestReloadUnderLoad(t *testing.T) {
	a := start(t, parse(t, loadConfig("extra0")), app.Options{NoMemoryTrim: true})
	host := a.Addrs()[0].String()
	base := "http://" + host
	const channels, rounds = 40, 25
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var all []*collector
	open := make(chan struct{}, channels*6)
	for c := range channels {
		ch := fmt.Sprintf("ch%d", c)
		for _, kind := range []string{"eventsource", "websocket", "chunked", "multipart", "longpoll", "intervalpoll"} {
			col := &collector{name: kind + " " + ch}
			all = append(all, col)
			go subscribeAll(ctx, kind, host, ch, col, open)
		}
	}
	for range channels * 4 { // the streams are connected
		select {
		case <-open:
		case <-ctx.Done():
			t.Fatal("streams did not connect")
		}
	}
	// Wait for every stream to be counted on its channel.
	waitFor(t, func() bool {
		for c := range channels {
			_, body, _ := get(t, "GET", fmt.Sprintf("%s/pub/ch%d", base, c), "")
			if !strings.Contains(body, "subscribers: 4") && !strings.Contains(body, "subscribers: 5") && !strings.Contains(body, "subscribers: 6") {
				return false
			}
		}
		return true
	})

	reloads := map[int]string{5: "extra1", 10: "broken", 15: "extra2", 20: "extra3"}
	for i := range rounds {
		if extra, ok := reloads[i]; ok {
			if extra == "broken" {
				// A configuration that does not provision is refused whole.
				bad := parse(t, loadConfig("extra9"))
				bad.Servers[0].Locations[0].Store = "nosuchengine"
				if err := a.Reload(ctx, bad); err == nil {
					t.Fatal("a configuration with an unknown store was taken")
				}
			} else if err := a.Reload(ctx, parse(t, loadConfig(extra))); err != nil {
				t.Fatalf("reload %s: %v", extra, err)
			}
		}
		for c := range channels {
			code, body, _ := get(t, "POST", fmt.Sprintf("%s/pub/ch%d", base, c), fmt.Sprintf("m%d;", i))
			if code != http.StatusCreated && code != http.StatusAccepted {
				t.Fatalf("publish %d on ch%d: %d %s", i, c, code, body)
			}
		}
	}
	if code, _, _ := get(t, "POST", base+"/extra3/x", "x"); code != http.StatusAccepted {
		t.Errorf("the last reload's location answers %d, want 202", code)
	}

	want := make([]string, rounds)
	for i := range want {
		want[i] = fmt.Sprintf("m%d;", i)
	}
	for _, col := range all {
		waitFor(t, func() bool {
			got, err := col.snapshot()
			return len(got) >= rounds || err != nil
		})
		got, err := col.snapshot()
		if err != nil {
			t.Errorf("%s: %v (after %d messages)", col.name, err, len(got))
			continue
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s received %v, want %v", col.name, got, want)
		}
	}
}

// subscribeAll reads channel ch over one transport into col until ctx
// ends. Streams connect once (a reload must not drop them) and say so on
// open; polls resume by id after every answer.
func subscribeAll(ctx context.Context, kind, host, ch string, col *collector, open chan<- struct{}) {
	url := "http://" + host + "/sub/" + ch
	switch kind {
	case "websocket":
		conn, br, _, err := ws.Dial(ctx, "ws://"+host+"/sub/"+ch)
		if err != nil {
			col.fail(err)
			return
		}
		defer conn.Close()
		if br != nil {
			ws.PutReader(br)
		}
		open <- struct{}{}
		go func() { <-ctx.Done(); conn.Close() }()
		for {
			b, err := wsutil.ReadServerText(conn)
			if err != nil {
				if ctx.Err() == nil {
					col.fail(fmt.Errorf("websocket ended: %w", err))
				}
				return
			}
			col.add(string(b))
		}
	case "eventsource", "chunked", "multipart":
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		switch kind {
		case "eventsource":
			req.Header.Set("Accept", "text/event-stream")
		case "chunked":
			req.Header.Set("TE", "chunked")
		case "multipart":
			req.Header.Set("Accept", "multipart/mixed")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			col.fail(err)
			return
		}
		defer res.Body.Close()
		open <- struct{}{}
		readStream(ctx, kind, res, col)
	case "longpoll", "intervalpoll":
		if kind == "intervalpoll" {
			url = "http://" + host + "/poll/" + ch
		}
		var lastMod, etag string
		for n := 0; n < 100000 && ctx.Err() == nil; n++ {
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			if lastMod != "" {
				req.Header.Set("If-Modified-Since", lastMod)
				req.Header.Set("If-None-Match", etag)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					col.fail(err)
				}
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			switch res.StatusCode {
			case http.StatusOK:
				col.add(string(b))
				lastMod, etag = res.Header.Get("Last-Modified"), res.Header.Get("Etag")
			case http.StatusNotModified, http.StatusNotFound, http.StatusRequestTimeout:
				if kind == "intervalpoll" {
					time.Sleep(50 * time.Millisecond)
				}
			default:
				col.fail(fmt.Errorf("poll answered %d %q", res.StatusCode, b))
				return
			}
		}
	}
}

// readStream reads a streaming subscriber's messages into col.
func readStream(ctx context.Context, kind string, res *http.Response, col *collector) {
	ended := func(err error) {
		if ctx.Err() == nil {
			col.fail(fmt.Errorf("%s stream ended: %v", kind, err))
		}
	}
	switch kind {
	case "chunked":
		// Each message is one chunk, read back to back: the bodies here
		// end with ";".
		br := bufio.NewReader(res.Body)
		for {
			m, err := br.ReadString(';')
			if err != nil {
				ended(err)
				return
			}
			col.add(m)
		}
	case "multipart":
		_, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if err != nil {
			col.fail(err)
			return
		}
		dec := protocol.MultipartDecoder{Boundary: params["boundary"]}
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			dec.Feed(buf[:n])
			for {
				p, derr := dec.Next()
				if derr != nil || p == nil {
					break
				}
				col.add(string(p.Body))
			}
			if err != nil {
				ended(err)
				return
			}
		}
	default:
		var dec protocol.EventSourceDecoder
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			dec.Feed(buf[:n])
			for {
				ev, derr := dec.Next()
				if derr != nil || ev == nil {
					break
				}
				if ev.Kind == protocol.KindEvent {
					col.add(string(ev.Data))
				}
			}
			if err != nil {
				ended(err)
				return
			}
		}
	}
}
