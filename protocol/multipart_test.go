package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// mpDecodeAll feeds stream to d in pieces of step bytes (0: at once) and
// renders the parts, ending with the error (io.EOF after the closing
// boundary).
func mpDecodeAll(d *MultipartDecoder, stream []byte, step int) ([]string, error) {
	if step <= 0 {
		step = max(1, len(stream))
	}
	var out []string
	for len(stream) > 0 {
		n := min(step, len(stream))
		d.Feed(stream[:n])
		stream = stream[n:]
		for {
			p, err := d.Next()
			if err != nil {
				return out, err
			}
			if p == nil {
				break
			}
			s := fmt.Sprintf("lm=%q etag=%q ct=%q body=%q", p.LastModified, p.Etag, p.ContentType, p.Body)
			if p.Truncated {
				s += " truncated"
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func TestMultipartDecoder(t *testing.T) {
	const b = "Bq7.X/0"
	lm := "Thu, 01 Jan 1970 00:00:01 GMT"
	nchan := "--" + b
	nchan = string(AppendMultipartPart([]byte(nchan), b, lm, "Etag", "0", "text/plain", []byte("one")))
	nchan = string(AppendMultipartPart([]byte(nchan), b, "", "Etag", "1:[0],-", "", []byte("\r\n--Bq7 \r\n-\r")))
	nchan = string(AppendMultipartPart([]byte(nchan), b, lm, "Etag", "2", "", nil))
	tests := []struct {
		name  string
		dec   MultipartDecoder
		input string
		want  []string
		end   bool
	}{
		{"nchan stream", MultipartDecoder{Boundary: b}, nchan + MultipartEnd, []string{
			`lm="Thu, 01 Jan 1970 00:00:01 GMT" etag="0" ct="text/plain" body="one"`,
			`lm="" etag="1:[0],-" ct="" body="\r\n--Bq7 \r\n-\r"`,
			`lm="Thu, 01 Jan 1970 00:00:01 GMT" etag="2" ct="" body=""`,
		}, true},
		{"open stream", MultipartDecoder{Boundary: b}, nchan + "\r\nEtag: 3\r\n\r\npartial", []string{
			`lm="Thu, 01 Jan 1970 00:00:01 GMT" etag="0" ct="text/plain" body="one"`,
			`lm="" etag="1:[0],-" ct="" body="\r\n--Bq7 \r\n-\r"`,
			`lm="Thu, 01 Jan 1970 00:00:01 GMT" etag="2" ct="" body=""`,
		}, false},
		{"long-poll answer", MultipartDecoder{Boundary: b}, "--" + b + "\r\nContent-Type: a/b\r\n\r\nx\r\n--" + b + "\r\n\r\ny\r\n--" + b + "--\r\nepilogue",
			[]string{`lm="" etag="" ct="a/b" body="x"`, `lm="" etag="" ct="" body="y"`}, true},
		{"custom etag header, LF lines, padding", MultipartDecoder{Boundary: b, EtagHeader: "X-Msg-Id"}, "\r\n--" + b + " \t\nx-msg-id:  7 \nEtag: no\n\nbody\r\n--" + b + "--",
			[]string{`lm="" etag="7" ct="" body="body"`}, true},
		{"truncated", MultipartDecoder{Boundary: b, MaxBody: 3, Truncate: true}, "--" + b + "\r\n\r\nabcdef\r\n--" + b + "\r\n\r\nabc\r\n--" + b,
			[]string{`lm="" etag="" ct="" body="abc" truncated`, `lm="" etag="" ct="" body="abc"`}, false},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3, 7, 64} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := tt.dec
				got, err := mpDecodeAll(&d, []byte(tt.input), step)
				if !slices.Equal(got, tt.want) || (tt.end && err != io.EOF) || (!tt.end && err != nil) {
					t.Fatalf("got %q, %v\nwant %q (end %v)", got, err, tt.want, tt.end)
				}
			})
		}
	}
}

func TestMultipartDecoderErrors(t *testing.T) {
	tests := []struct {
		name     string
		dec      MultipartDecoder
		input    string
		tooLong  bool
		boundary bool
	}{
		{"no boundary", MultipartDecoder{}, "--\r\n", false, true},
		{"boundary with CR", MultipartDecoder{Boundary: "a\rb"}, "--a\rb", false, true},
		{"wrong start", MultipartDecoder{Boundary: "B"}, "--C\r\n", false, false},
		{"after a boundary", MultipartDecoder{Boundary: "B"}, "--Bx", false, false},
		{"header without colon", MultipartDecoder{Boundary: "B"}, "--B\r\nEtag 1\r\n", false, false},
		{"long header line", MultipartDecoder{Boundary: "B"}, "--B\r\nX: " + strings.Repeat("h", 9000), true, false},
		{"long body", MultipartDecoder{Boundary: "B", MaxBody: 4}, "--B\r\n\r\nhello", true, false},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := tt.dec
				_, err := mpDecodeAll(&d, []byte(tt.input), step)
				if err == nil || err == io.EOF || errors.Is(err, ErrTooLong) != tt.tooLong ||
					strings.Contains(err.Error(), "boundary ") != tt.boundary {
					t.Fatalf("error %v", err)
				}
				if _, again := d.Next(); again != err {
					t.Fatalf("error not kept: %v", again)
				}
			})
		}
	}
}

