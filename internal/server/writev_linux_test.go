//go:build linux

package server

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestWritev(t *testing.T) {
	tests := []struct {
		name string
		bufs []string
	}{
		{"one", []string{"hello"}},
		{"several", []string{"id: 1:0\n", "data: x\n\n", "id: 1:1\n", "data: y\n\n"}},
		{"empty buffers skipped", []string{"", "a", "", "b", ""}},
		{"nothing", []string{"", ""}},
		{"a full batch", strings.Split(strings.Repeat("m,", maxIovecs-1), ",")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := tcpPair(t)
			rc := rawConnOf(srv)
			if rc == nil {
				t.Fatal("no raw connection for a TCP socket")
			}
			var sc writeScratch
			sc.init()
			bufs := make([][]byte, len(tt.bufs))
			for i, s := range tt.bufs {
				bufs[i] = []byte(s)
			}
			n, total, err := sc.writev(rc, bufs)
			want := strings.Join(tt.bufs, "")
			if err != nil || n != len(want) || total != len(want) {
				t.Fatalf("writev: %d of %d, %v; want %d", n, total, err, len(want))
			}
			if len(want) == 0 {
				return
			}
			got := make([]byte, len(want))
			cli.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(cli, got); err != nil || string(got) != want {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
		})
	}
}

// TestWritevTooMany: pieces past maxIovecs are not written, and the count
// says so.
func TestWritevTooMany(t *testing.T) {
	srv, cli := tcpPair(t)
	var sc writeScratch
	sc.init()
	bufs := make([][]byte, maxIovecs+5)
	for i := range bufs {
		bufs[i] = []byte("ab")
	}
	n, total, err := sc.writev(rawConnOf(srv), bufs)
	if err != nil || n != 2*maxIovecs || total != 2*len(bufs) {
		t.Fatalf("writev: %d of %d, %v; want %d of %d", n, total, err, 2*maxIovecs, 2*len(bufs))
	}
	got := make([]byte, n)
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cli, got); err != nil || string(got) != strings.Repeat("ab", maxIovecs) {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestWritevFull: a socket with no room takes part of a write or none of
// it, without an error and without waiting.
func TestWritevFull(t *testing.T) {
	srv, _ := tcpPair(t)
	rc := rawConnOf(srv)
	var sc writeScratch
	sc.init()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, total, err := sc.writev(rc, [][]byte{chunk, chunk})
		if err != nil {
			t.Fatalf("writev: %v", err)
		}
		if n < total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket never filled up")
		}
	}
}

func TestRawConnOfPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rawConnOf(a) != nil {
		t.Fatal("an in-memory pipe has a descriptor")
	}
}

// BenchmarkWritev: one non-blocking writev of a batch of 16 EventSource
// events to a loopback socket that a reader drains.
func BenchmarkWritev(b *testing.B) {
	srv, cli := tcpPair(b)
	go io.Copy(io.Discard, cli)
	rc := rawConnOf(srv)
	var sc writeScratch
	sc.init()
	ev := []byte("id: 1796233127:0\ndata: a message of about sixty-four bytes, as the load tool sends it.\n\n")
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = ev
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := sc.writev(rc, bufs); err != nil {
			b.Fatal(err)
		}
	}
}
