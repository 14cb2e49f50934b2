package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// errNotEventStream is a 200 answer to an EventSource request that is not
// a text/event-stream: a location without EventSource.
var errNotEventStream = errors.New("the answer is not an EventSource stream")

// errStreamEnded is a stream the server ended without saying why.
var errStreamEnded = errors.New("stream ended")

// errIdle is a stream on which nothing arrived for IdleTimeout.
var errIdle = errors.New("nothing received for the idle timeout")

// idleTimer calls cancel when it is not reset for d; d <= 0 never fires.
type idleTimer struct {
	d    time.Duration
	t    *time.Timer
	done atomic.Bool
}

func newIdleTimer(d time.Duration, cancel func()) *idleTimer {
	it := &idleTimer{d: d}
	if d > 0 {
		it.t = time.AfterFunc(d, func() {
			it.done.Store(true)
			cancel()
		})
	}
	return it
}

func (it *idleTimer) reset() {
	if it.t != nil {
		it.t.Reset(it.d)
	}
}

func (it *idleTimer) stop() {
	if it.t != nil {
		it.t.Stop()
	}
}

func (it *idleTimer) fired() bool { return it.done.Load() }

// readBuf is the size of a subscription's read buffer.
const readBuf = 32 << 10

// request makes a subscriber request with the client's headers.
func (s *Subscription) request(ctx context.Context, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, protocolError{fmt.Errorf("subscribe %s: %w", u, err)}
	}
	for k, v := range s.c.header {
		req.Header[k] = v
	}
	return req, nil
}

// eventSource reads one EventSource stream.
func (s *Subscription) eventSource(a *attempt) (bool, error) {
	u := channelURL(s.c.subURL, a.channels)
	// idle ends the request when nothing arrived for IdleTimeout.
	rctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	idle := newIdleTimer(s.opts.IdleTimeout, cancel)
	defer idle.stop()
	req, err := s.request(rctx, u)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if a.resume {
		req.Header.Set("Last-Event-ID", a.from.String())
	}
	resp, err := s.c.hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("eventsource %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, statusError(http.MethodGet, u, resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, fmt.Errorf("eventsource %s: %w (Content-Type %q)", u, errNotEventStream, resp.Header.Get("Content-Type"))
	}
	s.setUsing(EventSource)
	dec := protocol.EventSourceDecoder{MaxData: s.opts.MaxMessage}
	buf := make([]byte, readBuf)
	for {
		n, rerr := resp.Body.Read(buf)
		idle.reset()
		if n > 0 {
			dec.Feed(buf[:n])
			for {
				ev, err := dec.Next()
				if err != nil {
					return true, protocolError{fmt.Errorf("eventsource %s: %w", u, err)}
				}
				if ev == nil {
					break
				}
				switch ev.Kind {
				case protocol.KindEvent:
					r := &Received{Event: string(ev.Type), Body: append([]byte{}, ev.Data...), Transport: EventSource}
					if ok, err := s.deliver(a, string(ev.ID), r); !ok {
						return true, err
					}
				case protocol.KindComment:
					if code, text, ok := ev.Status(); ok {
						return true, endStatus(u, code, string(text))
					}
				}
			}
		}
		if idle.fired() {
			return true, fmt.Errorf("eventsource %s: %w", u, errIdle)
		}
		if rerr == io.EOF {
			return true, fmt.Errorf("eventsource %s: %w", u, errStreamEnded)
		}
		if rerr != nil {
			return true, fmt.Errorf("eventsource %s: %w", u, rerr)
		}
	}
}

