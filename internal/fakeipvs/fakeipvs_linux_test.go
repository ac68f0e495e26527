package fakeipvs

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "GOVS_FAKEIPVS_TEST_CHILD"

// ipvsGetVersion is IP_VS_SO_GET_VERSION, the first of IPVS's options.
const ipvsGetVersion = 64 + 1024 + 64

// TestInstall checks, in a child process (the filter cannot be removed),
// that IPVS's options succeed under the filter where they fail without it,
// and that other options still reach the kernel.
func TestInstall(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skip(err)
	}
	if os.Getenv(childEnv) != "" {
		childInstall(t)
		return
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, ipvsGetVersion); err == nil {
		t.Skip("this kernel has IPVS: nothing to fake")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstall$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func childInstall(t *testing.T) {
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, ipvsGetVersion); err != nil {
		t.Errorf("getsockopt IP_VS_SO_GET_VERSION under the filter: %v, want success", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, ipvsGetVersion, 0); err != nil {
		t.Errorf("setsockopt IPVS option under the filter: %v, want success", err)
	}
	if ttl, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL); err != nil || ttl <= 0 {
		t.Errorf("getsockopt IP_TTL under the filter = %d, %v: want the kernel's answer", ttl, err)
	}
	if _, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, 9999); !errors.Is(err, unix.ENOPROTOOPT) {
		t.Errorf("getsockopt of an unknown SOL_SOCKET option: %v, want ENOPROTOOPT from the kernel", err)
	}
}

// TestExecWithoutEnv: Exec returns at once when there is no command line.
func TestExecWithoutEnv(t *testing.T) {
	t.Setenv(Env, "")
	Exec()
}
