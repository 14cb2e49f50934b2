package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Part is one message of a multipart/mixed stream. Its byte slices are
// valid until the decoder's next Feed or Next.
type Part struct {
	// LastModified, Etag and ContentType are the part's headers of those
	// names (Etag under the decoder's EtagHeader), empty when absent.
	LastModified, Etag, ContentType []byte
	// Body is the message body.
	Body []byte
	// Truncated reports that the body was longer than the decoder's
	// MaxBody and Body holds only its start.
	Truncated bool
}

// maxPartHeaderLine is the longest header line of a part.
const maxPartHeaderLine = 8 << 10

type mpState uint8

const (
	mpStart    mpState = iota // before the first boundary
	mpBoundary                // after a boundary: "\r\n" or "--" follows
	mpDash                    // after a boundary and "-": "-" ends the stream
	mpCR                      // after a boundary and "\r"
	mpHeaders
	mpBody
	mpEnd // after the closing boundary: the rest is ignored
)

// MultipartDecoder reads a multipart/mixed stream (RFC 2046) incrementally,
// as Nchan and Herald stream messages to subscribers that send "Accept:
// multipart/mixed", and as a long-poll with longpoll_multipart_response
// answers: "--<boundary>", then for each message "\r\n", its headers,
// "\r\n", its body and "\r\n--<boundary>", and "--" at the end. Give it the
// response body (de-chunked); Next returns each part as soon as the
// boundary after it arrives, and io.EOF after the closing one.
//
// Header lines may end with CRLF or LF; header names are read without
// regard to case.
type MultipartDecoder struct {
	// Boundary is the boundary parameter of the response's Content-Type.
	Boundary string
	// EtagHeader is the name of the header with the message id tag
	// (Nchan's custom etag header); "" is "Etag".
	EtagHeader string
	// MaxBody is the largest body accepted (0: DefaultMaxMessage). A
	// larger one fails with an error wrapping ErrTooLong, unless Truncate
	// is set.
	MaxBody int
	// Truncate keeps the first MaxBody bytes of a larger body, drops the
	// rest and marks the part Truncated, instead of failing.
	Truncate bool

	in      []byte
	err     error
	st      mpState
	delim   []byte // "\r\n--" + Boundary
	matched int    // bytes of the delimiter matched at the end of what was read

	line                       []byte
	lastMod, etag, ctype, body []byte
	truncated                  bool
	delivered                  bool
	part                       Part // what Next returns
}

func (d *MultipartDecoder) limit() int {
	if d.MaxBody > 0 {
		return d.MaxBody
	}
	return DefaultMaxMessage
}

// Reset prepares the decoder for a new stream, keeping its settings and
// buffers.
func (d *MultipartDecoder) Reset() {
	*d = MultipartDecoder{
		Boundary: d.Boundary, EtagHeader: d.EtagHeader, MaxBody: d.MaxBody, Truncate: d.Truncate,
		line: d.line[:0], lastMod: d.lastMod[:0], etag: d.etag[:0], ctype: d.ctype[:0], body: d.body[:0],
	}
}

// Feed hands the decoder the next bytes of the stream; Next reads them. p
// is not copied: it must not change until Next has reported that it needs
// more input. Feeding before that keeps what was left, in a copy.
func (d *MultipartDecoder) Feed(p []byte) {
	d.in = feedInput(d.in, p)
}

// Next returns the next part, or nil when the input fed so far holds no
// more parts: Feed the next bytes. The Part is the decoder's own,
// overwritten by the next call. After the closing boundary Next returns
// io.EOF. Any error is final: every later call returns it.
func (d *MultipartDecoder) Next() (*Part, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.delim == nil {
		if err := checkBoundary(d.Boundary); err != nil {
			d.err = err
			return nil, err
		}
		d.delim = append([]byte("\r\n--"), d.Boundary...)
	}
	if d.delivered {
		d.lastMod, d.etag, d.ctype, d.body = d.lastMod[:0], d.etag[:0], d.ctype[:0], d.body[:0]
		d.truncated, d.delivered = false, false
	}
	for len(d.in) > 0 && d.err == nil {
		switch d.st {
		case mpStart:
			d.start()
		case mpBoundary, mpDash, mpCR:
			d.afterBoundary()
		case mpHeaders:
			d.header()
		case mpBody:
			if d.bodyEnd() && d.err == nil {
				d.st, d.delivered = mpBoundary, true
				d.part = Part{LastModified: d.lastMod, Etag: d.etag, ContentType: d.ctype, Body: d.body, Truncated: d.truncated}
				return &d.part, nil
			}
		case mpEnd:
			d.in = nil
		}
	}
	d.in = nil // hold no reference to the caller's buffer
	if d.err == nil && d.st == mpEnd {
		return nil, io.EOF
	}
	return nil, d.err
}

