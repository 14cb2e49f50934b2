package server_test

// HTTP streaming subscribers: chunked, multipart/mixed and raw stream.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func TestChunked(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openRaw(t, s, "GET", "/sub/chk", "TE", "chunked")
	if c.Status != http.StatusOK || !strings.EqualFold(c.Header.Get("Transfer-Encoding"), "chunked") || c.Header.Get("Content-Length") != "" {
		t.Fatalf("got %d Transfer-Encoding %q Content-Length %q, want 200 chunked", c.Status, c.Header.Get("Transfer-Encoding"), c.Header.Get("Content-Length"))
	}
	publish(t, s, "chk", "hello")
	c.expect(t, "5\r\nhello\r\n")
	publish(t, s, "chk", "") // skipped: a zero chunk would end the body
	big := strings.Repeat("x", 300)
	publish(t, s, "chk", big)
	c.expect(t, "12c\r\n"+big+"\r\n")
	publish(t, s, "chk", "line1\r\nline2\n")
	c.expect(t, "d\r\nline1\r\nline2\n\r\n")
	deleteChannel(t, s, "chk")
	c.expect(t, "0\r\n\r\n")
	c.expectEOF(t)
}

func TestMultipartMixed(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := openRaw(t, s, "GET", "/sub/mpm", "Accept", "multipart/mixed")
	m := multipartBoundaryRE.FindStringSubmatch(c.Header.Get("Content-Type"))
	if c.Status != http.StatusOK || m == nil {
		t.Fatalf("got %d Content-Type %q, want 200 multipart/mixed with a 32-character boundary", c.Status, c.Header.Get("Content-Type"))
	}
	bnd := m[1]
	c.expect(t, "--"+bnd)
	id, _ := publish(t, s, "mpm", "hello", "Content-Type", "text/plain")
	c.expect(t, multipartPart(bnd, id, "text/plain", "hello"))
	id, _ = publish(t, s, "mpm", "no type")
	c.expect(t, multipartPart(bnd, id, "", "no type"))
	id, _ = publish(t, s, "mpm", "")
	c.expect(t, multipartPart(bnd, id, "", ""))
	id, _ = publish(t, s, "mpm", "{\r\n}", "Content-Type", "application/json")
	c.expect(t, multipartPart(bnd, id, "application/json", "{\r\n}"))
	deleteChannel(t, s, "mpm")
	c.expect(t, "--\r\n")
	c.expectEOF(t)
}

func TestRawStream(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	cases := []struct{ loc, sep string }{{"raw", "\n"}, {"rawsep", "--sep\n"}}
	for _, tc := range cases {
		t.Run(tc.loc, func(t *testing.T) {
			t.Parallel()
			ch := "rs" + tc.loc
			c := openRaw(t, s, "GET", "/"+tc.loc+"/"+ch)
			if c.Status != http.StatusOK || c.Header.Get("Content-Length") != "" || c.Header.Get("Transfer-Encoding") != "" {
				t.Fatalf("got %d %v, want 200 without framing", c.Status, c.Header)
			}
			for _, b := range []string{"first", "", "multi\nline", "last"} {
				publish(t, s, ch, b)
				c.expect(t, b+tc.sep)
			}
			deleteChannel(t, s, ch)
			c.expectEOF(t)
		})
	}
}

// TestStreamContentType: chunked and raw streams carry no Content-Type, as
// Nchan's (whose answers nginx's default_type does not touch); a location
// that sets default_type gives them that one.
func TestStreamContentType(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true"),
		prefixLocation("raw", "subscriber: http-raw-stream"),
		prefixLocation("dt", "subscriber: [chunked, longpoll]", "default_type: application/x-herald"),
		prefixLocation("rawdt", "subscriber: http-raw-stream", "default_type: application/x-herald")))
	tests := []struct {
		name, target string
		headers      []string
		want         string // "": no Content-Type
	}{
		{"chunked", "/sub/sct", []string{"TE", "chunked"}, ""},
		{"raw", "/raw/sct", nil, ""},
		{"chunked with default_type", "/dt/sct", []string{"TE", "chunked"}, "application/x-herald"},
		{"raw with default_type", "/rawdt/sct", nil, "application/x-herald"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openRaw(t, s, "GET", tt.target, tt.headers...)
			if c.Status != http.StatusOK {
				t.Fatalf("status %d", c.Status)
			}
			if ct, ok := c.Header["Content-Type"]; tt.want == "" && ok || c.Header.Get("Content-Type") != tt.want {
				t.Fatalf("Content-Type %q, want %q", ct, tt.want)
			}
		})
	}
	t.Run("ws+meta without a content-type line", func(t *testing.T) {
		c := openWebSocket(t, s, "/sub/sctws", "Sec-WebSocket-Protocol", "ws+meta.nchan")
		waitSubscribers(t, s, "sctws", 1)
		id, _ := publish(t, s, "sctws", "untyped")
		c.expectFrame(t, ws.OpText, "id: "+id.String()+"\n\nuntyped")
	})
}
