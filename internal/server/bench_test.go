package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// BenchmarkPublishHTTP measures POST /pub/<id> round trips on one connection.
func BenchmarkPublishHTTP(b *testing.B) {
	s := startServer(b, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Post(s.URL+"/pub/bench", "text/plain", strings.NewReader("hello world"))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// BenchmarkLongPollFanout parks n long-poll subscribers on one channel,
// publishes one message and waits until every subscriber has it: one op is
// one fan-out to n subscribers over real sockets.
func BenchmarkLongPollFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := startServer(b, "")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				ch := fmt.Sprintf("fan%d", i)
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/sub/"+ch, nil)
						res, err := client.Do(req)
						if err != nil {
							errs <- err
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 200 {
							errs <- fmt.Errorf("status %d", res.StatusCode)
						}
					})
				}
				waitSubscribers(b, s, ch, n)
				b.StartTimer()
				res, err := http.Post(s.URL+"/pub/"+ch, "text/plain", strings.NewReader("hello"))
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishBatchHTTP measures batch publishes (publish_batch) of 100
// messages over 100 channels on one connection: one op is one request, and
// publishes/s counts its messages.
func BenchmarkPublishBatchHTTP(b *testing.B) {
	s := startServer(b, batchConfig(nil))
	msgs := make([]protocol.BatchMessage, 100)
	for i := range msgs {
		msgs[i] = protocol.BatchMessage{Channel: fmt.Sprintf("bench%d", i), Data: []byte("hello world")}
	}
	body := protocol.AppendBatchMessages(nil, msgs)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Post(s.URL+"/batch", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "publishes/s")
}

// BenchmarkPollAnswer measures a long-poll request answered at once (the
// channel's oldest message) over one keep-alive connection, with a raw
// client that allocates nothing: allocs/op are the server's, from reading
// the request through admitting the subscriber to writing the answer.
func BenchmarkPollAnswer(b *testing.B) {
	s := startServer(b, "")
	res, err := http.Post(s.URL+"/pub/bench", "text/plain", strings.NewReader("hello"))
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	req := []byte("GET /sub/bench HTTP/1.1\r\nHost: bench\r\n\r\n")
	br := bufio.NewReaderSize(c, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if n, err := readRawAnswer(br); err != nil || n != len("hello") {
			b.Fatalf("answer of %d bytes, %v", n, err)
		}
	}
}

// readRawAnswer reads one answer with a Content-Length and returns its
// body's length, without allocating.
func readRawAnswer(br *bufio.Reader) (int, error) {
	cl := -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return 0, fmt.Errorf("status line %q", line)
			}
			continue
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			cl = 0
			for _, d := range bytes.TrimSpace(v) {
				cl = cl*10 + int(d-'0')
			}
		}
	}
	if cl < 0 {
		return 0, errors.New("no Content-Length")
	}
	_, err := br.Discard(cl)
	return cl, err
}
