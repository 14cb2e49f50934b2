package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTP1Engines runs a keep-alive connection through publishes and
// long-polls of every request shape, with fast_http1 on (Herald's reader
// for the plain shapes, a handoff to net/http for the rest, on the same
// connection) and off (net/http throughout): each answer is the same.
func TestHTTP1Engines(t *testing.T) {
	for _, mode := range []string{"on", "off"} {
		t.Run("fast_http1 "+mode, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, defaultConfig("fast_http1: "+mode))
			c, err := net.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			steps := []struct {
				raw    string
				status int
				body   string // a substring of the answer
			}{
				{"POST /pub/e HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\none", 202, "queued messages: 1"},
				{"GET /sub/e HTTP/1.1\r\nHost: h\r\n\r\n", 200, "one"},
				// Pipelined: a publish and the long-poll after it.
				{"POST /pub/e HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntwo" +
					"GET /sub/e HTTP/1.1\r\nHost: h\r\nIf-None-Match: 1\r\n\r\n", 202, "queued messages: 2"},
				{"", 200, "one"},
				// Chunked: handed to net/http, which keeps the connection.
				{"POST /pub/e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n", 202, "queued messages: 3"},
				{"GET /sub/e?id=x HTTP/1.1\r\nHost: h\r\n\r\n", 200, "one"},
				{"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n", 404, ""},
				{"DELETE /pub/e HTTP/1.1\r\nHost: h\r\n\r\n", 200, ""},
			}
			for i, st := range steps {
				if st.raw != "" {
					if _, err := io.WriteString(c, st.raw); err != nil {
						t.Fatalf("step %d: %v", i+1, err)
					}
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				b, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatalf("step %d body: %v", i+1, err)
				}
				if res.StatusCode != st.status || !strings.Contains(string(b), st.body) {
					t.Fatalf("step %d: %d %q, want %d with %q", i+1, res.StatusCode, b, st.status, st.body)
				}
				if res.Close {
					t.Fatalf("step %d: connection closed", i+1)
				}
			}
			// A long-poll that waits is cancelled when its client leaves:
			// the channel has no subscriber left.
			w, err := net.Dial("tcp", s.addr())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(w, "GET /sub/waiting HTTP/1.1\r\nHost: h\r\n\r\n")
			waitSubscribers(t, s, "waiting", 1)
			w.Close()
			waitSubscribers(t, s, "waiting", 0)
		})
	}
}
