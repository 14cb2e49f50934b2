// The reactor is Linux's; elsewhere, or built with the tag
// herald_noreactor, the same tests check the fallback.

package bench

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// reactorPair returns a loopback connection's two ends: the client end for
// the reactor, the server end for the test.
func reactorPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	server.SetDeadline(time.Now().Add(10 * time.Second))
	return client, server
}

func TestReactor(t *testing.T) {
	r, err := newReactor(2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	errEOF := errors.New("eof seen")

	t.Run("reads until the server closes", func(t *testing.T) {
		client, server := reactorPair(t)
		s := &subscriber{}
		s.conn = client
		var mu sync.Mutex
		var got bytes.Buffer
		feed := func(b []byte) error {
			mu.Lock()
			got.Write(b)
			mu.Unlock()
			if bytes.Contains(b, []byte("ping")) {
				if fd := s.rawFD.Load(); fd > 0 {
					// The reactor owns the descriptor now: answer through it.
					return writeRaw(int(fd), []byte("pong"))
				}
				_, err := client.Write([]byte("pong"))
				return err
			}
			return nil
		}
		done := make(chan error, 1)
		go func() { done <- r.serve(s, client, feed, func() error { return errEOF }) }()
		for _, part := range []string{"one ", "two ", "ping"} {
			if _, err := io.WriteString(server, part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		reply := make([]byte, 4)
		if _, err := io.ReadFull(server, reply); err != nil || string(reply) != "pong" {
			t.Fatalf("reply %q, %v", reply, err)
		}
		server.Close()
		select {
		case err := <-done:
			if err != errEOF {
				t.Fatalf("serve = %v, want the eof result", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not end when the server closed")
		}
		if got.String() != "one two ping" {
			t.Fatalf("fed %q", got.String())
		}
	})

	t.Run("stop ends it and resets the connection", func(t *testing.T) {
		client, server := reactorPair(t)
		s := &subscriber{}
		s.conn = client
		fed := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- r.serve(s, client, func([]byte) error {
				select {
				case fed <- struct{}{}:
				default:
				}
				return nil
			}, func() error { return errEOF })
		}()
		io.WriteString(server, "x")
		<-fed
		s.stop(true)
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("serve = %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not end on stop")
		}
		if _, err := server.Read(make([]byte, 1)); err == nil || err == io.EOF {
			t.Fatalf("server read %v, want a reset", err)
		}
	})

	t.Run("a stopped subscriber is not taken", func(t *testing.T) {
		client, _ := reactorPair(t)
		s := &subscriber{}
		s.stop(false)
		if err := r.serve(s, client, func([]byte) error { return nil }, func() error { return nil }); err != errStopped {
			t.Fatalf("serve = %v, want errStopped", err)
		}
	})
}
