package fakeipvs

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// auditArch is the seccomp architecture of each GOARCH the filter knows.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}

// Exec, when the environment carries a command line (Env), installs the
// filter and executes the program, which inherits the filter in every
// process it forks; it does not return then, and exits with status 2 when
// either step fails. Without Env it returns at once.
func Exec() {
	args := os.Getenv(Env)
	if args == "" {
		return
	}
	argv := strings.Split(args, "\n")
	runtime.LockOSThread()
	if err := Install(); err != nil {
		fmt.Fprintln(os.Stderr, "fake IPVS:", err)
		os.Exit(2)
	}
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, Env+"=") })
	err := unix.Exec(argv[0], argv, env)
	fmt.Fprintln(os.Stderr, "fake IPVS: exec:", err)
	os.Exit(2)
}

// Install installs the filter on every thread of the process. It cannot be
// removed.
func Install() error {
	const (
		ipvsBaseCtl = 64 + 1024 + 64 // IP_VS_BASE_CTL, linux/ip_vs.h
		retAllow    = 0x7fff0000     // SECCOMP_RET_ALLOW
		retOK       = 0x00050000     // SECCOMP_RET_ERRNO with errno 0: return 0
		// Offsets in struct seccomp_data (little endian: low words).
		offNR, offArch, offArg1, offArg2 = 0, 4, 16 + 8, 16 + 16
	)
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("seccomp filter: no audit architecture for %s", runtime.GOARCH)
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: offArch, Size: 4},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arch, SkipTrue: 9},
		/* 2 */ bpf.LoadAbsolute{Off: offNR, Size: 4},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SETSOCKOPT, SkipTrue: 1},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.SYS_GETSOCKOPT, SkipTrue: 6},
		/* 5 */ bpf.LoadAbsolute{Off: offArg1, Size: 4}, // level
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_IP, SkipTrue: 4},
		/* 7 */ bpf.LoadAbsolute{Off: offArg2, Size: 4}, // optname
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpLessThan, Val: ipvsBaseCtl, SkipTrue: 2},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: ipvsBaseCtl + 15, SkipTrue: 1},
		/* 10 */ bpf.RetConstant{Val: retOK},
		/* 11 */ bpf.RetConstant{Val: retAllow},
	})
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// Supported says why the filter cannot be installed on this system, or nil
// when it can.
func Supported() error {
	if _, ok := auditArch[runtime.GOARCH]; !ok {
		return fmt.Errorf("the seccomp filter that stands in for IPVS is not written for %s", runtime.GOARCH)
	}
	return nil
}
