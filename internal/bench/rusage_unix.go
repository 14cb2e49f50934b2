//go:build unix

package bench

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// selfUsage is this process's CPU time and peak resident memory in bytes.
func selfUsage() (cpuTimes, int64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}, 0
	}
	return cpuTimes{
		User: time.Duration(ru.Utime.Nano()),
		Sys:  time.Duration(ru.Stime.Nano()),
	}, int64(ru.Maxrss) * maxRSSUnit
}

// raiseNofile raises the soft open-file limit to the hard limit (as far as
// the system lets one process go) and returns the limit now in force.
func raiseNofile() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	cur, ceiling := uint64(rl.Cur), nofileCeiling(uint64(rl.Max))
	if cur >= ceiling {
		return cur, nil
	}
	want := rl
	setLimit(&want.Cur, ceiling)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		return cur, fmt.Errorf("setrlimit: %w", err)
	}
	return ceiling, nil
}

// setLimit sets an rlimit field, whichever integer type the system gives
// it (int64 on FreeBSD, uint64 elsewhere).
func setLimit[T int64 | uint64](p *T, v uint64) { *p = T(v) }
