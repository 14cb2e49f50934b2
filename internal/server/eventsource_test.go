package server_test

// EventSource subscribers: the event format, event names, pings, delete,
// subscriber_timeout and resuming with the last event id.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEventSourceFormat(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openEventSource(t, s, "/sub/esfmt")
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
		{"many lines", strings.Repeat("l\r\n", 40) + "end", nil, "", strings.Repeat("l\n", 40) + "end"},
		{"many lines with an event", strings.Repeat("\n", 30), []string{"X-EventSource-Event", "blank"}, "blank", strings.Repeat("\n", 30)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, _ := publish(t, s, "esfmt", tc.body, tc.headers...)
			c.expect(t, sseEvent(tc.event, id.String(), tc.data))
		})
	}
	// Exact spot checks of the wire bytes (not built by sseEvent).
	id, _ := publish(t, s, "esfmt", "a\n")
	c.expect(t, "id: "+id.String()+"\ndata: a\ndata: \n\n")
	id, _ = publish(t, s, "esfmt", "")
	c.expect(t, "id: "+id.String()+"\ndata: \n\n")
	id, _ = publish(t, s, "esfmt", "x", "X-EventSource-Event", "ev")
	c.expect(t, "event: ev\nid: "+id.String()+"\ndata: x\n\n")
}

// TestEventSourceLargeMessages is Nchan's test_long_buffed_messages for
// EventSource: 31 messages of 2 MB to one channel, each kept in the buffer,
// under max_reserved_memory 128M, all received by an EventSource
// subscriber. A message's body is held once: the EventSource encoding only
// adds its framing, so the store's memory is the bodies and little more.
func TestEventSourceLargeMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig([]string{"max_reserved_memory: 128M"},
		prefixLocation("pub", "publisher: true", "message_buffer_length: 200", "client_max_body_size: 100m"),
		prefixLocation("sub", "subscriber: true")))
	const size = 2000 * 1024
	c := openEventSource(t, s, "/sub/large")
	waitSubscribers(t, s, "large", 1)
	type event struct {
		id, data string
		err      error
	}
	events := make(chan event, 32)
	go func() {
		for range 31 {
			c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			id, data, err := readEvent(c.br)
			events <- event{id, data, err}
			if err != nil {
				return
			}
		}
	}()
	bodies := make([]string, 0, 31)
	for i := 1; i <= 30; i++ {
		fill := "q"
		if i%2 == 0 {
			fill = "r"
		}
		bodies = append(bodies, strconv.Itoa(i)+strings.Repeat(fill, size-3)+"end")
	}
	bodies = append(bodies, "FIN")
	var ids []msgID
	var held int64
	for _, b := range bodies {
		id, _ := publish(t, s, "large", b)
		ids = append(ids, id)
		held += int64(len(b))
	}
	// What the store holds: the bodies, and for each message its fields,
	// bookkeeping and one EventSource encoding (framing only).
	if used, most := s.Store.Stats().MemoryUsed, held+int64(len(bodies))*1024+4096; used > most {
		t.Errorf("store memory %d for %d bytes of bodies: more than %d, as if bodies were copied", used, held, most)
	}
	for i, b := range bodies {
		e := <-events
		if e.err != nil {
			t.Fatalf("event %d: %v", i+1, e.err)
		}
		if e.id != ids[i].String() || e.data != b {
			t.Fatalf("event %d: id %s, %d bytes %.20q...; want id %s, %d bytes %.20q...", i+1, e.id, len(e.data), e.data, ids[i], len(b), b)
		}
	}
}

func TestEventSourceEventOverride(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openEventSource(t, s, "/esev/ov")
	plain := openEventSource(t, s, "/sub/ov")
	id, _ := publish(t, s, "ov", "one", "X-EventSource-Event", "publisher-event")
	c.expect(t, sseEvent("forced", id.String(), "one"))
	plain.expect(t, sseEvent("publisher-event", id.String(), "one"))
	id, _ = publish(t, s, "ov", "two")
	c.expect(t, sseEvent("forced", id.String(), "two"))
	plain.expect(t, sseEvent("", id.String(), "two"))
}

// TestEventSourceEventPublisher: eventsource_event on a publisher
// location names the messages it publishes, overriding the publisher's
// X-EventSource-Event (nchan-behaviour.md §1.13); a subscriber location's
// eventsource_event still wins.
func TestEventSourceEventPublisher(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	plain := openEventSource(t, s, "/sub/evpub")
	forced := openEventSource(t, s, "/esev/evpub")
	for _, hdr := range [][]string{nil, {"X-EventSource-Event", "from-header"}} {
		id, _ := publishTo(t, s, "/pubev/evpub", "named", hdr...)
		plain.expect(t, sseEvent("from-publisher", id.String(), "named"))
		forced.expect(t, sseEvent("forced", id.String(), "named"))
	}
}

