package http1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter of one request. It decides the
// framing of the answer as net/http does (a Content-Length when the
// handler finishes with the body unsent, chunked otherwise, none for HEAD,
// 1xx, 204 and 304; a sniffed Content-Type when none is set) and writes
// head and body into the connection's buffer.
type response struct {
	c    *conn
	ctx  *reqCtx
	req  *http.Request
	body *body // nil without a body
	hdr  http.Header

	status      int
	wroteHeader bool   // the status is decided
	headSent    bool   // the head is in the write buffer
	chunked     bool   // the body goes in chunks
	cl          int64  // the handler's Content-Length, -1 without one
	written     int64  // body bytes the handler wrote
	pending     []byte // the body held back, in pendBuf
	hbuf        []byte // the fields as they were at WriteHeader, in hBuf
	// scratch buffers from the server's pool, nil until needed
	pendBuf, hBuf *scratchBuf
	closeAfter    bool
	bodyLeft      bool // part of the request body was left unread
	handlerDone   bool
	hijacked      atomic.Bool
	// taken from the handler's fields by snapshot
	te                        string
	hasType, hasDate, encoded bool
	connection                []string
	err                       error // a failed write: the connection is lost
}

// Header returns the answer's header fields.
func (w *response) Header() http.Header {
	if w.hdr == nil {
		w.hdr = make(http.Header)
		if w.c != nil {
			w.c.out = w.hdr // kept for the connection's next answers
		}
	}
	return w.hdr
}

// WriteHeader decides the status. An informational status (other than
// 101) is sent at once with the fields set so far.
func (w *response) WriteHeader(code int) {
	if w.hijacked.Load() || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		bw := w.c.writer()
		bw.Write(appendFields(nil, w.hdr, nil))
		bw.WriteString("\r\n")
		if err := bw.Flush(); err != nil {
			w.err = err
		}
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.hdr["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			delete(w.hdr, "Content-Length")
		}
	}
	w.snapshot()
}

// Write adds p to the body. The first bytes wait in the connection's
// buffer until the handler returns, flushes or writes more than fits, so
// a small answer gets a Content-Length and goes out in one write.
func (w *response) Write(p []byte) (int, error) {
	if w.hijacked.Load() {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.headSent {
		if len(w.pending)+len(p) <= bufSize/2 {
			if w.pendBuf == nil {
				w.pendBuf = w.c.s.getScratch()
				w.pending = w.pendBuf[:0]
			}
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.sendHead(p)
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// Flush sends the head and what the body has so far.
func (w *response) Flush() {
	w.FlushError()
}

// FlushError is Flush reporting a write error (http.ResponseController).
func (w *response) FlushError() error {
	if w.hijacked.Load() {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(nil)
	}
	if w.err == nil {
		w.err = w.c.writer().Flush()
	}
	return w.err
}

// Hijack hands the connection to the handler (a WebSocket, a stream): its
// buffered reader holds what the client sent after the request.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked.Load() {
		return nil, nil, http.ErrHijacked
	}
	if w.handlerDone {
		return nil, nil, errors.New("http1: Hijack after the handler returned")
	}
	w.c.stopWatch()
	if w.wroteHeader && !w.headSent {
		w.sendHead(nil)
	}
	c := w.c
	bw := c.writer()
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked.Store(true)
	c.state.Store(stateClosed)
	c.s.untrack(c)
	// The connection is the handler's: nothing of it stays reachable from
	// the request (a stream keeps its request for its life).
	var rw *bufio.ReadWriter
	if c.br.Buffered() == 0 && !c.cr.held {
		// Nothing read ahead: the connection's buffers go back to the
		// pools, for the next connections (a reconnection storm would
		// otherwise make two 4 KiB buffers of garbage per connection),
		// and the handler gets small ones of its own; Herald's streams
		// write to the connection itself.
		c.releaseReader()
		c.releaseWriter()
		rw = bufio.NewReadWriter(bufio.NewReaderSize(c.rwc, 16), bufio.NewWriterSize(c.rwc, 16))
	} else {
		rw = bufio.NewReadWriter(c.br, bw)
	}
	w.ctx.c.Store(nil)
	c.br, c.bw, c.tmpl = nil, nil, http.Request{}
	w.releaseScratch()
	w.c = nil // every method checks hijacked before it would use c
	return c.rwc, rw, nil
}

// SetReadDeadline sets the connection's read deadline
// (http.ResponseController), for this request only.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.hijacked.Load() {
		return http.ErrHijacked
	}
	w.c.deadlines = true
	return w.c.rwc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline
// (http.ResponseController), for this request only.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.hijacked.Load() {
		return http.ErrHijacked
	}
	w.c.deadlines = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex is accepted: the body can be read while answering.
func (w *response) EnableFullDuplex() error { return nil }

// finish ends the answer once the handler has returned.
func (w *response) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.body != nil && w.body.remaining.Load() > 0 && (w.closeAfter || !w.body.discard()) {
		w.closeAfter, w.bodyLeft = true, true
	}
	if !w.headSent {
		w.sendHead(nil)
	}
	if w.chunked && w.err == nil {
		w.c.writer().WriteString("0\r\n\r\n")
	}
	if w.req.Method != "HEAD" && w.cl >= 0 && bodyAllowed(w.status) && w.written != w.cl {
		w.closeAfter = true
	}
	if w.err == nil {
		w.err = w.c.writer().Flush()
	}
	w.releaseScratch()
}