// endStatus is the error of a stream the server ended with a status: a
// subscriber timeout reconnects at once, the rest as retryable says.
func endStatus(u string, code int, text string) error {
	if text == "" {
		text = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	err := &StatusError{Method: http.MethodGet, URL: u, Code: code, Status: text}
	if code == http.StatusRequestTimeout {
		return errRetryNow{err}
	}
	return err
}

// longPoll polls until an answer ends the attempt.
func (s *Subscription) longPoll(a *attempt) (bool, error) {
	u := channelURL(s.c.subURL, a.channels)
	from, resume := a.from, a.resume
	connected := false
	for {
		req, err := s.request(a.ctx, u)
		if err != nil {
			return connected, err
		}
		if resume {
			req.Header.Set("If-Modified-Since", protocol.HTTPDate(from.Time))
			req.Header.Set("If-None-Match", from.TagString())
		}
		resp, err := s.c.hc.Do(req)
		if err != nil {
			return connected, fmt.Errorf("long-poll %s: %w", u, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			connected = true
			s.setUsing(LongPoll)
			body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.opts.MaxMessage)+1))
			resp.Body.Close()
			if err != nil {
				return connected, fmt.Errorf("long-poll %s: %w", u, err)
			}
			if len(body) > s.opts.MaxMessage {
				return connected, protocolError{fmt.Errorf("long-poll %s: a message over %d bytes", u, s.opts.MaxMessage)}
			}
			id, err := PollID(resp.Header, len(a.channels))
			if err != nil {
				return connected, protocolError{fmt.Errorf("long-poll %s: %w", u, err)}
			}
			r := &Received{ContentType: resp.Header.Get("Content-Type"), Body: body, Transport: LongPoll}
			if ok, err := s.deliver(a, id.String(), r); !ok {
				return connected, err
			}
			from, resume = id, true
		case http.StatusNotModified:
			resp.Body.Close()
			connected = true
			t := time.NewTimer(s.opts.PollInterval)
			select {
			case <-a.ctx.Done():
				t.Stop()
				return connected, a.ctx.Err()
			case <-t.C:
			}
		case http.StatusRequestTimeout:
			resp.Body.Close()
			connected = true
		default:
			err := statusError(http.MethodGet, u, resp)
			resp.Body.Close()
			return connected, err
		}
	}
}

// PollID reads the message id of a long-poll answer for a subscription on
// n channels: the whole id in the Etag (compound ids), or the second in
// Last-Modified and the tags in the Etag.
func PollID(h http.Header, n int) (msgid.Multi, error) {
	etag := strings.TrimSpace(h.Get("Etag"))
	etag = strings.TrimPrefix(etag, "W/")
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		etag = etag[1 : len(etag)-1]
	}
	if etag == "" {
		return msgid.Multi{}, errors.New("answer without a message id (no Etag)")
	}
	if strings.Contains(etag, ":") {
		return msgid.Parse(etag, n)
	}
	lm := h.Get("Last-Modified")
	t, err := http.ParseTime(lm)
	if err != nil || t.Unix() <= 0 {
		return msgid.Multi{}, fmt.Errorf("answer without a message time (Last-Modified %q)", lm)
	}
	m, err := msgid.ParseTags(etag, n)
	if err != nil {
		return msgid.Multi{}, err
	}
	m.Time = t.Unix()
	return m, nil
}

// wsURL turns a subscriber URL into its WebSocket URL, resuming after from.
func wsURL(u string, from string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	switch p.Scheme {
	case "http":
		p.Scheme = "ws"
	case "https":
		p.Scheme = "wss"
	}
	if from != "" {
		q := p.Query()
		q.Set("last_event_id", from)
		p.RawQuery = q.Encode()
	}
	return p.String(), nil
}

// webSocket reads one WebSocket connection, with the ws+meta.nchan
// subprotocol so each message carries its id and content type.
func (s *Subscription) webSocket(a *attempt) (bool, error) {
	u := channelURL(s.c.subURL, a.channels)
	from := ""
	if a.resume {
		from = a.from.String()
	}
	wu, err := wsURL(u, from)
	if err != nil {
		return false, protocolError{fmt.Errorf("websocket %s: %w", u, err)}
	}
	d := ws.Dialer{Protocols: []string{protocol.WSMetaProtocol}, Timeout: s.c.timeout}
	if len(s.c.header) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(s.c.header)
	}
	conn, br, hs, err := d.Dial(a.ctx, wu)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return false, &StatusError{Method: http.MethodGet, URL: wu, Code: int(se), Status: fmt.Sprintf("%d %s", int(se), http.StatusText(int(se)))}
		}
		return false, fmt.Errorf("websocket %s: %w", wu, err)
	}
	defer conn.Close()
	// A change of the channel set or Close ends a blocked read.
	stop := context.AfterFunc(a.ctx, func() { conn.Close() })
	defer stop()
	meta := hs.Protocol == protocol.WSMetaProtocol
	s.setUsing(WebSocket)
	w := wsReader{s: s, a: a, conn: conn, u: wu, meta: meta}
	w.dec.MaxMessage = s.opts.MaxMessage
	return true, s.readWS(a, conn, br, "websocket "+wu, w.feed)
}

