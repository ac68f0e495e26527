package daemon

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// startNetNS is the network namespace the process started in, read once
// when the package is initialized (on the main thread, before anything
// moves a thread elsewhere); nil if it could not be read. Any thread may
// be moved later, the main thread included, so no later reading tells it.
var startNetNS, _ = os.Stat("/proc/thread-self/ns/net")

// namespaceRunner returns a function that runs fn on a thread in the
// network namespace of the calling thread, and a function that releases
// it. It returns a nil runner when that namespace is the process's own,
// which every new thread is in anyway (govs run); tests run the daemon in
// a lab host's namespace, where sockets opened by other goroutines would
// land in the wrong one.
func namespaceRunner() (func(func() error) error, func(), error) {
	if here, err := os.Stat("/proc/thread-self/ns/net"); err == nil && startNetNS != nil && os.SameFile(here, startNetNS) {
		return nil, func() {}, nil
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("open", err)
	}
	run := func(fn func() error) error {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- os.NewSyscallError("open", err)
				return // the thread stays locked: the runtime drops it
			}
			defer unix.Close(orig)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				errc <- os.NewSyscallError("setns", err)
				return
			}
			err = fn()
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			errc <- err
		}()
		return <-errc
	}
	return run, func() { unix.Close(fd) }, nil
}
