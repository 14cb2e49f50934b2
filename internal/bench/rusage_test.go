//go:build unix || windows

package bench

import "testing"

// TestSelfUsage: the peak resident memory is in bytes on every system (it
// was 1024 times too high on Darwin, whose ru_maxrss is in bytes).
func TestSelfUsage(t *testing.T) {
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	cpu, rss := selfUsage()
	if rss < 8<<20 || rss > 64<<30 {
		t.Fatalf("peak RSS %d bytes", rss)
	}
	if cpu.User+cpu.Sys <= 0 {
		t.Fatalf("CPU time %+v", cpu)
	}
	if n, err := raiseNofile(); err != nil {
		t.Logf("raiseNofile: %d, %v", n, err)
	}
}
