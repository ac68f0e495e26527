//go:build !linux

package check

import (
	"errors"
	"syscall"
)

func socketOptions(mark uint32, ifname string) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return errors.New("fwmark and bind_if are only supported on Linux")
	}
}
