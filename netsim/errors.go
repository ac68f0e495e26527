package netsim

import "errors"

var (
	// ErrUnimplemented is returned on systems without network namespaces.
	ErrUnimplemented = errors.New("netsim: not implemented on this system")
	// ErrNotInstalled is returned when an optional peer program (nginx,
	// keepalived, tcpdump) is not installed. Tests usually skip on it.
	ErrNotInstalled = errors.New("netsim: program not installed")
	// ErrClosed is returned by a lab, or anything it owns, after Close.
	ErrClosed = errors.New("netsim: lab closed")
)
