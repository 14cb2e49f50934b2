//go:build !unix

package memtrim

import "time"

// processCPU is not read here: the trimmer goes by collections alone.
func processCPU() (time.Duration, bool) { return 0, false }
