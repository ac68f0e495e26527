//go:build !linux

package fakeipvs

import (
	"errors"
	"fmt"
	"os"
)

// Exec, when the environment carries a command line (Env), exits with
// status 2: the filter is Linux's. Without Env it returns at once.
func Exec() {
	if os.Getenv(Env) == "" {
		return
	}
	fmt.Fprintln(os.Stderr, "fake IPVS:", Install())
	os.Exit(2)
}

// Install fails: seccomp is Linux's.
func Install() error { return errors.New("fake IPVS: seccomp filters are Linux's") }

// Supported says why the filter cannot be installed: seccomp is Linux's.
func Supported() error { return Install() }
