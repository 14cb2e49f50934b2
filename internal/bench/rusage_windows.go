package bench

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// selfUsage is this process's CPU time and peak working set in bytes.
func selfUsage() (cpuTimes, int64) {
	t, err := processTimes(windows.CurrentProcess())
	if err != nil {
		return cpuTimes{}, 0
	}
	vm, err := processMemory(windows.CurrentProcess())
	if err != nil {
		return t, 0
	}
	return t, int64(vm.PeakWorkingSetSize)
}

// raiseNofile has nothing to raise: Windows has no open-file limit of
// that kind. 0 means unknown.
func raiseNofile() (uint64, error) { return 0, nil }

// readMem sums the working sets of pids, as VmRSS.
func readMem(pids []int) (memSample, error) {
	var m memSample
	for _, pid := range pids {
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
		if err != nil {
			return m, fmt.Errorf("process %d: %w", pid, err)
		}
		vm, err := processMemory(h)
		windows.CloseHandle(h)
		if err != nil {
			return m, fmt.Errorf("process %d: %w", pid, err)
		}
		m.VmRSS += int64(vm.WorkingSetSize)
	}
	return m, nil
}

// readCPU sums the user and kernel times of pids.
func readCPU(pids []int) (cpuTimes, error) {
	var t cpuTimes
	for _, pid := range pids {
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
		if err != nil {
			return t, fmt.Errorf("process %d: %w", pid, err)
		}
		pt, err := processTimes(h)
		windows.CloseHandle(h)
		if err != nil {
			return t, fmt.Errorf("process %d: %w", pid, err)
		}
		t.User += pt.User
		t.Sys += pt.Sys
	}
	return t, nil
}

// processTimes reads a process's user and kernel time.
func processTimes(h windows.Handle) (cpuTimes, error) {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return cpuTimes{}, fmt.Errorf("GetProcessTimes: %w", err)
	}
	return cpuTimes{User: filetimeDuration(user), Sys: filetimeDuration(kernel)}, nil
}

// filetimeDuration converts a span in a FILETIME (100 ns units).
func filetimeDuration(ft windows.Filetime) time.Duration {
	return time.Duration(uint64(ft.HighDateTime)<<32|uint64(ft.LowDateTime)) * 100
}

// vmCounters is Windows' VM_COUNTERS, what NtQueryInformationProcess
// answers for ProcessVmCounters.
type vmCounters struct {
	PeakVirtualSize            uintptr
	VirtualSize                uintptr
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

// processMemory reads a process's memory counters.
func processMemory(h windows.Handle) (vmCounters, error) {
	var vm vmCounters
	if err := windows.NtQueryInformationProcess(h, windows.ProcessVmCounters, unsafe.Pointer(&vm), uint32(unsafe.Sizeof(vm)), nil); err != nil {
		return vm, fmt.Errorf("NtQueryInformationProcess: %w", err)
	}
	return vm, nil
}
