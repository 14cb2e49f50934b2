package servertest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Stream is a streaming HTTP response read as it arrives.
type Stream struct {
	// Res is the response; its body is Stream's to read.
	Res *http.Response

	mu   sync.Mutex
	got  strings.Builder
	done bool
	kick chan struct{}
}

// OpenStream GETs url and reads the response body in the background until
// it ends or the test does. It does not check the status.
func OpenStream(t testing.TB, url string) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	s := &Stream{Res: res, kick: make(chan struct{}, 1)}
	go func() {
		defer res.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			s.mu.Lock()
			s.got.Write(buf[:n])
			s.done = err != nil
			s.mu.Unlock()
			select {
			case s.kick <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// Wait waits, at most timeout, until what arrived is enough or the body
// ended, and returns what arrived.
func (s *Stream) Wait(timeout time.Duration, enough func(string) bool) string {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, done := s.got.String(), s.done
		s.mu.Unlock()
		if enough(got) || done {
			return got
		}
		select {
		case <-s.kick:
		case <-deadline:
			return got
		}
	}
}
