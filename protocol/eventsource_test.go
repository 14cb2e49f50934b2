package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// esDecodeAll feeds stream to d in pieces of step bytes (0: at once) and
// renders what it returns, ending with the error.
func esDecodeAll(d *EventSourceDecoder, stream []byte, step int) ([]string, error) {
	if step <= 0 {
		step = max(1, len(stream))
	}
	var out []string
	for len(stream) > 0 {
		n := min(step, len(stream))
		d.Feed(stream[:n])
		stream = stream[n:]
		for {
			e, err := d.Next()
			if err != nil {
				return out, err
			}
			if e == nil {
				break
			}
			var s string
			switch e.Kind {
			case KindEvent:
				s = fmt.Sprintf("event id=%q type=%q data=%q", e.ID, e.Type, e.Data)
			case KindComment:
				s = fmt.Sprintf("comment %q", e.Data)
				if code, text, ok := e.Status(); ok {
					s += fmt.Sprintf(" status %d %q", code, text)
				}
			case KindRetry:
				s = fmt.Sprintf("retry %v", e.Retry)
			}
			if e.Truncated {
				s += " truncated"
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func TestEventSourceDecoder(t *testing.T) {
	tests := []struct {
		name  string
		dec   EventSourceDecoder
		input string
		want  []string
	}{
		{"nchan stream", EventSourceDecoder{}, EventSourcePreamble + "id: 1:0\ndata: hello\n\n:\n\nevent: ping\n\nevent: chat\nid: 1:1\ndata: a\ndata: b\n\n:410: 410 Gone\n\n",
			[]string{`comment " hi"`, `event id="1:0" type="" data="hello"`, `comment ""`, `event id="1:1" type="chat" data="a\nb"`, `comment "410: 410 Gone" status 410 "410 Gone"`}},
		{"CRLF", EventSourceDecoder{}, "id: 1\r\ndata: x\r\n\r\n", []string{`event id="1" type="" data="x"`}},
		{"CR", EventSourceDecoder{}, "id: 1\rdata: x\rdata: y\r\r", []string{`event id="1" type="" data="x\ny"`}},
		{"mixed ends", EventSourceDecoder{}, "data: a\r\rdata: b\n\r\ndata: c\r\n\n", []string{`event id="" type="" data="a"`, `event id="" type="" data="b"`, `event id="" type="" data="c"`}},
		{"byte order mark", EventSourceDecoder{}, "\xef\xbb\xbfdata: x\n\n", []string{`event id="" type="" data="x"`}},
		{"only one byte order mark", EventSourceDecoder{}, "\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n", nil},
		{"not a byte order mark", EventSourceDecoder{}, "\xef\xbbdata: x\n\n:c\n", []string{`comment "c"`}},
		{"field without a colon", EventSourceDecoder{}, "data\ndata\n\n", []string{`event id="" type="" data="\n"`}},
		{"one space removed", EventSourceDecoder{}, "data:x\ndata:  y\n\n", []string{`event id="" type="" data="x\n y"`}},
		{"empty data line dispatches", EventSourceDecoder{}, "data:\n\n", []string{`event id="" type="" data=""`}},
		{"no data, no event", EventSourceDecoder{}, "id: 5\nevent: ping\n\ndata: x\n\n", []string{`event id="5" type="" data="x"`}},
		{"id persists", EventSourceDecoder{}, "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			[]string{`event id="1" type="" data="a"`, `event id="1" type="" data="b"`, `event id="" type="" data="c"`}},
		{"id with NUL ignored", EventSourceDecoder{}, "id: 1\nid: a\x00b\ndata: x\n\n", []string{`event id="1" type="" data="x"`}},
		{"retry", EventSourceDecoder{}, "retry: 1500\nretry: 1x\nretry:\nretry: 99999999999999999999\n", []string{"retry 1.5s"}},
		{"unknown fields", EventSourceDecoder{}, "foo: bar\nDATA: x\ndata : y\n\n", nil},
		{"unfinished event", EventSourceDecoder{}, "data: x\n", nil},
		{"status with text", EventSourceDecoder{}, ":503: 503 Subscriber Too Slow\n:4xx: no\n:12: no\n", []string{
			`comment "503: 503 Subscriber Too Slow" status 503 "503 Subscriber Too Slow"`, `comment "4xx: no"`, `comment "12: no"`}},
		{"truncated", EventSourceDecoder{MaxData: 4, Truncate: true}, "data: abcdefgh\n\ndata: ab\ndata: cd\n\ndata: abcd\n\n" + ":" + strings.Repeat("c", 100) + "\n",
			[]string{`event id="" type="" data="abcd" truncated`, `event id="" type="" data="ab\nc" truncated`, `event id="" type="" data="abcd"`,
				fmt.Sprintf("comment %q truncated", strings.Repeat("c", 67))}},
		{"truncated data beyond the line limit", EventSourceDecoder{MaxData: 2, Truncate: true}, "data: " + strings.Repeat("d", 200) + "\n\nid: 2\ndata: ok\n\n",
			[]string{`event id="" type="" data="dd" truncated`, `event id="2" type="" data="ok"`}},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3, 5, 64} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := tt.dec
				got, err := esDecodeAll(&d, []byte(tt.input), step)
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("got %q, %v\nwant %q", got, err, tt.want)
				}
			})
		}
	}
}