// checkBoundary checks a boundary as RFC 2046 defines it: 1 to 70
// characters, none a control character.
func checkBoundary(b string) error {
	if len(b) == 0 || len(b) > 70 {
		return fmt.Errorf("multipart: boundary of %d characters", len(b))
	}
	for i := 0; i < len(b); i++ {
		if b[i] < ' ' || b[i] > '~' {
			return fmt.Errorf("multipart: boundary %q has a control character", b)
		}
	}
	return nil
}

// start reads the first boundary, "--<boundary>", after any blank lines.
func (d *MultipartDecoder) start() {
	open := d.delim[2:]
	for len(d.in) > 0 {
		c := d.in[0]
		switch {
		case d.matched == 0 && (c == '\r' || c == '\n'):
		case c == open[d.matched]:
			d.matched++
		default:
			d.err = fmt.Errorf("multipart: the stream does not start with its boundary")
			return
		}
		d.in = d.in[1:]
		if d.matched == len(open) {
			d.matched, d.st = 0, mpBoundary
			return
		}
	}
}

// afterBoundary reads what follows a boundary: "\r\n" (or "\n") before a
// part's headers, or "--" at the end; spaces and tabs between are padding.
func (d *MultipartDecoder) afterBoundary() {
	for len(d.in) > 0 {
		c := d.in[0]
		d.in = d.in[1:]
		switch {
		case d.st == mpBoundary && (c == ' ' || c == '\t'):
		case d.st == mpBoundary && c == '-':
			d.st = mpDash
		case d.st == mpBoundary && c == '\r':
			d.st = mpCR
		case (d.st == mpBoundary || d.st == mpCR) && c == '\n':
			d.st = mpHeaders
			return
		case d.st == mpDash && c == '-':
			d.st = mpEnd
			return
		default:
			d.err = fmt.Errorf("multipart: unexpected byte %q after a boundary", c)
			return
		}
	}
}

// header reads a header line, or the blank line that ends the headers.
func (d *MultipartDecoder) header() {
	i := bytes.IndexByte(d.in, '\n')
	part := d.in
	if i >= 0 {
		part = d.in[:i]
	}
	if len(d.line)+len(part) > maxPartHeaderLine {
		d.err = fmt.Errorf("multipart: header line of more than %d bytes: %w", maxPartHeaderLine, ErrTooLong)
		return
	}
	if i < 0 {
		d.line = append(d.line, part...)
		d.in = nil
		return
	}
	line := part
	if len(d.line) > 0 {
		d.line = append(d.line, part...)
		line = d.line
	}
	d.in = d.in[i+1:]
	line = bytes.TrimSuffix(line, []byte("\r"))
	defer func() { d.line = d.line[:0] }()
	if len(line) == 0 {
		d.st = mpBody
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		d.err = errors.New("multipart: header line without a colon")
		return
	}
	name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
	etag := d.EtagHeader
	if etag == "" {
		etag = "Etag"
	}
	switch {
	case bytes.EqualFold(name, []byte("Last-Modified")):
		d.lastMod = append(d.lastMod[:0], value...)
	case bytes.EqualFold(name, []byte(etag)):
		d.etag = append(d.etag[:0], value...)
	case bytes.EqualFold(name, []byte("Content-Type")):
		d.ctype = append(d.ctype[:0], value...)
	}
}

// bodyEnd reads body bytes and reports whether the delimiter that ends the
// body has been read. A delimiter starts with the only CR it holds (a
// boundary has no control characters), so a partial match that fails is
// all body.
func (d *MultipartDecoder) bodyEnd() bool {
	if d.matched > 0 {
		k := min(len(d.delim)-d.matched, len(d.in))
		if bytes.Equal(d.in[:k], d.delim[d.matched:d.matched+k]) {
			d.matched += k
			d.in = d.in[k:]
			if d.matched < len(d.delim) {
				return false
			}
			d.matched = 0
			return true
		}
		d.appendBody(d.delim[:d.matched])
		d.matched = 0
	}
	if i := bytes.Index(d.in, d.delim); i >= 0 {
		d.appendBody(d.in[:i])
		d.in = d.in[i+len(d.delim):]
		return true
	}
	keep := 0
	from := max(0, len(d.in)-len(d.delim)+1)
	if j := bytes.LastIndexByte(d.in[from:], '\r'); j >= 0 && bytes.HasPrefix(d.delim, d.in[from+j:]) {
		keep = len(d.in) - from - j
	}
	d.appendBody(d.in[:len(d.in)-keep])
	d.matched = keep
	d.in = nil
	return false
}

// appendBody adds p to the part's body, up to the limit.
func (d *MultipartDecoder) appendBody(p []byte) {
	room := d.limit() - len(d.body)
	if len(p) > room {
		if !d.Truncate {
			d.err = fmt.Errorf("multipart: body of more than %d bytes: %w", d.limit(), ErrTooLong)
			return
		}
		p, d.truncated = p[:room], true
	}
	d.body = append(d.body, p...)
}
