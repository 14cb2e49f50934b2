package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// maxLine is how much of an HTTP head line or chunk-size line the parser
// keeps; the rest of a longer line is skipped. Every header the tool reads
// (status, Content-Length, Transfer-Encoding, Connection, Etag,
// Last-Modified) fits.
const maxLine = 200

// lineBuf collects the start of a line that may arrive in pieces.
type lineBuf struct {
	b [maxLine]byte
	n int
}

// take consumes b up to and including the next '\n', keeping what fits.
// It returns the bytes consumed and whether the line is complete.
func (l *lineBuf) take(b []byte) (int, bool) {
	i := bytes.IndexByte(b, '\n')
	part := b
	if i >= 0 {
		part = b[:i]
	}
	l.n += copy(l.b[l.n:], part)
	if i < 0 {
		return len(b), false
	}
	return i + 1, true
}

// line returns the complete line without its CR and resets the buffer for
// the next one (the slice stays valid until the next take).
func (l *lineBuf) line() []byte {
	s := l.b[:l.n]
	l.n = 0
	return bytes.TrimSuffix(s, []byte("\r"))
}

// respHandler receives what a respParser finds.
type respHandler interface {
	// head is called when the status line and headers are read.
	head(p *respParser) error
	// data is called with body bytes (de-chunked).
	data(b []byte) error
	// chunkEnd is called at the end of each chunk of a chunked body.
	chunkEnd() error
	// bodyEnd is called when the body is complete. Returning errDone
	// stops feed with the rest of the input unconsumed.
	bodyEnd() error
}

// errDone stops a feed after a complete response.
var errDone = errors.New("response done")

// errStreamClosed is the server closing a response that ends with the
// connection (an EventSource stream, or a connection dropped mid-response).
var errStreamClosed = errors.New("server closed the connection")

type parseState int

const (
	stStatus parseState = iota
	stHeader
	stBody      // Content-Length body
	stBodyEOF   // body ends with the connection
	stChunkSize // chunk-size line
	stChunkData
	stChunkEnd // the CRLF after chunk data
	stTrailer
)

// respParser reads HTTP/1.1 responses from a byte stream fed in pieces of
// any size. Its state is a few hundred bytes, whatever the responses hold.
type respParser struct {
	st      parseState
	line    lineBuf
	keepIDs bool // record Etag and Last-Modified

	Status        int
	ContentLength int64 // -1: none
	Chunked       bool
	Close         bool
	Etag          string
	LastModified  string

	remain int64
}

// reset prepares for the next response on the connection.
func (p *respParser) reset() {
	*p = respParser{keepIDs: p.keepIDs, ContentLength: -1}
}

// feed parses b. It returns how much of b it consumed (all of it unless the
// handler returned errDone) and the first error.
func (p *respParser) feed(b []byte, h respHandler) (int, error) {
	total := len(b)
	for len(b) > 0 {
		switch p.st {
		case stStatus, stHeader, stChunkSize, stTrailer, stChunkEnd:
			n, done := p.line.take(b)
			b = b[n:]
			if !done {
				continue
			}
			if err := p.endLine(p.line.line(), h); err != nil {
				return total - len(b), err
			}
		case stBody, stChunkData:
			n := int64(len(b))
			if n > p.remain {
				n = p.remain
			}
			if err := h.data(b[:n]); err != nil {
				return total - len(b), err
			}
			b = b[n:]
			p.remain -= n
			if p.remain > 0 {
				continue
			}
			if p.st == stChunkData {
				p.st = stChunkEnd
				if err := h.chunkEnd(); err != nil {
					return total - len(b), err
				}
				continue
			}
			if err := p.finish(h); err != nil {
				return total - len(b), err
			}
		case stBodyEOF:
			if err := h.data(b); err != nil {
				return total - len(b), err
			}
			b = nil
		}
	}
	return total, nil
}

// eof tells the parser the connection ended: that completes a body that
// ends with the connection; anything else was cut short.
func (p *respParser) eof(h respHandler) error {
	if p.st == stBodyEOF {
		if err := h.bodyEnd(); err != nil && err != errDone {
			return err
		}
	}
	return errStreamClosed
}

// finish ends a response and expects the next.
func (p *respParser) finish(h respHandler) error {
	keep := p.keepIDs
	err := h.bodyEnd()
	// The handler has seen the head; the next response starts afresh.
	*p = respParser{keepIDs: keep, ContentLength: -1}
	return err
}

func (p *respParser) endLine(line []byte, h respHandler) error {
	switch p.st {
	case stStatus:
		// "HTTP/1.1 200 OK"
		if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 {
			return fmt.Errorf("bad status line %q", line)
		}
		code, err := strconv.Atoi(string(line[9:12]))
		if err != nil {
			return fmt.Errorf("bad status line %q", line)
		}
		p.Status = code
		p.ContentLength = -1
		p.st = stHeader
	case stHeader:
		if len(line) == 0 {
			return p.endHead(h)
		}
		p.header(line)
	case stChunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			p.st = stTrailer
			return nil
		}
		p.remain = size
		p.st = stChunkData
	case stChunkEnd:
		if len(line) != 0 {
			return fmt.Errorf("bad chunk end %q", line)
		}
		p.st = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			return p.finish(h)
		}
	}
	return nil
}

func (p *respParser) header(line []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return
	}
	name, value := line[:i], bytes.TrimSpace(line[i+1:])
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
			p.ContentLength = n
		}
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
			p.Chunked = true
		}
	case bytes.EqualFold(name, []byte("Connection")):
		if bytes.Contains(bytes.ToLower(value), []byte("close")) {
			p.Close = true
		}
	case p.keepIDs && bytes.EqualFold(name, []byte("Etag")):
		p.Etag = string(value)
	case p.keepIDs && bytes.EqualFold(name, []byte("Last-Modified")):
		p.LastModified = string(value)
	}
}

func (p *respParser) endHead(h respHandler) error {
	if err := h.head(p); err != nil {
		return err
	}
	switch {
	case p.Status < 200 || p.Status == 204 || p.Status == 304:
		return p.finish(h)
	case p.Chunked:
		p.st = stChunkSize
	case p.ContentLength >= 0:
		if p.ContentLength == 0 {
			return p.finish(h)
		}
		p.remain = p.ContentLength
		p.st = stBody
	default:
		p.st = stBodyEOF
	}
	return nil
}
