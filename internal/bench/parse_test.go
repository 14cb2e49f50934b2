package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

func TestBody(t *testing.T) {
	tests := []struct {
		seq  uint64
		ts   int64
		size int
	}{
		{0, 0, 0},
		{1, 1718000000123456789, 64},
		{4294967295, 9223372036854775807, 10},
		{42, 1, 4096},
	}
	for _, tt := range tests {
		b := appendBody(nil, tt.seq, tt.ts, tt.size)
		if len(b) < tt.size || strings.ContainsAny(string(b), "\r\n") {
			t.Fatalf("body %q: length %d, size %d", b, len(b), tt.size)
		}
		p := b[:min(len(b), bodyPrefix)]
		seq, ts, ok := parseBody(p)
		if !ok || seq != tt.seq || ts != tt.ts {
			t.Fatalf("parseBody(%q) = %d %d %v", p, seq, ts, ok)
		}
	}
	for _, bad := range []string{"", "x", "12", "12 ", "12 x", " 12 34", "12 34x", "hello world"} {
		if _, _, ok := parseBody([]byte(bad)); ok {
			t.Errorf("parseBody(%q) accepted", bad)
		}
	}
}

// TestMessageBody: a body is found as it is, or in the text field of a
// push-stream JSON message template.
func TestMessageBody(t *testing.T) {
	body := string(appendBody(nil, 7, 1718000000123456789, 40))
	tests := []struct {
		in, want string
	}{
		{body, body},
		{`{"id":3,"channel":"bench-0a1b","text":"` + body + `", "tag":"1", "time":"Thu, 03 Dec 2026 09:22:13 GMT", "eventid":""}`,
			body + `", "tag":"1", "time":"Thu, 03 Dec 2026 09:22:13 GMT", "eventid":""}`},
		{`{"id":-1,"channel":"","text":"", "tag":"", "time":"", "eventid":""}`, `", "tag":"", "time":"", "eventid":""}`},
		{"hello", "hello"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(messageBody([]byte(tt.in))); got != tt.want {
			t.Errorf("messageBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	seq, ts, ok := parseBody(messageBody([]byte(tests[1].in)))
	if !ok || seq != 7 || ts != 1718000000123456789 {
		t.Errorf("parseBody of the template's text = %d %d %v", seq, ts, ok)
	}
}

// recorder is a respHandler that writes down what it sees.
type recorder struct {
	events []string
	status int
	msg    prefixBuf
	stopAt int // bodyEnd returns errDone after this many bodies (0: never)
	bodies int
}

func (r *recorder) head(p *respParser) error {
	r.status = p.Status
	r.events = append(r.events, fmt.Sprintf("head %d len=%d chunked=%v close=%v etag=%q lm=%q",
		p.Status, p.ContentLength, p.Chunked, p.Close, p.Etag, p.LastModified))
	return nil
}

func (r *recorder) data(b []byte) error {
	if n := len(r.events); n > 0 && strings.HasPrefix(r.events[n-1], "data ") {
		r.events[n-1] += string(b)
	} else {
		r.events = append(r.events, "data "+string(b))
	}
	return nil
}

func (r *recorder) chunkEnd() error {
	r.events = append(r.events, "chunk-end")
	return nil
}

func (r *recorder) bodyEnd() error {
	r.events = append(r.events, "body-end")
	r.bodies++
	if r.stopAt > 0 && r.bodies >= r.stopAt {
		return errDone
	}
	return nil
}

// feedSplit feeds input in pieces of n bytes.
func feedSplit(p *respParser, h respHandler, input string, n int) error {
	for len(input) > 0 {
		k := min(n, len(input))
		if _, err := p.feed([]byte(input[:k]), h); err != nil {
			return err
		}
		input = input[k:]
	}
	return nil
}

func TestRespParser(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		name  string
		input string
		eof   bool
		want  []string
	}{
		{
			name:  "content-length",
			input: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nEtag: 0\r\nLast-Modified: Sun, 22 Nov 2026 19:43:11 GMT\r\n\r\nhello",
			want:  []string{`head 200 len=5 chunked=false close=false etag="0" lm="Sun, 22 Nov 2026 19:43:11 GMT"`, "data hello", "body-end"},
		},
		{
			name: "two responses, keep-alive",
			input: "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n" +
				"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc",
			want: []string{`head 408 len=0 chunked=false close=false etag="" lm=""`, "body-end",
				`head 200 len=3 chunked=false close=false etag="" lm=""`, "data abc", "body-end"},
		},
		{
			name:  "chunked",
			input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
			want: []string{`head 200 len=-1 chunked=true close=false etag="" lm=""`, "data hello", "chunk-end",
				"data abc", "chunk-end", "body-end"},
		},
		{
			name:  "until close",
			input: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n: hi\n\nid: 1:0\ndata: x\n\n",
			eof:   true,
			want: []string{`head 200 len=-1 chunked=false close=true etag="" lm=""`,
				"data : hi\n\nid: 1:0\ndata: x\n\n", "body-end"},
		},
		{
			name:  "304 has no body",
			input: "HTTP/1.1 304 Not Modified\r\nEtag: 3\r\n\r\n",
			want:  []string{`head 304 len=-1 chunked=false close=false etag="3" lm=""`, "body-end"},
		},
		{
			name:  "long header line is cut, not fatal",
			input: "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nContent-Length: 2\r\n\r\nok",
			want:  []string{`head 200 len=2 chunked=false close=false etag="" lm=""`, "data ok", "body-end"},
		},
		{
			name:  "LF only",
			input: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			want:  []string{`head 200 len=2 chunked=false close=false etag="" lm=""`, "data ok", "body-end"},
		},
	}
	for _, tt := range tests {
		for _, split := range []int{1, 2, 3, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, split), func(t *testing.T) {
				var p respParser
				p.reset()
				p.keepIDs = true
				h := &recorder{}
				if err := feedSplit(&p, h, tt.input, split); err != nil {
					t.Fatal(err)
				}
				if tt.eof {
					if err := p.eof(h); !errors.Is(err, errStreamClosed) {
						t.Fatalf("eof: %v", err)
					}
				}
				if strings.Join(h.events, "|") != strings.Join(tt.want, "|") {
					t.Fatalf("got\n%q\nwant\n%q", h.events, tt.want)
				}
			})
		}
	}
}

func TestRespParserStopsAfterResponse(t *testing.T) {
	var p respParser
	p.reset()
	h := &recorder{stopAt: 1}
	in := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"
	n, err := p.feed([]byte(in), h)
	if err != errDone || n != len(in)-len("HTTP/1.1 200 OK\r\n") {
		t.Fatalf("feed: %d %v", n, err)
	}
}

func TestRespParserErrors(t *testing.T) {
	for _, in := range []string{
		"garbage\r\n",
		"HTTP/1.1 2x0 OK\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX\r\n",
	} {
		var p respParser
		p.reset()
		if _, err := p.feed([]byte(in), &recorder{}); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestSSEParser(t *testing.T) {
	body := func(seq uint64) []byte { return appendBody(nil, seq, 1000+int64(seq), 100) }
	var stream []byte
	stream = append(stream, protocol.EventSourcePreamble...)
	stream = protocol.AppendEvent(stream, "", "1:0", body(0))
	stream = protocol.AppendPing(stream, "", "ping", "")
	stream = protocol.AppendEvent(stream, "evt", "1:1", body(1))
	stream = append(stream, "id: 1:2\r\ndata:"...) // CRLF, no space after the colon
	stream = append(stream, body(2)...)
	stream = append(stream, "\r\ndata: second line\r\n\r\n"...)
	stream = protocol.AppendPing(stream, "", "", "")
	stream = protocol.AppendEvent(stream, "", "1:3", body(3))
	stream = append(stream, ":410: 410 Gone\n\n"...)          // Nchan's closing status comment
	stream = protocol.AppendEvent(stream, "", "1:4", body(4)) // after the end: not read

	for _, split := range []int{1, 2, 5, 13, 64, len(stream)} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			var got []uint64
			h := &streamHandler{es: true, deliver: func(p []byte) {
				seq, ts, ok := parseBody(p)
				if !ok || ts != 1000+int64(seq) || len(p) > bodyPrefix {
					t.Fatalf("bad event data %q", p)
				}
				got = append(got, seq)
			}}
			setupESDecoder(&h.sse, bodyPrefix)
			var err error
			for b := stream; len(b) > 0 && err == nil; {
				k := min(split, len(b))
				err = h.data(b[:k])
				b = b[k:]
			}
			var se *statusError
			if !errors.As(err, &se) || se.code != 410 {
				t.Fatalf("end: %v, want status 410", err)
			}
			if fmt.Sprint(got) != "[0 1 2 3]" {
				t.Fatalf("events %v", got)
			}
		})
	}
}

