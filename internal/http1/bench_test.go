package http1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkKeepAliveRequest measures one request and its answer on a
// kept-alive loopback connection, Server against net/http, client cost
// included (the same for both): a long-poll's re-poll or a publish.
func BenchmarkKeepAliveRequest(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Type", "text/plain")
		hd.Set("Etag", "0")
		hd.Set("Last-Modified", "Thu, 03 Dec 2026 14:03:17 GMT")
		hd.Set("Content-Length", "5")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "hello")
	})
	for _, engine := range []string{"http1", "net/http"} {
		b.Run(engine, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if engine == "http1" {
				s := &Server{Handler: h}
				go s.Serve(ln)
				defer s.Close()
			} else {
				s := &http.Server{Handler: h}
				go s.Serve(ln)
				defer s.Close()
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /sub/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nIf-None-Match: 0\r\nIf-Modified-Since: Thu, 03 Dec 2026 14:03:17 GMT\r\n\r\n")
			br := bufio.NewReader(c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}

// BenchmarkParseHead measures reading a typical request head.
func BenchmarkParseHead(b *testing.B) {
	head := []byte("GET /sub/bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nIf-None-Match: 0\r\nIf-Modified-Since: Thu, 03 Dec 2026 14:03:17 GMT\r\nConnection: keep-alive\r\n\r\n")
	var f fieldStore
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseHead(head, &f); !ok {
			b.Fatal("refused")
		}
	}
}