// releaseScratch returns the response's scratch buffers to the pool.
func (w *response) releaseScratch() {
	w.pending, w.hbuf = nil, nil
	if w.pendBuf != nil {
		w.c.s.scratch.Put(w.pendBuf)
		w.pendBuf = nil
	}
	if w.hBuf != nil {
		w.c.s.scratch.Put(w.hBuf)
		w.hBuf = nil
	}
}

// snapshot keeps what the answer's head takes from the handler's fields
// when the status is decided, as net/http does: changes to the fields
// after WriteHeader (or the first Write) are not sent. The fields go into
// the connection's head buffer, but for those the framing decides.
func (w *response) snapshot() {
	hd := w.hdr
	w.te = first(hd["Transfer-Encoding"])
	_, w.hasType = hd["Content-Type"]
	_, w.hasDate = hd["Date"]
	w.encoded = first(hd["Content-Encoding"]) != ""
	w.connection = hd["Connection"]
	skip := skipSet{"Content-Length", "Transfer-Encoding", "Connection"}
	if w.status == http.StatusNotModified {
		skip[3] = "Content-Type"
	}
	if w.hBuf == nil {
		w.hBuf = w.c.s.getScratch()
	}
	w.hbuf = appendFields(w.hBuf[:0], hd, &skip)
}

// sendHead writes the status line and the fields into the buffer, then
// the body held back so far. next is the body's first bytes when none were
// held back (for a Content-Type to be sniffed from).
func (w *response) sendHead(next []byte) {
	w.headSent = true
	isHEAD := w.req.Method == "HEAD"
	allowed := bodyAllowed(w.status)
	te := w.te
	if w.handlerDone && te == "" && allowed && w.cl < 0 && (!isHEAD || len(w.pending) > 0) {
		w.cl = int64(len(w.pending))
	}
	handlerClose := len(w.connection) > 0 && hasToken(w.connection[0], "close")
	if handlerClose || w.c.s.closing.Load() {
		w.closeAfter = true
	}
	contentType := ""
	if allowed && !w.hasType && te == "" && !w.encoded {
		sniff := w.pending
		if len(sniff) == 0 {
			sniff = next
		}
		if len(sniff) > 0 {
			contentType = http.DetectContentType(sniff)
		}
	}
	connClose := w.closeAfter && !handlerClose && w.status != http.StatusSwitchingProtocols
	sendCL := false
	switch {
	case isHEAD || !allowed:
		sendCL = allowed && w.cl >= 0
	case w.cl >= 0:
		sendCL = true
	case te == "identity":
		w.closeAfter = true
	default:
		w.chunked = true
	}
	w.writeStatusLine(w.status)
	bw := w.c.writer()
	bw.Write(w.hbuf)
	if !w.hasDate {
		bw.WriteString("Date: ")
		bw.Write(w.c.s.dateValue())
		bw.WriteString("\r\n")
	}
	if sendCL {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.c.num[:0], w.cl, 10))
		bw.WriteString("\r\n")
	}
	if contentType != "" {
		bw.WriteString("Content-Type: ")
		bw.WriteString(contentType)
		bw.WriteString("\r\n")
	}
	if connClose {
		bw.WriteString("Connection: close\r\n")
	} else {
		for _, v := range w.connection {
			bw.WriteString("Connection: ")
			bw.WriteString(cleanValue(v))
			bw.WriteString("\r\n")
		}
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

// writeBody writes p to the connection's buffer, as a chunk when the body
// is chunked; nothing for HEAD.
func (w *response) writeBody(p []byte) {
	if w.err != nil || len(p) == 0 || w.req.Method == "HEAD" {
		return
	}
	bw := w.c.writer()
	if w.chunked {
		bw.Write(strconv.AppendInt(w.c.num[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	if _, err := bw.Write(p); err != nil {
		w.err = err
		return
	}
	if w.chunked {
		bw.WriteString("\r\n")
	}
}

func (w *response) writeStatusLine(code int) {
	bw := w.c.writer()
	bw.WriteString("HTTP/1.1 ")
	num := w.c.num[:0]
	if text := http.StatusText(code); text != "" {
		bw.Write(strconv.AppendInt(num, int64(code), 10))
		bw.WriteByte(' ')
		bw.WriteString(text)
	} else {
		bw.Write(strconv.AppendInt(num, int64(code), 10))
		bw.WriteString(" status code ")
		bw.Write(strconv.AppendInt(num, int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// skipSet names up to four fields writeFields leaves out.
type skipSet [4]string

func (s *skipSet) has(k string) bool {
	return s != nil && (s[0] == k || s[1] == k || s[2] == k || s[3] == k)
}

// AppendFields appends the fields of hd as response head lines, as
// net/http writes them: sorted by name, a value's line breaks turned into
// spaces, a field whose name is not a token dropped.
func AppendFields(b []byte, hd http.Header) []byte {
	return appendFields(b, hd, nil)
}

// appendFields is AppendFields but for the fields in skip.
func appendFields(b []byte, hd http.Header, skip *skipSet) []byte {
	var arr [16]string
	keys := arr[:0]
	for k := range hd {
		if !skip.has(k) && validFieldName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range hd[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, cleanValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// cleanValue turns a field value's line breaks into spaces and trims it.
func cleanValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return trimOWS(v)
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// bodyAllowed reports whether an answer with status may have a body.
func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == 204 || status == 304)
}