func TestEventSourceDecoderLimits(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"data", "data: abc\ndata: def\n\n"},
		{"long line", "event: " + strings.Repeat("e", 100) + "\n"},
		{"long unfinished line", ":" + strings.Repeat("c", 100)},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := EventSourceDecoder{MaxData: 5}
				_, err := esDecodeAll(&d, []byte(tt.input), step)
				if !errors.Is(err, ErrTooLong) {
					t.Fatalf("error %v, want ErrTooLong", err)
				}
				if _, again := d.Next(); again != err {
					t.Fatalf("error not kept: %v", again)
				}
			})
		}
	}
}

// TestEventSourceDecoderReset: a decoder reused for a new stream forgets
// the last id and a cut line.
func TestEventSourceDecoderReset(t *testing.T) {
	var d EventSourceDecoder
	esDecodeAll(&d, []byte("id: 7\ndata: x\n\ndata: cut"), 0)
	d.Reset()
	got, err := esDecodeAll(&d, []byte("\xef\xbb\xbfdata: y\n\n"), 0)
	if err != nil || !slices.Equal(got, []string{`event id="" type="" data="y"`}) {
		t.Fatalf("after Reset: %q %v", got, err)
	}
}

// TestEventSourceFeedEarly: feeding before the input was read keeps it.
func TestEventSourceFeedEarly(t *testing.T) {
	var d EventSourceDecoder
	d.Feed([]byte("data: a\n\nda"))
	d.Feed([]byte("ta: b\n\n"))
	var got []string
	for {
		e, err := d.Next()
		if err != nil || e == nil {
			break
		}
		got = append(got, string(e.Data))
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %q", got)
	}
}

// FuzzEventSourceDecoder: any input decodes, or fails, the same way
// whatever the pieces it arrives in.
func FuzzEventSourceDecoder(f *testing.F) {
	f.Add([]byte(EventSourcePreamble+"id: 1:0\ndata: hello\n\n:410: 410 Gone\n\n"), uint8(1), false)
	f.Add([]byte("\xef\xbb\xbfdata\r\ndata:x\r\rretry: 10\nid: 1\x00\n\n"), uint8(2), true)
	f.Add([]byte("data: "+strings.Repeat("z", 100)+"\r"), uint8(7), true)
	f.Fuzz(func(t *testing.T, stream []byte, step uint8, truncate bool) {
		newDec := func() *EventSourceDecoder { return &EventSourceDecoder{MaxData: 32, Truncate: truncate} }
		m1, e1 := esDecodeAll(newDec(), stream, 0)
		m2, e2 := esDecodeAll(newDec(), stream, int(step%16)+1)
		if !slices.Equal(m1, m2) || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("whole: %q %v\nin pieces: %q %v", m1, e1, m2, e2)
		}
	})
}

// FuzzEventSourceRoundTrip: an event written by AppendEvent decodes to its
// type, id and body, with the body's line breaks as LF.
func FuzzEventSourceRoundTrip(f *testing.F) {
	f.Add("ev", "1:0", []byte("hello\nworld"), uint8(3))
	f.Add("", "1:[0],-", []byte("a\r\nb\rc\n"), uint8(1))
	f.Add("x\ny", "", []byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, event, id string, body []byte, step uint8) {
		stream := []byte(EventSourcePreamble)
		stream = AppendEvent(stream, event, id, body)
		stream = AppendPing(stream, "", "ping", "")
		stream = AppendStatusComment(stream, 410, "")
		got, err := esDecodeAll(&EventSourceDecoder{}, stream, int(step%16)+1)
		strip := strings.NewReplacer("\r", "", "\n", "")
		wantID := strip.Replace(id)
		if strings.IndexByte(wantID, 0) >= 0 {
			wantID = ""
		}
		data := strings.ReplaceAll(strings.ReplaceAll(string(body), "\r\n", "\n"), "\r", "\n")
		want := []string{`comment " hi"`,
			fmt.Sprintf("event id=%q type=%q data=%q", wantID, strip.Replace(event), data),
			`comment "410: 410 Gone" status 410 "410 Gone"`}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("got %q, %v\nwant %q", got, err, want)
		}
	})
}

// TestDecodersDropInput: once a decoder asks for more, it holds no
// reference to the buffer it was fed, which the caller may reuse or drop.
func TestDecodersDropInput(t *testing.T) {
	es := EventSourceDecoder{}
	es.Feed([]byte(": hi\n\ndata: x\n\ndata: cut"))
	ws := WSDecoder{}
	ws.Feed(append(AppendFrame(nil, OpText, Fin, []byte("m")), 0x81))
	mp := MultipartDecoder{Boundary: "B"}
	mp.Feed([]byte("--B\r\n\r\nbody\r\n--B\r\n\r\npart"))
	for {
		if e, err := es.Next(); e == nil || err != nil {
			break
		}
	}
	for {
		if m, err := ws.Next(); m == nil || err != nil {
			break
		}
	}
	for {
		if p, err := mp.Next(); p == nil || err != nil {
			break
		}
	}
	if es.in != nil || es.off != 0 || ws.in != nil || mp.in != nil || es.ev.Data != nil || ws.m.Data != nil {
		t.Fatalf("input kept: %q %q %q %q %q", es.in, ws.in, mp.in, es.ev.Data, ws.m.Data)
	}
}
