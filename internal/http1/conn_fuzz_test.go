package http1

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzConn sends arbitrary bytes on a loopback connection to a Server
// (with net/http taking what it hands off), then ends its side, and
// checks that the server answers what it can and closes: no panic, no
// hang, whatever the client sends.
func FuzzConn(f *testing.F) {
	for _, s := range []string{
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab",
		"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /a HTTP/1.0\r\n\r\n",
		"HEAD /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /hijack HTTP/1.1\r\nHost: h\r\n\r\nafter",
	} {
		f.Add([]byte(s))
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
				brw.Reader.Peek(brw.Reader.Buffered())
				c.Close()
			}
			return
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		w.Write(b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	fb := NewListener(ln.Addr())
	hs := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	s := &Server{Handler: h, Handoff: fb.Handoff, ReadHeaderTimeout: time.Second, IdleTimeout: 5 * time.Second}
	go hs.Serve(fb)
	go s.Serve(ln)
	f.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		// The whole input, then the end of it: the server answers what it
		// can and closes.
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection not closed by the server within 3 s of %q: %v", in, err)
		}
	})
}
