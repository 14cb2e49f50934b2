package protocol

import (
	"net/http"
	"strconv"
	"time"
)

// AppendEvent appends one EventSource event: an "event:" line when event is
// not empty, the "id:" line, one "data:" line per line of body (CR, LF and
// CRLF all end a line, as the EventSource format reads them), and the blank
// line that dispatches it. An empty body is one empty data line.
func AppendEvent(b []byte, event, id string, body []byte) []byte {
	b = AppendEventHead(b, event, id)
	start := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\n' && c != '\r' {
			continue
		}
		b = append(b, body[start:i]...)
		b = append(b, EventDataBreak...)
		if c == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	b = append(b, body[start:]...)
	return append(b, EventEnd...)
}

// EventDataBreak and EventEnd are the bytes between a body's lines in an
// event and after its last one. AppendEventHead, then the body's lines
// (split at CR, LF and CRLF) joined by EventDataBreak, then EventEnd are
// the bytes of AppendEvent: a server can write a large body's lines where
// they are instead of copying them.
const (
	EventDataBreak = "\ndata: "
	EventEnd       = "\n\n"
)

// AppendEventHead appends the start of an event, up to the text of its
// first data line: an "event:" line when event is not empty, the "id:"
// line and "data: ".
func AppendEventHead(b []byte, event, id string) []byte {
	if event != "" {
		b = appendField(b, "event", event)
	}
	b = appendField(b, "id", id)
	return append(b, "data: "...)
}

// appendField appends one "name: value\n" line, the value without line
// breaks.
func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = appendLine(b, value)
	return append(b, '\n')
}

// appendLine appends s with any line breaks removed: a field value in the
// EventSource format cannot span lines.
func appendLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] != '\n' && s[i] != '\r' {
			b = append(b, s[i])
		}
	}
	return b
}

// EventSourcePreamble starts every EventSource stream.
const EventSourcePreamble = ": hi\n\n"

// AppendPing appends an EventSource ping: a comment, event and data line for
// each non-empty value, then the blank line; all empty gives ":\n\n".
func AppendPing(b []byte, comment, event, data string) []byte {
	if comment == "" && event == "" && data == "" {
		return append(b, ":\n\n"...)
	}
	if comment != "" {
		b = append(b, ':')
		b = appendLine(b, comment)
		b = append(b, '\n')
	}
	if event != "" {
		b = appendField(b, "event", event)
	}
	if data != "" {
		b = appendField(b, "data", data)
	}
	return append(b, '\n')
}

// AppendStatusComment appends the comment that ends an EventSource stream
// with a status, as ":410: 410 Gone\n\n". text replaces the standard
// status text when it is not empty.
func AppendStatusComment(b []byte, status int, text string) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ": "...)
	b = AppendStatusLine(b, status, text)
	return append(b, "\n\n"...)
}

// AppendStatusLine appends "410 Gone", or the status and text.
func AppendStatusLine(b []byte, status int, text string) []byte {
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text == "" {
		text = http.StatusText(status)
	}
	return appendLine(b, text)
}

// HTTPDate formats a message id's second as an HTTP date.
func HTTPDate(sec int64) string {
	return time.Unix(sec, 0).UTC().Format(http.TimeFormat)
}

// AppendMultipartPart appends one multipart/mixed part and the boundary that
// ends it: "\r\n" headers "\r\n" body "\r\n--" boundary. lastModified is
// left out when empty (compound ids); contentType when empty.
func AppendMultipartPart(b []byte, boundary, lastModified, etagHeader, etag, contentType string, body []byte) []byte {
	b = AppendMultipartHead(b, lastModified, etagHeader, etag, contentType)
	b = append(b, body...)
	return AppendMultipartBoundary(b, boundary)
}

// AppendMultipartHead appends what comes before a part's body in
// AppendMultipartPart: its headers and the blank line.
func AppendMultipartHead(b []byte, lastModified, etagHeader, etag, contentType string) []byte {
	if lastModified != "" {
		b = append(b, "\r\nLast-Modified: "...)
		b = append(b, lastModified...)
	}
	b = append(b, "\r\n"...)
	b = append(b, etagHeader...)
	b = append(b, ": "...)
	b = append(b, etag...)
	if contentType != "" {
		b = append(b, "\r\nContent-Type: "...)
		b = appendLine(b, contentType)
	}
	return append(b, "\r\n\r\n"...)
}

// AppendMultipartBoundary appends what follows a part's body in
// AppendMultipartPart: "\r\n--" and the boundary.
func AppendMultipartBoundary(b []byte, boundary string) []byte {
	b = append(b, "\r\n--"...)
	return append(b, boundary...)
}

// MultipartEnd completes the final boundary of a multipart/mixed stream.
const MultipartEnd = "--\r\n"

// boundaryChars are the characters Nchan draws boundaries from.
const boundaryChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Boundary makes a 32-character multipart boundary from 32 random bytes.
func Boundary(random [32]byte) string {
	var b [32]byte
	for i, r := range random {
		b[i] = boundaryChars[int(r)%len(boundaryChars)]
	}
	return string(b[:])
}

// AppendChunk appends body as one HTTP/1.1 chunk.
func AppendChunk(b []byte, body []byte) []byte {
	b = AppendChunkHead(b, len(body))
	b = append(b, body...)
	return append(b, ChunkDataEnd...)
}

// AppendChunkHead appends the size line of a chunk of n bytes; the chunk's
// data and ChunkDataEnd follow it.
func AppendChunkHead(b []byte, n int) []byte {
	b = strconv.AppendInt(b, int64(n), 16)
	return append(b, "\r\n"...)
}

// ChunkDataEnd follows the data of an HTTP/1.1 chunk.
const ChunkDataEnd = "\r\n"

// ChunkedEnd is the last chunk of an HTTP/1.1 chunked body.
const ChunkedEnd = "0\r\n\r\n"

// AppendWSMeta appends the ws+meta.nchan header block that precedes each
// message: "id: <id>\n", "content-type: <ct>\n" when there is one, "\n".
func AppendWSMeta(b []byte, id, contentType string) []byte {
	b = appendField(b, "id", id)
	if contentType != "" {
		b = appendField(b, "content-type", contentType)
	}
	return append(b, '\n')
}
