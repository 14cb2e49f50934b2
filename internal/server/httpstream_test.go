package server_test

// HTTP streaming subscribers: chunked, multipart/mixed and raw stream.

import (
	"net/http"
	"strings"
	"testing"
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
