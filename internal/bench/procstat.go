package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// memSample is the resident memory of a set of processes, in bytes.
type memSample struct {
	VmRSS    int64 `json:"vmrss_bytes"`
	SmapsRss int64 `json:"smaps_rss_bytes,omitempty"` // 0: smaps_rollup unavailable
}

// readMem sums VmRSS (/proc/<pid>/status) and Rss (/proc/<pid>/smaps_rollup)
// over pids.
func readMem(pids []int) (memSample, error) {
	var m memSample
	smapsOK := true
	for _, pid := range pids {
		v, err := procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
		if err != nil {
			return m, err
		}
		m.VmRSS += v
		if r, err := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Rss:"); err == nil && smapsOK {
			m.SmapsRss += r
		} else {
			smapsOK = false
		}
	}
	if !smapsOK {
		m.SmapsRss = 0
	}
	return m, nil
}

// procKB reads a "Key:   123 kB" line of a /proc file, in bytes.
func procKB(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		fields := strings.Fields(string(line[len(key):]))
		if len(fields) == 0 {
			break
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %v", path, key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}

// cpuTimes is user and system CPU time.
type cpuTimes struct {
	User, Sys time.Duration
}

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.User - o.User, c.Sys - o.Sys} }

// readCPU sums utime and stime (/proc/<pid>/stat) over pids.
func readCPU(pids []int) (cpuTimes, error) {
	var t cpuTimes
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return t, err
		}
		u, s, err := parseStat(b)
		if err != nil {
			return t, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		t.User += u
		t.Sys += s
	}
	return t, nil
}

// parseStat reads utime and stime (fields 14 and 15) from a stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields
// are counted after the last ')'.
func parseStat(b []byte) (user, sys time.Duration, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state)
		return 0, 0, fmt.Errorf("short stat line")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad utime/stime")
	}
	tick := time.Second / clockTicks
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// selfUsage is this process's CPU time and peak resident memory.
func selfUsage() (cpuTimes, int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}, 0
	}
	return cpuTimes{
		User: time.Duration(ru.Utime.Nano()),
		Sys:  time.Duration(ru.Stime.Nano()),
	}, ru.Maxrss * 1024
}

// raiseNofile raises the soft open-file limit to the hard limit and returns
// the limit now in force.
func raiseNofile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, err
		}
		rl = want
	}
	return rl.Cur, nil
}
