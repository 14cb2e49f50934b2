//go:build unix && !darwin && !ios

package bench

// maxRSSUnit is the unit of getrusage's ru_maxrss: KiB on Linux and the
// BSDs.
const maxRSSUnit = 1024

// nofileCeiling is how far a process may raise its open-file limit: the
// hard limit.
func nofileCeiling(hard uint64) uint64 { return hard }
