package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

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
	return scanKB(f, path, key)
}

// scanKB reads the "Key:   123 kB" line of a /proc file read from r, in
// bytes; path names the file in errors.
func scanKB(r io.Reader, path, key string) (int64, error) {
	sc := bufio.NewScanner(r)
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
			return 0, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}

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
			return t, fmt.Errorf("/proc/%d/stat: %w", pid, err)
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
