package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// notifier tells systemd about govs run's state (sd_notify(3)): READY=1
// once it forwards, RELOADING=1 then READY=1 around a reload, STOPPING=1
// when it stops. Without $NOTIFY_SOCKET (not started by systemd with
// Type=notify) it does nothing.
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier reads $NOTIFY_SOCKET; a name starting with @ is in the
// abstract namespace.
func newNotifier() *notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return &notifier{}
	}
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// send sends one message of KEY=VALUE lines.
func (n *notifier) send(lines ...string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

func (n *notifier) ready() error { return n.send("READY=1", "STATUS=forwarding") }

// reloading is sent before a reload, with the monotonic time systemd
// (253 and later) wants with it.
func (n *notifier) reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return err
	}
	usec := ts.Nano() / int64(time.Microsecond)
	return n.send("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", usec))
}

func (n *notifier) stopping() error { return n.send("STOPPING=1") }
