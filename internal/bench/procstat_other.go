//go:build !linux && !windows

package bench

// readMem needs /proc, which only Linux has.
func readMem([]int) (memSample, error) { return memSample{}, errProcStatUnsupported }

// readCPU needs /proc, which only Linux has.
func readCPU([]int) (cpuTimes, error) { return cpuTimes{}, errProcStatUnsupported }
