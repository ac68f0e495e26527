//go:build !linux

package vrrp

// SystemNetwork is only available on Linux.
func SystemNetwork(netnsFD int) (Network, error) { return nil, ErrUnsupported }
