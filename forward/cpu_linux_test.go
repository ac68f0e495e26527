package forward

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWorkerCPU: workers run on the CPUs the process may use, in order, as
// taskset or systemd's CPUAffinity= set them.
func TestWorkerCPU(t *testing.T) {
	var orig unix.CPUSet
	must(t, unix.SchedGetaffinity(0, &orig))
	if orig.Count() < 2 {
		t.Skip("needs two CPUs")
	}
	var last int
	for c := 0; c < 1024; c++ {
		if orig.IsSet(c) {
			last = c
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var one unix.CPUSet
	one.Set(last)
	must(t, unix.SchedSetaffinity(0, &one))
	defer unix.SchedSetaffinity(0, &orig)
	for i := range 3 {
		if got := workerCPU(i); got != last {
			t.Errorf("worker %d on CPU %d, want %d (the only one allowed)", i, got, last)
		}
	}
}
