package netsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces live, as with `ip netns add`.
const netnsDir = "/run/netns"

// netNS is a named network namespace: a bind mount of the namespace file
// at netnsDir/name, and an open descriptor to it.
type netNS struct {
	name string
	path string
	fd   int
}

// createNetNS creates a namespace and pins it at netnsDir/name, as
// `ip netns add` does, without moving the calling goroutine's thread.
func createNetNS(name string) (*netNS, error) {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	f.Close()
	err = onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return os.NewSyscallError("unshare", err)
		}
		// The thread-self link names this thread's namespace, which is
		// the new one: /proc/self would name the main thread's.
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return os.NewSyscallError("mount", err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		removeNetNS(path)
		return nil, fmt.Errorf("open namespace %s: %w", name, os.NewSyscallError("open", err))
	}
	return &netNS{name: name, path: path, fd: fd}, nil
}

// do runs fn on a fresh goroutine whose thread is locked and moved into
// the namespace. Sockets opened by fn stay in the namespace for good.
func (n *netNS) do(fn func() error) error {
	return onLockedThread(func() error {
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter namespace %s: %w", n.name, os.NewSyscallError("setns", err))
		}
		return fn()
	})
}

// close releases the descriptor and removes the pin. The kernel frees the
// namespace, and the links in it, once no process or socket uses it.
func (n *netNS) close() error {
	var err error
	if n.fd >= 0 {
		err = unix.Close(n.fd)
		n.fd = -1
	}
	return errors.Join(err, removeNetNS(n.path))
}

// inode identifies the namespace, as /proc/PID/ns/net shows it.
func (n *netNS) inode() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(n.fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	return st.Ino, nil
}

// removeNetNS unmounts and removes a pinned namespace file.
func removeNetNS(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, os.NewSyscallError("umount2", err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// onLockedThread runs fn on a new goroutine locked to its thread, and puts
// the thread back into the original network namespace afterwards. If that
// fails the thread stays locked, so the runtime discards it with the
// goroutine rather than reuse a thread in the wrong namespace; so it does
// when fn calls runtime.Goexit (t.FailNow, say), which onLockedThread
// reports as an error. A panic in fn is re-raised in the caller's goroutine.
func onLockedThread(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open own namespace: %w", os.NewSyscallError("open", err))}
			return
		}
		defer unix.Close(orig)
		returned := false
		defer func() {
			if !returned {
				done <- result{err: errors.New("function called runtime.Goexit inside the namespace")}
			}
		}()
		var r result
		func() {
			defer func() { r.panic = recover() }()
			r.err = fn()
		}()
		returned = true
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			r.err = errors.Join(r.err, fmt.Errorf("restore namespace: %w", os.NewSyscallError("setns", err)))
			done <- r
			return
		}
		runtime.UnlockOSThread()
		done <- r
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
