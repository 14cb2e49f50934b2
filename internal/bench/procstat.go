package bench

import (
	"errors"
	"time"
)

// memSample is the resident memory of a set of processes, in bytes.
type memSample struct {
	VmRSS    int64 `json:"vmrss_bytes"`
	SmapsRss int64 `json:"smaps_rss_bytes,omitempty"` // 0: smaps_rollup unavailable
}

// cpuTimes is user and system CPU time.
type cpuTimes struct {
	User, Sys time.Duration
}

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.User - o.User, c.Sys - o.Sys} }

// errProcStatUnsupported is reading another process's memory and CPU
// time (--server-pid) where the tool cannot.
var errProcStatUnsupported = errors.New("reading another process's memory and CPU time (--server-pid) is not supported on this OS")
