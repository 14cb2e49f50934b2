//go:build !linux

package server

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf returns nil: fan-out groups write with writev on Linux only, and
// subscribers elsewhere are each served by a goroutine of their own.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// writeScratch is unused off Linux.
type writeScratch struct {
	bufs [][]byte
}

func (sc *writeScratch) init() { sc.bufs = make([][]byte, 0, maxIovecs) }

func (sc *writeScratch) writev(syscall.RawConn, [][]byte) (n, total int, err error) {
	return 0, 0, errors.New("writev: not supported")
}

// readNow reads nothing: rawConnOf gives no descriptor off Linux, so
// nothing calls it.
func readNow(syscall.RawConn, []byte) int { return 0 }
