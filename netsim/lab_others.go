//go:build !linux

package netsim

// Lab is a network of namespaces; only Linux has them.
type Lab struct{}

// New returns ErrUnimplemented: network namespaces are Linux only.
func New(*Options) (*Lab, error) { return nil, ErrUnimplemented }

// Sweep returns ErrUnimplemented: network namespaces are Linux only.
func Sweep(*Options) error { return ErrUnimplemented }

// Close does nothing.
func (*Lab) Close() error { return nil }
