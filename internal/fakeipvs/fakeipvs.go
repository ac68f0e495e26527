// Package fakeipvs runs a program, keepalived, as if the kernel had IPVS,
// for benchmarks that compare govs with keepalived on a kernel without
// ip_vs. Under its seccomp filter, setsockopt and getsockopt of IPVS's
// options (IPPROTO_IP, IP_VS_BASE_CTL to IP_VS_BASE_CTL+15) return 0
// without reaching the kernel: keepalived's health checkers and its
// configuration of virtual servers run, and IPVS's part, the forwarding,
// is not there to measure.
//
// A test binary runs the program through a helper test of its own:
//
//	func TestFakeIPVSHelper(t *testing.T) {
//		fakeipvs.Exec()
//		t.Skip("helper process")
//	}
//
//	cmd := fakeipvs.Command("TestFakeIPVSHelper", []string{"/usr/sbin/keepalived", ...})
package fakeipvs

import (
	"os"
	"os/exec"
	"strings"
)

// Env carries the program's command line, one argument a line, from
// Command to Exec.
const Env = "GOVS_FAKE_IPVS_EXEC"

// Command returns a command that re-executes the test binary running only
// the test named helper, which calls Exec, with argv (the program's path
// first) in the environment.
func Command(helper string, argv []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), Env+"="+strings.Join(argv, "\n"))
	return cmd
}
