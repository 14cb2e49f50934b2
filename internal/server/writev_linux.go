//go:build linux

package server

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawConnOf returns the connection's descriptor for non-blocking writes, or
// nil when it has none (TLS, in-memory pipes).
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeScratch is a group writer's reusable state for writev, so a write
// allocates nothing.
type writeScratch struct {
	bufs  [][]byte
	iov   []unix.Iovec
	n     int
	errno unix.Errno
	fn    func(fd uintptr) bool
}

func (sc *writeScratch) init() {
	sc.bufs = make([][]byte, 0, maxIovecs)
	sc.iov = make([]unix.Iovec, 0, maxIovecs)
	sc.fn = sc.call
}

// call runs writev once on fd, which the runtime keeps non-blocking.
func (sc *writeScratch) call(fd uintptr) bool {
	for {
		// unix.Writev would build a new iovec array on every call; this
		// one is kept in the scratch.
		r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&sc.iov[0])), uintptr(len(sc.iov)))
		if e == unix.EINTR {
			continue
		}
		sc.n, sc.errno = int(r), e
		return true // never wait for the socket to drain
	}
}

// writev writes what the socket takes now of bufs, in one system call. It
// returns the bytes written and the total; n < total is not an error.
// Pieces past the first maxIovecs are left for a later write (the batches
// of a fan-out writer never have that many).
func (sc *writeScratch) writev(rc syscall.RawConn, bufs [][]byte) (n, total int, err error) {
	iov := sc.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		total += len(b)
		if len(iov) == cap(iov) {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	if len(iov) == 0 {
		return 0, total, nil
	}
	sc.iov = iov
	sc.n, sc.errno = 0, 0
	err = rc.Write(sc.fn)
	clear(iov) // hold no message past the write
	switch {
	case err != nil:
		return 0, total, fmt.Errorf("writev: %w", err)
	case sc.errno == unix.EAGAIN:
		return 0, total, nil
	case sc.errno != 0:
		return 0, total, fmt.Errorf("writev: %w", sc.errno)
	}
	return sc.n, total, nil
}

// readNow reads into p what the connection has received, without waiting
// for more: 0 when nothing has arrived, or when the read failed (the next
// blocking read reports why).
func readNow(rc syscall.RawConn, p []byte) int {
	n := 0
	rc.Read(func(fd uintptr) bool {
		for {
			k, err := unix.Read(int(fd), p)
			if err == unix.EINTR {
				continue
			}
			n = max(k, 0)
			return true // never wait for data
		}
	})
	return n
}
