//go:build !linux

package bench

import (
	"errors"
	"net"
)

// reactor is Linux-only; elsewhere each subscriber's goroutine reads its
// own connection.
type reactor struct{}

func newReactor(int) (*reactor, error) { return &reactor{}, nil }

func (r *reactor) close() {}

func (r *reactor) serve(_ *subscriber, c net.Conn, feed func([]byte) error, eof func() error) error {
	return readLoop(c, feed, eof)
}

func writeRaw(int, []byte) error { return errors.New("no raw descriptors here") }
