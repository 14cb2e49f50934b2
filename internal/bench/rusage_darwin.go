//go:build darwin || ios

package bench

import "golang.org/x/sys/unix"

// maxRSSUnit is the unit of getrusage's ru_maxrss: bytes on Darwin.
const maxRSSUnit = 1

// nofileCeiling is how far a process may raise its open-file limit:
// Darwin refuses more than kern.maxfilesperproc, whatever the hard limit.
func nofileCeiling(hard uint64) uint64 {
	if n, err := unix.SysctlUint32("kern.maxfilesperproc"); err == nil && uint64(n) < hard {
		return uint64(n)
	}
	return hard
}
