package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Channel events (channel_events_channel_id): each scenario causes events
// with one kind of request and reads what arrives on the events channel,
// over an EventSource subscriber of a location of group meta. The same
// scenarios run against Herald on memory, Herald on Redis (events caused
// on one node, read on another) and real Nchan (nchan_test.go), so what
// they expect is what Nchan sends.

// eventsLocations are the locations of the scenarios, in Herald's YAML;
// nchanEventsConf (nchan_test.go) is the same in nginx.conf.
var eventsLocations = []string{
	location(`~ ^/pub/(\w+)$`, "publisher: true", "channel_id: $1", "channel_events_channel_id: $1"),
	location(`~ ^/sub/(\w+)$`, "subscriber: true", "channel_id: $1", "channel_events_channel_id: $1"),
	location(`~ ^/lpt/(\w+)$`, "subscriber: [longpoll]", "channel_id: $1", "channel_events_channel_id: $1", "subscriber_timeout: 1s"),
	location(`~ ^/raw/(\w+)$`, "subscriber: [http-raw-stream]", "channel_id: $1", "channel_events_channel_id: $1"),
	location(`~ ^/ipoll/(\w+)$`, "subscriber: [intervalpoll]", "channel_id: $1", "channel_events_channel_id: $1"),
	location(`~ ^/multi/(\w+)/(\w+)$`, "subscriber: true", "channel_id: [$1, $2]", "channel_events_channel_id: $1"),
	location(`~ ^/pubsub/(\w+)$`, "pubsub: true", "channel_id: $1", "channel_events_channel_id: $1"),
	location(`~ ^/custom/(\w+)$`, "pubsub: true", "channel_id: $1", `channel_events_channel_id: "x$1"`,
		`channel_event_string: "ev=$nchan_channel_event id=$nchan_channel_id arg=$arg_a type=$nchan_subscriber_type"`),
	location(`~ ^/meta/(.+)$`, "subscriber: true", "channel_group: meta", "channel_id: $1"),
}

// eventsConfig is a configuration of locations (eventsLocations when
// none are given).
func eventsConfig(locations ...string) string {
	if len(locations) == 0 {
		locations = eventsLocations
	}
	var b strings.Builder
	b.WriteString("servers:\n  - listen: 127.0.0.1:0\n    locations:\n")
	for _, l := range locations {
		b.WriteString(l)
	}
	return b.String()
}

// evTarget is where a scenario runs: the server its requests go to, and
// the one whose events channel it reads (another node on Redis).
type evTarget struct {
	base, meta string // http://host:port
}

// evRun is one scenario's run: its channel id, the events channel reader,
// and what it read (for failure messages).
type evRun struct {
	t    *testing.T
	tg   evTarget
	id   string
	meta *metaReader
}

// evSeq makes channel ids unique across runs and servers.
var evSeq atomic.Int64

// evScenario causes channel events and checks them as they arrive.
type evScenario struct {
	name string
	// meta is the events channel id the scenario reads, "%s" standing
	// for its channel id; "" is the channel id itself.
	meta string
	run  func(x *evRun)
}

// runEventScenarios runs every scenario against tg, each on a channel of
// its own, and checks that nothing arrives after what it expects: a last
// DELETE's channel_delete must come next.
func runEventScenarios(t *testing.T, tg evTarget, scenarios []evScenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			id := fmt.Sprintf("ev%d", evSeq.Add(1))
			metaID := id
			if sc.meta != "" {
				metaID = fmt.Sprintf(sc.meta, id)
			}
			x := &evRun{t: t, tg: tg, id: id, meta: followMeta(t, tg.meta+"/meta/"+metaID)}
			sc.run(x)
			if sc.meta == "" {
				x.status("DELETE", "/pub/"+id, "", 0)
				x.expect([]string{"channel_delete " + id})
			}
		})
	}
}