func TestEventSourcePing(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	cases := []struct{ loc, want string }{
		{"esping", "event: ping\n\n"},
		{"espingc", ":keepalive\nevent: ping\ndata: {}\n\n"},
		{"espinge", ":\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.loc, func(t *testing.T) {
			t.Parallel()
			ch := "ping" + tc.loc
			c := openEventSource(t, s, "/"+tc.loc+"/"+ch)
			start := time.Now()
			c.expect(t, tc.want)
			if d := time.Since(start); d < 75*time.Millisecond {
				t.Errorf("first ping after %v, want about the 150ms interval", d)
			}
			c.expect(t, tc.want)
			// Messages still flow between pings, with no ping inside them.
			id, _ := publish(t, s, ch, "between")
			for range 20 { // pings that came first (bounded: 3s of pings)
				c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				b, err := c.br.Peek(len(tc.want))
				if err != nil || string(b) != tc.want {
					break
				}
				c.readN(t, len(tc.want), time.Second)
			}
			c.expect(t, sseEvent("", id.String(), "between"))
		})
	}
	// No pings without an interval.
	c := openEventSource(t, s, "/sub/noping")
	c.expectSilence(t, 400*time.Millisecond)
}

func TestEventSourceDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openEventSource(t, s, "/sub/esdel")
	id, _ := publish(t, s, "esdel", "last words")
	c.expect(t, sseEvent("", id.String(), "last words"))
	deleteChannel(t, s, "esdel")
	c.expect(t, ":410: 410 Gone\n\n")
	c.expectEOF(t)
}

// TestEventSourceTimeout: subscriber_timeout (700ms) ends an idle
// stream with a 408 comment; every message restarts the timer.
func TestEventSourceTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openEventSource(t, s, "/timeout/est")
	for _, body := range []string{"m1", "m2"} {
		c.expectSilence(t, 450*time.Millisecond) // idle, within the timeout
		id, _ := publish(t, s, "est", body)
		// Without the reset the 408 would come before m2 (at 700ms).
		c.expect(t, sseEvent("", id.String(), body))
	}
	last := time.Now()
	c.expect(t, ":408: 408 Request Timeout\n\n")
	if d := time.Since(last); d < 500*time.Millisecond {
		t.Errorf("408 came %v after the last message, want about 700ms (timer reset by each message)", d)
	}
	c.expectEOF(t)
}

// TestEventSourceResume: a dropped EventSource reconnects with the
// last id it saw and gets exactly the messages published meanwhile.
func TestEventSourceResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	t.Run("invalid id: from the start", func(t *testing.T) {
		t.Parallel()
		// An id that is not Herald's is ignored: the stream starts where
		// the location starts (see TestUnparseableLastEventID).
		id, _ := publish(t, s, "esbad", "first")
		for _, target := range []string{"/sub/esbad?last_event_id=nope", "/sub/esbad?last_event_id=1%3A2%3A3"} {
			c := openEventSource(t, s, target, "Last-Event-ID", "x:y")
			c.expect(t, sseEvent("", id.String(), "first"))
		}
	})
	cases := []struct {
		name string
		mode resumeMode
	}{
		{"Last-Event-ID header", byLastEventID},
		{"last_event_id query", byQuery},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := fmt.Sprintf("esres%d", i)
			ids := map[string]msgID{}
			for _, b := range []string{"m1", "m2"} {
				ids[b], _ = publish(t, s, ch, b)
			}
			c := openEventSource(t, s, "/sub/"+ch)
			c.expect(t, sseEvent("", ids["m1"].String(), "m1"))
			c.expect(t, sseEvent("", ids["m2"].String(), "m2"))
			c.conn.Close()
			waitSubscribers(t, s, ch, 0)
			for _, b := range []string{"m3", "m4"} {
				ids[b], _ = publish(t, s, ch, b)
			}
			u, h := resumeWithID(t, "/sub/"+ch, tc.mode, ids["m2"].String())
			c = openEventSource(t, s, u, h...)
			c.expect(t, sseEvent("", ids["m3"].String(), "m3"))
			c.expect(t, sseEvent("", ids["m4"].String(), "m4"))
			c.expectSilence(t, 150*time.Millisecond)
			ids["m5"], _ = publish(t, s, ch, "m5")
			c.expect(t, sseEvent("", ids["m5"].String(), "m5"))
		})
	}
}
