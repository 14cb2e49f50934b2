package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		user, sys time.Duration
		ok        bool
	}{
		{"plain", "42 (herald) S 1 42 42 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 9 0 100 0 0", 2500 * time.Millisecond, 750 * time.Millisecond, true},
		{"command with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 30 * time.Millisecond, 40 * time.Millisecond, true},
		{"no command", "7 a R 1", 0, 0, false},
		{"short", "7 (a) R 1 2 3", 0, 0, false},
		{"not numbers", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x y", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s, err := parseStat([]byte(tt.line))
			if (err == nil) != tt.ok || u != tt.user || s != tt.sys {
				t.Fatalf("got %v %v %v", u, s, err)
			}
		})
	}
}

func TestScanKB(t *testing.T) {
	tests := []struct {
		name, text, key string
		want            int64
		ok              bool
	}{
		{"kB", "Name:\therald\nVmRSS:\t   1234 kB\n", "VmRSS:", 1234 * 1024, true},
		{"no unit", "Rss: 10\n", "Rss:", 10, true},
		{"missing", "VmSize: 1 kB\n", "VmRSS:", 0, false},
		{"bad number", "VmRSS: x kB\n", "VmRSS:", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanKB(strings.NewReader(tt.text), "test", tt.key)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

// TestReadOwnProcess reads this process's /proc files.
func TestReadOwnProcess(t *testing.T) {
	pids := []int{os.Getpid()}
	m, err := readMem(pids)
	if err != nil || m.VmRSS < 1<<20 {
		t.Fatalf("readMem: %+v %v", m, err)
	}
	if _, err := readCPU(pids); err != nil {
		t.Fatalf("readCPU: %v", err)
	}
}
