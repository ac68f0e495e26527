package check

import (
	"fmt"
	"syscall"
)

// socketOptions sets SO_MARK (fwmark) and SO_BINDTODEVICE (bind_if) on a
// checker's socket before it connects.
func socketOptions(mark uint32, ifname string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if mark != 0 {
				if e := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark)); e != nil {
					serr = fmt.Errorf("set fwmark %d: %w", mark, e)
					return
				}
			}
			if ifname != "" {
				if e := syscall.BindToDevice(int(fd), ifname); e != nil {
					serr = fmt.Errorf("bind to device %s: %w", ifname, e)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
