//go:build !linux || herald_noreactor

package bench

import (
	"errors"
	"net"
)

// reactor is Linux-only; elsewhere (or built with the tag
// herald_noreactor, to test this fallback on Linux) each subscriber's
// goroutine reads its own connection.
type reactor struct{}

func newReactor(int) (*reactor, error) { return &reactor{}, nil }

func (r *reactor) close() {}

// serve reads c on the calling goroutine until the stream ends, as the
// Linux reactor does on its own: stopping s closes c and ends it, and c is
// closed when serve returns.
func (r *reactor) serve(s *subscriber, c net.Conn, feed func([]byte) error, eof func() error) error {
	defer c.Close()
	if s.stopped() {
		return errStopped
	}
	return readLoop(c, feed, eof)
}

// writeRaw is never called here: no subscriber has a raw descriptor
// (rawFD stays 0).
func writeRaw(int, []byte) error { return errors.New("no raw descriptors without the reactor") }
