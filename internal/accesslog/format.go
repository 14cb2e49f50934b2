// Package accesslog writes Herald's access log: one line per request, in
// nginx's log_format language (nginx's "combined" format by default), and
// one more when a stream (EventSource, WebSocket, chunked, multipart, raw)
// ends, with its duration and the messages it was sent.
//
// Lines are formatted by the request's goroutine and written by one writer
// goroutine through a buffered writer, so a slow disk never blocks a
// request: when the writer falls behind and its queue is full, a line is
// dropped and counted (Logger.Dropped).
package accesslog

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Combined is nginx's predefined "combined" format, the default.
const Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// CombinedStream is the default format of the line written when a stream
// ends: Combined followed by the stream's duration in seconds and the
// number of messages it was sent.
const CombinedStream = "combined $request_time $messages_sent"

// Entry is what one line reports.
type Entry struct {
	// Request is the request the line is about.
	Request *http.Request
	// Time is when the line is written: the answer, or the stream's end.
	Time time.Time
	// Status is the HTTP status answered (101 for a WebSocket).
	Status int
	// BodyBytes is the size of the body sent; for a stream's end, the
	// bytes of the messages it was sent.
	BodyBytes int64
	// Duration is the time since the request arrived; for a stream's
	// end, how long it lasted.
	Duration time.Duration
	// Messages is the number of messages sent (to a subscriber).
	Messages int64
	// Transport is the subscriber's transport, "" for other requests.
	Transport string
}

type varKind uint8

const (
	literal varKind = iota
	remoteAddr
	remotePort
	remoteUser
	timeLocal
	timeISO8601
	msec
	request
	requestMethod
	requestURI
	uri
	args
	serverProtocol
	status
	bodyBytesSent
	requestTime
	host
	httpHeader
	messagesSent
	transport
)

var vars = map[string]varKind{
	"remote_addr":     remoteAddr,
	"remote_port":     remotePort,
	"remote_user":     remoteUser,
	"time_local":      timeLocal,
	"time_iso8601":    timeISO8601,
	"msec":            msec,
	"request":         request,
	"request_method":  requestMethod,
	"request_uri":     requestURI,
	"uri":             uri,
	"args":            args,
	"query_string":    args,
	"server_protocol": serverProtocol,
	"status":          status,
	"body_bytes_sent": bodyBytesSent,
	"bytes_sent":      bodyBytesSent,
	"request_time":    requestTime,
	"host":            host,
	"messages_sent":   messagesSent,
	"transport":       transport,
}

// Variables lists the variables a format may use, for documentation.
func Variables() []string {
	return []string{"$remote_addr", "$remote_port", "$remote_user", "$time_local", "$time_iso8601", "$msec",
		"$request", "$request_method", "$request_uri", "$uri", "$args", "$query_string", "$server_protocol",
		"$status", "$body_bytes_sent", "$bytes_sent", "$request_time", "$host", "$http_NAME",
		"$messages_sent", "$transport"}
}

type part struct {
	kind varKind
	text string // literal text, or the canonical header name
}

// Format is a compiled log format.
type Format struct {
	src   string
	parts []part
}

// String returns the format as written.
func (f *Format) String() string { return f.src }

// Compile parses a format: text with nginx variables ($name or ${name}).
// A format that starts with the word "combined" starts with nginx's
// combined format. An unknown variable is an error.
func Compile(s string) (*Format, error) {
	f := &Format{src: s}
	if rest, ok := strings.CutPrefix(s, "combined"); ok && (rest == "" || rest[0] == ' ') {
		s = Combined + rest
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.parts = append(f.parts, part{kind: literal, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		var name string
		if i < len(s) && s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("log format %q: unterminated ${", s)
			}
			name = s[i+1 : i+end]
			i += end + 1
		} else {
			j := i
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name = s[i:j]
			i = j
		}
		if name == "" {
			return nil, fmt.Errorf("log format %q: a $ without a variable name (write ${name})", s)
		}
		flush()
		name = strings.ToLower(name)
		if h, ok := strings.CutPrefix(name, "http_"); ok && h != "" {
			f.parts = append(f.parts, part{kind: httpHeader, text: http.CanonicalHeaderKey(strings.ReplaceAll(h, "_", "-"))})
			continue
		}
		k, ok := vars[name]
		if !ok {
			return nil, fmt.Errorf("log format %q: unknown variable $%s", s, name)
		}
		f.parts = append(f.parts, part{kind: k})
	}
	flush()
	return f, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Append appends e's line, without the newline, to b.
func (f *Format) Append(b []byte, e *Entry) []byte {
	r := e.Request
	for _, p := range f.parts {
		switch p.kind {
		case literal:
			b = append(b, p.text...)
		case remoteAddr:
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			b = appendValue(b, host)
		case remotePort:
			_, port, _ := net.SplitHostPort(r.RemoteAddr)
			b = appendValue(b, port)
		case remoteUser:
			user, _, _ := r.BasicAuth()
			b = appendValue(b, user)
		case timeLocal:
			b = e.Time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		case timeISO8601:
			b = e.Time.AppendFormat(b, "2006-01-02T15:04:05-07:00")
		case msec:
			ms := e.Time.UnixMilli()
			b = strconv.AppendInt(b, ms/1000, 10)
			b = append(b, '.')
			b = appendPadded(b, ms%1000)
		case request:
			b = appendValue(b, r.Method+" "+r.RequestURI+" "+r.Proto)
		case requestMethod:
			b = appendValue(b, r.Method)
		case requestURI:
			b = appendValue(b, r.RequestURI)
		case uri:
			b = appendValue(b, r.URL.Path)
		case args:
			b = appendValue(b, r.URL.RawQuery)
		case serverProtocol:
			b = appendValue(b, r.Proto)
		case status:
			b = strconv.AppendInt(b, int64(e.Status), 10)
		case bodyBytesSent:
			b = strconv.AppendInt(b, e.BodyBytes, 10)
		case requestTime:
			ms := e.Duration.Milliseconds()
			b = strconv.AppendInt(b, ms/1000, 10)
			b = append(b, '.')
			b = appendPadded(b, ms%1000)
		case host:
			b = appendValue(b, r.Host)
		case httpHeader:
			b = appendValue(b, strings.Join(r.Header[p.text], ", "))
		case messagesSent:
			b = strconv.AppendInt(b, e.Messages, 10)
		case transport:
			b = appendValue(b, e.Transport)
		}
	}
	return b
}

// appendPadded appends n (0..999) in three digits.
func appendPadded(b []byte, n int64) []byte {
	return append(b, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
}

// appendValue appends a variable's value as nginx logs it: "-" when it is
// empty, and '"', '\\' and bytes outside printable ASCII as \xHH.
func appendValue(b []byte, v string) []byte {
	if v == "" {
		return append(b, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}
