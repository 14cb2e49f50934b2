package http1

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		host string
		cl   int64
	}{
		{"plain GET", "GET /sub/a?x=1 HTTP/1.1\r\nHost: h:1\r\nAccept: */*\r\n\r\n", true, "h:1", 0},
		{"POST with a length", "POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", true, "h", 5},
		{"WebSocket upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true, "h", 0},
		{"escaped path", "GET /sub/a%20b%2Fc?x=%41 HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"an empty query", "GET /sub/a? HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"two question marks", "GET /sub/a??b HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"a fragment", "GET /sub/a#f?x HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"characters escaped when written", "GET /sub/(a)!*' HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"plain characters", "GET //h/a;b=c@d:e$f&g+h,i~j HTTP/1.1\r\nHost: h\r\n\r\n", true, "h", 0},
		{"a bad escape", "GET /sub/a%zz HTTP/1.1\r\nHost: h\r\n\r\n", false, "", 0},
		{"lower-case names", "GET / HTTP/1.1\r\nhost: h\r\nx-a: 1\r\n\r\n", true, "h", 0},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", false, "", 0},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", false, "", 0},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, "", 0},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", 0},
		{"100-continue", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", false, "", 0},
		{"h2c upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n", false, "", 0},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\n", false, "", 0},
		{"absolute form", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", false, "", 0},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\n", false, "", 0},
		{"folded field", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", false, "", 0},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false, "", 0},
		{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", false, "", 0},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", false, "", 0},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", false, "", 0},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, "", 0},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ok := parseHead([]byte(tt.in), new(fieldStore))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if h.host != tt.host || h.contentLength != tt.cl {
				t.Errorf("host %q length %d, want %q %d", h.host, h.contentLength, tt.host, tt.cl)
			}
			checkAgainstNetHTTP(t, []byte(tt.in), h)
		})
	}
}

// checkAgainstNetHTTP asserts that net/http reads the head b as parseHead
// read it into h.
func checkAgainstNetHTTP(t *testing.T, b []byte, h head) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("parseHead took %q, net/http refuses it: %v", b, err)
	}
	if r.Method != h.method || r.RequestURI != h.target || r.Host != h.host || r.ContentLength != h.contentLength || r.Close != h.close {
		t.Fatalf("%q: net/http reads %s %s host %q length %d close %v; parseHead %s %s host %q length %d close %v",
			b, r.Method, r.RequestURI, r.Host, r.ContentLength, r.Close, h.method, h.target, h.host, h.contentLength, h.close)
	}
	if *r.URL != h.url {
		t.Fatalf("%q: net/http reads the URL %#v, parseHead %#v", b, *r.URL, h.url)
	}
	if !maps.EqualFunc(r.Header, h.header, func(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }) {
		t.Fatalf("%q: net/http reads fields %q, parseHead %q", b, r.Header, h.header)
	}
}

// TestParseHeadReusesFields reads heads in turn into one connection's
// field store: each holds its own fields and none of the one before.
func TestParseHeadReusesFields(t *testing.T) {
	heads := []string{
		"GET /a HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nX-Two: 2\r\nPragma: no-cache\r\nX-Many: a\r\nX-Many: b\r\n\r\n",
		"GET /b HTTP/1.1\r\nHost: h\r\nX-Two: 3\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nX-Three: 1\r\nX-Four: 2\r\nX-Five: 3\r\nX-Six: 4\r\nX-Seven: 5\r\nX-Eight: 6\r\nX-Nine: 7\r\nX-Ten: 8\r\n\r\n",
		"GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
	}
	var f fieldStore
	for _, in := range heads {
		h, ok := parseHead([]byte(in), &f)
		if !ok {
			t.Fatalf("refused %q", in)
		}
		checkAgainstNetHTTP(t, []byte(in), h)
	}
}

// FuzzParseHead checks that parseHead never takes a head net/http refuses
// and reads every head it takes as net/http does, into a field store that
// held another request's fields before.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /sub/a HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /pub/a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\nPragma: no-cache\r\nX: a\r\nx: b\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: [::1]:8080\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"1:2\"\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n",
		"GET /a%2f(b)?c=d#e HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := bytes.Index(b, crlfcrlf)
		if i < 0 {
			return
		}
		b = b[:i+4]
		var fs fieldStore
		if _, ok := parseHead([]byte("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\nAccept: */*\r\nCache-Control: max-age=0\r\n\r\n"), &fs); !ok {
			t.Fatal("the first head was refused")
		}
		h, ok := parseHead(b, &fs)
		if !ok {
			return
		}
		checkAgainstNetHTTP(t, b, h)
	})
}
