package http1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// head is a request head read by parseHead: the request line and the
// header fields, every string a slice of one copy of the bytes read.
type head struct {
	method, target string
	url            url.URL
	header         http.Header
	host           string
	contentLength  int64 // 0 without a Content-Length
	close          bool  // Connection: close
}

// maxContentLength bounds a Content-Length the fast path takes; a larger
// one is left to net/http (which refuses nothing here either, but the
// fast path need not care about overflow).
const maxContentLength = 1 << 40

// parseHead reads a request head: b holds the request line and the header
// fields up to and including the blank line that ends them. It reports
// false for anything but the plain shape the fast path serves, an HTTP/1.1
// request in origin form with at most a Content-Length body; the caller
// then hands the connection to net/http, which answers every other shape
// (and every malformed one) as it always has.
func parseHead(b []byte, f *fieldStore) (head, bool) {
	var h head
	if bytes.IndexByte(b, 0) >= 0 {
		return h, false
	}
	s := string(b) // one copy; every field below is a slice of it
	line, rest, ok := cutLine(s)
	if !ok {
		return h, false
	}
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return h, false
	}
	h.method = line[:sp1]
	for i := 0; i < len(h.method); i++ {
		if !isTokenByte(h.method[i]) {
			return h, false
		}
	}
	line = line[sp1+1:]
	sp2 := strings.IndexByte(line, ' ')
	if sp2 <= 0 || line[sp2+1:] != "HTTP/1.1" {
		return h, false
	}
	h.target = line[:sp2]
	if h.target[0] != '/' {
		return h, false
	}
	for i := 0; i < len(h.target); i++ {
		if c := h.target[i]; c <= ' ' || c == 0x7f {
			return h, false
		}
	}
	n := 0
	for i := 0; i+1 < len(rest); i++ {
		if rest[i] == '\n' {
			n++
		}
	}
	var vals []string
	h.header, vals = f.take(n)
	hosts, lengths := 0, 0
	for i := 0; ; i++ {
		line, rest, ok = cutLine(rest)
		if !ok {
			return h, false
		}
		if line == "" {
			if rest != "" {
				return h, false
			}
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || i >= n {
			return h, false
		}
		key := line[:colon]
		for j := 0; j < len(key); j++ {
			if !isTokenByte(key[j]) {
				return h, false
			}
		}
		v := trimOWS(line[colon+1:])
		for j := 0; j < len(v); j++ {
			if c := v[j]; (c < ' ' && c != '\t') || c == 0x7f {
				return h, false
			}
		}
		key = textproto.CanonicalMIMEHeaderKey(key)
		switch key {
		case "Host":
			hosts++
			if !validHost(v) {
				return h, false
			}
			h.host = v
			continue // net/http keeps Host out of Header too
		case "Content-Length":
			lengths++
			cl, ok := parseLength(v)
			if !ok {
				return h, false
			}
			h.contentLength = cl
		case "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Te", "Trailer":
			// Bodies other than Content-Length, 100-continue and
			// protocol upgrades (but a WebSocket one) are net/http's.
			if key != "Upgrade" || !equalFoldASCII(v, "websocket") {
				return h, false
			}
		case "Connection":
			if hasToken(v, "close") {
				h.close = true
			}
		}
		vals[i] = v
		if old, ok := h.header[key]; ok {
			h.header[key] = append(old, v)
		} else {
			h.header[key] = vals[i : i+1 : i+1]
		}
	}
	if hosts != 1 || lengths > 1 {
		return h, false
	}
	if !parseTarget(h.target, &h.url) {
		return h, false
	}
	// As net/http: Pragma: no-cache stands for Cache-Control: no-cache
	// when that is missing (RFC 7234 section 5.4).
	if p, ok := h.header["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h.header["Cache-Control"]; !ok {
			h.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	return h, true
}

// parseTarget reads a request target in origin form into u as
// url.ParseRequestURI does. A target whose path needs no unescaping, and
// is its own escaped form, is read without it (and without its
// allocation): its path is itself and its query what follows the first
// '?'.
func parseTarget(target string, u *url.URL) bool {
	path, query, _ := strings.Cut(target, "?")
	if plainPath(path) && !strings.HasSuffix(target, "?") {
		*u = url.URL{Path: path, RawQuery: query}
		return true
	}
	p, err := url.ParseRequestURI(target)
	if err != nil {
		return false
	}
	*u = *p
	return true
}

// plainPath reports whether every byte of path is one net/url leaves as
// it is in a path, both reading and escaping it: letters, digits and
// -._~$&+,/:;=@.
func plainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~$&+,/:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// fieldStore keeps the header fields of a connection's requests: one map
// and one array of values, reused from request to request, since nothing
// holds a request's fields once its handler has returned (a handler that
// hijacks the connection ends its requests).
type fieldStore struct {
	hd   http.Header
	vals []string
}

// take returns the map, emptied, and room for n values (holding the last
// request's until overwritten: only the map says which are fields).
func (f *fieldStore) take(n int) (http.Header, []string) {
	if f.hd == nil {
		f.hd = make(http.Header, n)
	} else {
		clear(f.hd)
	}
	if cap(f.vals) < n {
		f.vals = make([]string, n)
	}
	return f.hd, f.vals[:n]
}

// cutLine splits s at its first CRLF; a bare LF makes it fail.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, s[i+1:], true
}

// trimOWS strips the optional white space around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseLength reads a Content-Length: digits only.
func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 13 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= maxContentLength
}

// validHost accepts what a Host field carries in practice: a name, an
// IPv4 address or a bracketed IPv6 one, and a port. Anything else (and an
// empty Host) goes to net/http, which answers 400 where it should.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may appear in an RFC 9110 token.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// hasToken reports whether the comma-separated list v names token
// (case-insensitively).
func hasToken(v, token string) bool {
	for v != "" {
		var el string
		if i := strings.IndexByte(v, ','); i >= 0 {
			el, v = v[:i], v[i+1:]
		} else {
			el, v = v, ""
		}
		if equalFoldASCII(trimOWS(el), token) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
