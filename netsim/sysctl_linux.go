package netsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SetSysctl writes a sysctl of the host's namespace, named with dots as
// sysctl(8) does: "net.ipv4.ip_forward". Only net.* sysctls are per
// namespace; others would change the whole machine and are refused.
func (h *Host) SetSysctl(key, value string) error {
	return h.setSysctls([][2]string{{key, value}})
}

// Sysctl reads a sysctl of the host's namespace.
func (h *Host) Sysctl(key string) (string, error) {
	path, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	var b []byte
	err = h.Do(func() error {
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("host %s: read sysctl %s: %w", h.name, key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (h *Host) setSysctls(kv [][2]string) error {
	return setSysctls(h.ns, kv)
}

func setSysctls(ns *netNS, kv [][2]string) error {
	return ns.do(func() error {
		for _, e := range kv {
			path, err := sysctlPath(e[0])
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(e[1]), 0o644); err != nil {
				return fmt.Errorf("namespace %s: set sysctl %s=%s: %w", ns.name, e[0], e[1], err)
			}
		}
		return nil
	})
}

// sysctlPath maps "net.ipv4.conf.all.rp_filter" to its /proc/sys file.
// /proc/sys/net shows the namespace of the thread that opens the file.
func sysctlPath(key string) (string, error) {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "/") || strings.Contains(key, "..") {
		return "", fmt.Errorf("sysctl %q: only net.* keys are per namespace", key)
	}
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")), nil
}

// EnableForwarding makes the host a router for IPv4 and IPv6. Call it
// before Join: turned on while the host's interfaces already carry
// addresses, IPv6 forwarding needs a moment to settle (seen here: about
// one lab in ten lost the first neighbour solicitation or the first routed
// packet within 20 ms of the change, costing a one-second retransmission),
// so EnableForwarding then waits 50 ms.
func (h *Host) EnableForwarding() error {
	err := h.setSysctls([][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv6.conf.all.forwarding", "1"},
	})
	h.mu.Lock()
	joined := len(h.links) > 0
	h.mu.Unlock()
	if err == nil && joined {
		time.Sleep(50 * time.Millisecond)
	}
	return err
}