// readWS reads a WebSocket connection (what the handshake's reader br
// already holds first) into feed until feed says it is over, the
// attempt ends, nothing arrives for IdleTimeout, or the connection fails;
// it returns why. what names the connection in errors.
func (s *Subscription) readWS(a *attempt, conn net.Conn, br *bufio.Reader, what string, feed func([]byte) (bool, error)) error {
	if br != nil {
		n := br.Buffered()
		var b []byte
		if n > 0 {
			p, _ := br.Peek(n)
			b = append([]byte{}, p...)
		}
		ws.PutReader(br)
		if len(b) > 0 {
			if done, err := feed(b); done {
				return err
			}
		}
	}
	buf := make([]byte, readBuf)
	for {
		if s.opts.IdleTimeout > 0 {
			conn.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		}
		n, rerr := conn.Read(buf)
		if n > 0 {
			if done, err := feed(buf[:n]); done {
				return err
			}
		}
		if rerr != nil {
			if a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%s: %w", what, errIdle)
			}
			return fmt.Errorf("%s: %w", what, rerr)
		}
	}
}

// wsReader reads a WebSocket subscriber's frames.
type wsReader struct {
	s    *Subscription
	a    *attempt
	conn net.Conn
	u    string
	meta bool
	dec  protocol.WSDecoder
	out  []byte
}

// feed reads b; done reports that the connection is over, with why.
func (w *wsReader) feed(b []byte) (done bool, err error) {
	w.dec.Feed(b)
	for {
		m, err := w.dec.Next()
		if err != nil {
			return true, protocolError{fmt.Errorf("websocket %s: %w", w.u, err)}
		}
		if m == nil {
			return false, nil
		}
		switch m.Op {
		case protocol.OpText, protocol.OpBinary:
			r := &Received{Transport: WebSocket}
			id := ""
			if w.meta {
				mid, ct, body, err := protocol.ParseWSMeta(m.Data)
				if err != nil {
					return true, protocolError{fmt.Errorf("websocket %s: %w", w.u, err)}
				}
				id, r.ContentType, r.Body = string(mid), string(ct), bytes.Clone(body)
			} else {
				r.Body = bytes.Clone(m.Data)
				if m.Op == protocol.OpBinary {
					r.ContentType = "application/octet-stream"
				}
			}
			if r.Body == nil {
				r.Body = []byte{}
			}
			if ok, err := w.s.deliver(w.a, id, r); !ok {
				return true, err
			}
		case protocol.OpPing:
			if err := w.write(protocol.OpPong, m.Data); err != nil {
				return true, fmt.Errorf("websocket %s: pong: %w", w.u, err)
			}
		case protocol.OpClose:
			code, reason := protocol.ParseClosePayload(m.Data)
			w.write(protocol.OpClose, protocol.AppendClosePayload(nil, code, ""))
			return true, closeError(w.u, code, string(reason))
		}
	}
}

// write sends one masked frame.
func (w *wsReader) write(op protocol.OpCode, payload []byte) error {
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	w.out = protocol.AppendMaskedFrame(w.out[:0], op, protocol.Fin, key, payload)
	w.conn.SetWriteDeadline(time.Now().Add(w.s.c.timeout))
	_, err := w.conn.Write(w.out)
	return err
}

// closeError is the error of a close frame: its reason's status when it
// starts with one ("410 Gone", "408 408 Request Timeout"), else by code.
func closeError(u string, code protocol.CloseCode, reason string) error {
	if len(reason) >= 3 {
		if st, err := strconv.Atoi(reason[:3]); err == nil && st >= 100 && st <= 599 && (len(reason) == 3 || reason[3] == ' ') {
			if code == protocol.CloseTryAgainLater && st < 500 {
				st = http.StatusServiceUnavailable
			}
			return endStatus(u, st, reason)
		}
	}
	switch code {
	case protocol.ClosePolicyViolation:
		return &StatusError{Method: http.MethodGet, URL: u, Code: http.StatusForbidden, Status: fmt.Sprintf("closed %d %s", code, reason)}
	case protocol.CloseProtocolError, protocol.CloseUnsupportedData, protocol.CloseInvalidPayload, protocol.CloseMessageTooBig, protocol.CloseMandatoryExtension:
		return protocolError{fmt.Errorf("websocket %s: closed by the server: %d %s", u, code, reason)}
	}
	return fmt.Errorf("websocket %s: closed by the server: %d %s: %w", u, code, reason, errStreamEnded)
}
