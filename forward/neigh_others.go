//go:build !linux

package forward

import (
	"context"
)

// Neighbours need Linux netlink; see neigh_linux.go.

type Neighbors struct{}

func NewNeighbors(context.Context, *NeighborsConfig) (*Neighbors, error) {
	return nil, errUnimplemented
}

func (*Neighbors) Lookup(int, Addr16) ([6]byte, bool) { return [6]byte{}, false }

func (*Neighbors) Resolve(int, Addr16) {}

func (*Neighbors) Stats() NeighborStats { return NeighborStats{} }

func (*Neighbors) Close() error { return nil }
