package netsim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ownerFile is the file in a lab's state directory that names the process
// that owns the lab: "PID STARTTIME\n", the start time in clock ticks since
// boot as /proc/PID/stat has it, so a reused PID is not taken for the owner.
const ownerFile = "owner"

type owner struct {
	pid   int
	start uint64
}

func selfOwner() (owner, error) {
	pid := os.Getpid()
	start, err := procStart(pid)
	if err != nil {
		return owner{}, err
	}
	return owner{pid: pid, start: start}, nil
}

// procStart reads field 22 (starttime) of /proc/PID/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// alive reports whether the owner still runs. start 0 means unknown: then
// only the PID is checked.
func (o owner) alive() bool {
	if o.pid <= 0 {
		return false
	}
	if err := unix.Kill(o.pid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	if o.start == 0 {
		return true
	}
	start, err := procStart(o.pid)
	return err == nil && start == o.start
}

func writeOwner(dir string, o owner) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %d\n", o.pid, o.start), 0o644)
}

func readOwner(dir string) (owner, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return owner{}, err
	}
	var o owner
	if _, err := fmt.Sscanf(string(b), "%d %d", &o.pid, &o.start); err != nil {
		return owner{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, ownerFile), err)
	}
	return o, nil
}

// killNamespace sends SIGKILL to every process, other than this one, whose
// network namespace has inode ino, and returns how many it signalled.
func killNamespace(ino uint64) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	want := fmt.Sprintf("net:[%d]", ino)
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || link != want {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err == nil {
			n++
		}
	}
	return n, nil
}