// eventScenarios are the events Nchan sends, by what causes them.
func eventScenarios() []evScenario {
	return []evScenario{
		{name: "publish", run: func(x *evRun) {
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
		}},
		{name: "PUT", run: func(x *evRun) {
			// Herald answers an empty PUT by creating the channel (200),
			// Nchan by publishing an empty message (202); both send
			// channel_publish.
			x.status("PUT", "/pub/"+x.id, "", 0)
			x.expect(x.ev("channel_publish"))
		}},
		{name: "delete of a channel that is not there", run: func(x *evRun) {
			x.status("DELETE", "/pub/"+x.id, "", http.StatusNotFound)
			x.expect(x.ev("channel_delete"))
		}},
		{name: "long-poll answered at once", run: func(x *evRun) {
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
			x.status("GET", "/sub/"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "long-poll that waits and receives", run: func(x *evRun) {
			got := x.async("GET", "/sub/"+x.id)
			x.expect(x.ev("subscriber_enqueue"))
			x.status("POST", "/pub/"+x.id, "m", http.StatusCreated)
			// The publisher's channel_publish and the subscriber's
			// dequeue happen at once (Nchan: dequeue first).
			x.expect(x.ev("subscriber_dequeue", "channel_publish"))
			if r := recv(x.t, got); r.Status != http.StatusOK || r.Body != "m" {
				x.t.Fatalf("long-poll: %d %q", r.Status, r.Body)
			}
		}},
		{name: "long-poll that times out", run: func(x *evRun) {
			x.status("GET", "/lpt/"+x.id, "", http.StatusRequestTimeout)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "interval-poll with nothing new", run: func(x *evRun) {
			x.status("GET", "/ipoll/"+x.id, "", http.StatusNotModified)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "eventsource", run: func(x *evRun) { x.stream("/sub/", "Accept", "text/event-stream") }},
		{name: "chunked", run: func(x *evRun) { x.stream("/sub/", "TE", "chunked") }},
		{name: "multipart", run: func(x *evRun) { x.stream("/sub/", "Accept", "multipart/mixed") }},
		{name: "raw stream", run: func(x *evRun) { x.stream("/raw/") }},
		{name: "websocket", run: func(x *evRun) {
			c := x.websocket("/sub/" + x.id)
			x.expect(x.ev("subscriber_enqueue"))
			c.Close()
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "stream of a deleted channel", run: func(x *evRun) {
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
			c := x.open("/sub/"+x.id, "Accept", "text/event-stream")
			defer c.Close()
			x.expect(x.ev("subscriber_enqueue"))
			x.status("DELETE", "/pub/"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_dequeue", "channel_delete"))
		}},
		{name: "websocket publisher", run: func(x *evRun) {
			c := x.websocket("/pubsub/" + x.id)
			x.expect(x.ev("subscriber_enqueue"))
			if err := wsutil.WriteClientText(c, []byte("from ws")); err != nil {
				x.t.Fatal(err)
			}
			x.expect(x.ev("channel_publish"))
			c.Close()
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "multiplexed subscriber", run: func(x *evRun) {
			// One subscriber, one pair of events, about its first channel.
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
			x.status("GET", "/multi/"+x.id+"/other"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "channel_event_string", meta: "x%s", run: func(x *evRun) {
			x.status("POST", "/custom/"+x.id+"?a=1", "m", http.StatusAccepted)
			x.expect([]string{"ev=channel_publish id=" + x.id + " arg=1 type="})
			x.status("GET", "/custom/"+x.id+"?a=2", "", http.StatusOK)
			x.expect([]string{"ev=subscriber_enqueue id=" + x.id + " arg=2 type=longpoll"})
			x.expect([]string{"ev=subscriber_dequeue id=" + x.id + " arg=2 type=longpoll"})
			x.status("DELETE", "/custom/"+x.id+"?a=3", "", http.StatusOK)
			x.expect([]string{"ev=channel_delete id=" + x.id + " arg=3 type="})
			// Nchan answers a DELETE right after a DELETE with 200, Herald
			// with 404; the event is the same.
			x.status("DELETE", "/custom/"+x.id+"?a=end", "", 0)
			x.expect([]string{"ev=channel_delete id=" + x.id + " arg=end type="})
		}},
	}
}

// ev lists events about the run's channel.
func (x *evRun) ev(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + " " + x.id
	}
	return out
}

// expect reads len(want) events and checks they are want in any order
// (events caused at once by different requests may come in either).
func (x *evRun) expect(want []string) {
	x.t.Helper()
	got := make([]string, 0, len(want))
	for range want {
		m, ok := x.meta.next(5 * time.Second)
		if !ok {
			x.t.Fatalf("events channel: got %q, then nothing within 5s; want %q", got, want)
		}
		got = append(got, m)
	}
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		x.t.Fatalf("events channel: got %q, want %q", got, want)
	}
}

// status sends a request and checks its status (0: any).
func (x *evRun) status(method, path, body string, want int) {
	x.t.Helper()
	r := do(x.t, method, x.tg.base+path, body)
	if want != 0 && r.Status != want {
		x.t.Fatalf("%s %s: %d %q, want %d", method, path, r.Status, r.Body, want)
	}
}

// async sends a request in the background.
func (x *evRun) async(method, path string) <-chan response {
	return async(x.t, 5*time.Second, method, x.tg.base+path, "")
}

// open opens a streaming subscriber and checks its 200.
func (x *evRun) open(path string, headers ...string) net.Conn {
	x.t.Helper()
	c, status, err := openURL(x.tg.base+path, headers...)
	if err != nil {
		x.t.Fatal(err)
	}
	if status != http.StatusOK {
		c.Close()
		x.t.Fatalf("GET %s: %d, want 200", path, status)
	}
	return c
}

// stream opens a streaming subscriber at prefix+id, waits for its
// enqueue, closes it and expects its dequeue.
func (x *evRun) stream(prefix string, headers ...string) {
	x.t.Helper()
	c := x.open(prefix+x.id, headers...)
	x.expect(x.ev("subscriber_enqueue"))
	c.Close()
	x.expect(x.ev("subscriber_dequeue"))
}

// websocket opens a WebSocket subscriber.
func (x *evRun) websocket(path string) net.Conn {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, _, err := ws.Dialer{}.Dial(ctx, "ws"+strings.TrimPrefix(x.tg.base, "http")+path)
	if err != nil {
		x.t.Fatalf("WebSocket %s: %v", path, err)
	}
	x.t.Cleanup(func() { c.Close() })
	return c
}

// openURL sends a GET on a connection of its own and reads the answer's
// head; the connection, returned, then carries the answer's body.
func openURL(rawURL string, headers ...string) (net.Conn, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, 0, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(b.String())); err != nil {
		c.Close()
		return nil, 0, err
	}
	// Read the head byte by byte, so nothing of the body is taken from
	// the connection.
	var head []byte
	one := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(one); err != nil {
			c.Close()
			return nil, 0, fmt.Errorf("GET %s: %w after %q", rawURL, err, head)
		}
		if head = append(head, one[0]); len(head) > 16<<10 {
			c.Close()
			return nil, 0, fmt.Errorf("GET %s: head too long", rawURL)
		}
	}
	c.SetDeadline(time.Time{})
	var status int
	if _, err := fmt.Sscanf(string(head), "HTTP/1.1 %d", &status); err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("GET %s: status line %q", rawURL, head)
	}
	return c, status, nil
}

// metaReader follows an events channel over EventSource: the data of
// each event arrives on msgs.
type metaReader struct {
	msgs chan string
}

// followMeta opens an EventSource subscriber of an events channel (it is
// admitted once the answer's head is back) and reads it until the test
// ends.
func followMeta(t *testing.T, rawURL string) *metaReader {
	t.Helper()
	c, status, err := openURL(rawURL, "Accept", "text/event-stream")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		c.Close()
		t.Fatalf("events channel %s: %d", rawURL, status)
	}
	m := &metaReader{msgs: make(chan string, 1000)}
	done := make(chan struct{})
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer close(m.msgs)
		tp := textproto.NewReader(bufio.NewReader(c))
		var data []string
		for range 100000 { // bounded: far more lines than a test sends
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch {
			case line == "":
				if data != nil {
					select {
					case m.msgs <- strings.Join(data, "\n"):
					default: // the test stopped reading
					}
					data = nil
				}
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return m
}

// next returns the next event, or false if none arrives within d.
func (m *metaReader) next(d time.Duration) (string, bool) {
	select {
	case s, ok := <-m.msgs:
		return s, ok
	case <-time.After(d):
		return "", false
	}
}

// TestChannelEvents checks each event Nchan sends, caused by every kind
// of request and subscriber transport, on the memory engine.
func TestChannelEvents(t *testing.T) {
	s := startServer(t, eventsConfig())
	runEventScenarios(t, evTarget{base: s.URL, meta: s.URL}, eventScenarios())
}

// receiveLocations are the locations of receiveScenarios: every one with
// channel_events_receive.
func receiveLocations() []string {
	recv := []string{"channel_events_channel_id: $1", "channel_events_receive: on"}
	return []string{
		location(`~ ^/pub/(\w+)$`, append([]string{"publisher: true", "channel_id: $1"}, recv...)...),
		location(`~ ^/sub/(\w+)$`, append([]string{"subscriber: true", "channel_id: $1"}, recv...)...),
		location(`~ ^/raw/(\w+)$`, append([]string{"subscriber: [http-raw-stream]", "channel_id: $1"}, recv...)...),
		location(`~ ^/lpt/(\w+)$`, append([]string{"subscriber: [longpoll]", "channel_id: $1", "subscriber_timeout: 1s"}, recv...)...),
		location(`~ ^/ipoll/(\w+)$`, append([]string{"subscriber: [intervalpoll]", "channel_id: $1"}, recv...)...),
		location(`~ ^/metasub/(\w+)$`, append([]string{"subscriber: true", "channel_id: $1", "channel_group: meta"}, recv...)...),
		location(`~ ^/meta/(.+)$`, "subscriber: true", "channel_group: meta", "channel_id: $1"),
	}
}

// receiveScenarios check the events Nchan names but never sends, which
// channel_events_receive turns on: subscriber_receive_message for each
// message a subscriber is sent (by its own goroutine or a fan-out writer),
// subscriber_receive_status for an answer or ending without one; and that
// subscribers of an events channel cause no events.
func receiveScenarios() []evScenario {
	// streamGets: a stream subscriber admitted, sent three messages, gone.
	streamGets := func(x *evRun, c net.Conn) {
		x.expect(x.ev("subscriber_enqueue"))
		for i := range 3 {
			x.status("POST", "/pub/"+x.id, fmt.Sprint("m", i), http.StatusCreated)
		}
		x.expect(x.ev("channel_publish", "channel_publish", "channel_publish",
			"subscriber_receive_message", "subscriber_receive_message", "subscriber_receive_message"))
		c.Close()
		x.expect(x.ev("subscriber_dequeue"))
	}
	stream := func(name, prefix string, headers ...string) evScenario {
		return evScenario{name: name, run: func(x *evRun) { streamGets(x, x.open(prefix+x.id, headers...)) }}
	}
	return []evScenario{
		{name: "long-poll answered with a message", run: func(x *evRun) {
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
			x.status("GET", "/sub/"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_receive_message"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "interval-poll answered with a message", run: func(x *evRun) {
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
			x.status("GET", "/ipoll/"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_receive_message"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "long-poll that times out", run: func(x *evRun) {
			x.status("GET", "/lpt/"+x.id, "", http.StatusRequestTimeout)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_receive_status"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		{name: "interval-poll with nothing new", run: func(x *evRun) {
			x.status("GET", "/ipoll/"+x.id, "", http.StatusNotModified)
			x.expect(x.ev("subscriber_enqueue"))
			x.expect(x.ev("subscriber_receive_status"))
			x.expect(x.ev("subscriber_dequeue"))
		}},
		stream("eventsource", "/sub/", "Accept", "text/event-stream"),
		stream("chunked", "/sub/", "TE", "chunked"),
		stream("multipart", "/sub/", "Accept", "multipart/mixed"),
		stream("raw stream", "/raw/"),
		{name: "websocket", run: func(x *evRun) { streamGets(x, x.websocket("/sub/"+x.id)) }},
		{name: "stream of a deleted channel", run: func(x *evRun) {
			c := x.open("/sub/"+x.id, "Accept", "text/event-stream")
			defer c.Close()
			x.expect(x.ev("subscriber_enqueue"))
			x.status("DELETE", "/pub/"+x.id, "", http.StatusOK)
			x.expect(x.ev("subscriber_receive_status", "subscriber_dequeue", "channel_delete"))
		}},
		{name: "subscriber of an events channel", run: func(x *evRun) {
			c := x.open("/metasub/"+x.id, "Accept", "text/event-stream")
			defer c.Close()
			x.status("POST", "/pub/"+x.id, "m", http.StatusAccepted)
			x.expect(x.ev("channel_publish"))
		}},
	}
}

// TestChannelEventsReceive runs receiveScenarios on the memory engine.
func TestChannelEventsReceive(t *testing.T) {
	s := startServer(t, eventsConfig(receiveLocations()...))
	runEventScenarios(t, evTarget{base: s.URL, meta: s.URL}, receiveScenarios())
}