// FuzzMultipartDecoder: any input decodes, or fails, the same way
// whatever the pieces it arrives in.
func FuzzMultipartDecoder(f *testing.F) {
	f.Add([]byte("--B\r\nEtag: 1\r\n\r\nbody\r\n--B\r\n\r\n\r\n--\r\n--B--\r\n"), uint8(1), false)
	f.Add([]byte("\r\n--B \nContent-Type: x\n\n\r\n-\r\n--B\r\n"), uint8(3), true)
	f.Fuzz(func(t *testing.T, stream []byte, step uint8, truncate bool) {
		newDec := func() *MultipartDecoder { return &MultipartDecoder{Boundary: "B", MaxBody: 16, Truncate: truncate} }
		m1, e1 := mpDecodeAll(newDec(), stream, 0)
		m2, e2 := mpDecodeAll(newDec(), stream, int(step%16)+1)
		if !slices.Equal(m1, m2) || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("whole: %q %v\nin pieces: %q %v", m1, e1, m2, e2)
		}
	})
}

// FuzzMultipartRoundTrip: parts written by AppendMultipartPart decode to
// their headers and bodies.
func FuzzMultipartRoundTrip(f *testing.F) {
	f.Add([]byte("one"), []byte("two\r\n--"), "1:0", "text/plain", uint8(2))
	f.Add([]byte{}, []byte("\r"), "", "", uint8(0))
	f.Fuzz(func(t *testing.T, body1, body2 []byte, etag, ctype string, step uint8) {
		var rnd [32]byte
		copy(rnd[:], body1)
		boundary := Boundary(rnd)
		delim := []byte("\r\n--" + boundary)
		strip := strings.NewReplacer("\r", "", "\n", "")
		etag, ctype = strings.TrimSpace(strip.Replace(etag)), strings.TrimSpace(strip.Replace(ctype))
		if bytes.Contains(body1, delim) || bytes.Contains(body2, delim) {
			t.Skip("a body holding the delimiter")
		}
		stream := []byte("--" + boundary)
		stream = AppendMultipartPart(stream, boundary, "Thu, 01 Jan 1970 00:00:01 GMT", "Etag", etag, ctype, body1)
		stream = AppendMultipartPart(stream, boundary, "", "Etag", etag, "", body2)
		stream = append(stream, MultipartEnd...)
		got, err := mpDecodeAll(&MultipartDecoder{Boundary: boundary}, stream, int(step%32)+1)
		want := []string{
			fmt.Sprintf("lm=%q etag=%q ct=%q body=%q", "Thu, 01 Jan 1970 00:00:01 GMT", etag, ctype, body1),
			fmt.Sprintf("lm=%q etag=%q ct=%q body=%q", "", etag, "", body2),
		}
		if err != io.EOF || !slices.Equal(got, want) {
			t.Fatalf("got %q, %v\nwant %q", got, err, want)
		}
	})
}

func TestParseWSMeta(t *testing.T) {
	tests := []struct {
		name, msg       string
		id, ctype, body string
		wantErr         bool
	}{
		{"nchan", "id: 1:[0],-\ncontent-type: text/plain\n\nhello", "1:[0],-", "text/plain", "hello", false},
		{"no content type", "id: 2:0\n\n", "2:0", "", "", false},
		{"body with blank lines", "id: 3\n\n\nx\n\n", "3", "", "\nx\n\n", false},
		{"names without case, unknown skipped", "ID:4\nX-Foo: bar\nContent-Type:  a/b\n\nb", "4", " a/b", "b", false},
		{"no blank line", "id: 1\ncontent-type: x\n", "", "", "", true},
		{"no id", "content-type: x\n\nbody", "", "", "", true},
		{"no colon", "id 1\n\nbody", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ctype, body, err := ParseWSMeta([]byte(tt.msg))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v", err)
			}
			if string(id) != tt.id || string(ctype) != tt.ctype || string(body) != tt.body {
				t.Fatalf("got %q %q %q", id, ctype, body)
			}
		})
	}
}

// FuzzWSMeta: a message framed by AppendWSMeta splits back into its id,
// content type and body.
func FuzzWSMeta(f *testing.F) {
	f.Add("1:[0],-", "text/plain", []byte("hello"))
	f.Add("", "", []byte("\n\nid: x\n"))
	f.Add("a\nb", " x\r", []byte{})
	f.Fuzz(func(t *testing.T, id, ctype string, body []byte) {
		msg := append(AppendWSMeta(nil, id, ctype), body...)
		gotID, gotType, gotBody, err := ParseWSMeta(msg)
		strip := strings.NewReplacer("\r", "", "\n", "")
		if err != nil || string(gotID) != strip.Replace(id) || string(gotType) != strip.Replace(ctype) || !bytes.Equal(gotBody, body) {
			t.Fatalf("got %q %q %q %v from %q", gotID, gotType, gotBody, err, msg)
		}
		// Any bytes at all: a header block or an error, the body a tail
		// of the message.
		if _, _, rest, err := ParseWSMeta(body); err == nil && !bytes.HasSuffix(body, rest) {
			t.Fatalf("body %q is not a tail of %q", rest, body)
		}
	})
}
