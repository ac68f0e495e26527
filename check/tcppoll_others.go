//go:build !linux

package check

import "context"

// tcpPoller and tcpFlight exist on Linux only (tcppoll_linux.go):
// elsewhere TCP_CHECK probes run on workers.
type (
	tcpPoller struct{}
	tcpFlight struct{}
)

func (m *Manager) startTCP(context.Context, job) bool { return false }

func (m *Manager) stopTCP() {}