// TestWSReader: the subscriber keeps each message's start, answers pings
// and ends at a close frame.
func TestWSReader(t *testing.T) {
	body := func(seq uint64) []byte { return appendBody(nil, seq, 1000+int64(seq), 70_000) }
	var stream []byte
	stream = protocol.AppendFrame(stream, protocol.OpText, protocol.Fin, body(0))
	stream = protocol.AppendPingFrame(stream, []byte("p"))
	stream = protocol.AppendFrame(stream, protocol.OpBinary, 0, body(1)[:10])
	stream = protocol.AppendFrame(stream, protocol.OpContinuation, protocol.Fin, body(1)[10:])
	stream = protocol.AppendFrame(stream, protocol.OpText, protocol.Fin, body(2)[:bodyPrefix])
	stream = protocol.AppendCloseFrame(stream, protocol.CloseGoingAway, "410 Gone")
	stream = protocol.AppendFrame(stream, protocol.OpText, protocol.Fin, body(3)) // after the end: not read
	for _, split := range []int{1, 3, 100, 4096, len(stream)} {
		t.Run(fmt.Sprint(split), func(t *testing.T) {
			var got []uint64
			var pongs []string
			w := &wsReader{
				deliver: func(p []byte) {
					seq, ts, ok := parseBody(p)
					if !ok || ts != 1000+int64(seq) || len(p) > bodyPrefix {
						t.Fatalf("bad message %q", p)
					}
					got = append(got, seq)
				},
				pong: func(p []byte) error { pongs = append(pongs, string(p)); return nil },
			}
			setupWSDecoder(&w.dec, bodyPrefix)
			in := append([]byte(nil), stream...)
			var err error
			for b := in; len(b) > 0 && err == nil; {
				k := min(split, len(b))
				err = w.feed(b[:k])
				b = b[k:]
			}
			var ce *wsCloseError
			if !errors.As(err, &ce) || ce.code != protocol.CloseGoingAway || ce.reason != "410 Gone" {
				t.Fatalf("end: %v, want close 1001", err)
			}
			if fmt.Sprint(got) != "[0 1 2]" || fmt.Sprint(pongs) != "[p]" {
				t.Fatalf("messages %v, pongs %q", got, pongs)
			}
		})
	}
}

// FuzzMessageBody: any delivered bytes give a suffix of themselves, and a
// body in a push-stream JSON template is found whole, whatever the channel.
func FuzzMessageBody(f *testing.F) {
	f.Add([]byte(`{"id":1,"channel":"c","text":"7 1718000000123456789 ...."`), "c")
	f.Add([]byte(""), "")
	f.Add([]byte(`"text":"`), "broad_x")
	f.Fuzz(func(t *testing.T, in []byte, channel string) {
		if got := messageBody(in); !strings.HasSuffix(string(in), string(got)) {
			t.Fatalf("messageBody(%q) = %q, not a suffix", in, got)
		}
		channel = strings.ReplaceAll(channel, `"`, "'") // as the module's ids: no quotes
		msg := append([]byte(`{"id":1,"channel":"`+channel+`","text":"`), appendBody(nil, 3, 1718000000123456789, 32)...)
		msg = append(msg, `", "tag":"1", "time":"Thu, 03 Dec 2026 09:22:13 GMT", "eventid":""}`...)
		if seq, ts, ok := parseBody(messageBody(msg)); !ok || seq != 3 || ts != 1718000000123456789 {
			t.Fatalf("body in %q not found: %d %d %v", msg, seq, ts, ok)
		}
	})
}
