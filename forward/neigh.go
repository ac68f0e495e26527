// The neighbour table's portable types; the table itself is in neigh_linux.go.

package forward

import (
	"log/slog"
	"time"
)

// NeighborsConfig configures Neighbors.
type NeighborsConfig struct {
	// Ifindexes are the interfaces whose neighbours are kept; nil means
	// all.
	Ifindexes []int
	// ResolveInterval is the least time between two resolutions asked for
	// one address; zero means one second.
	ResolveInterval time.Duration
	// Logger gets subscription errors; nil means slog.Default().
	Logger *slog.Logger
}

// NeighborStats are the counters of Neighbors.
type NeighborStats struct {
	// Entries is the number of usable neighbours in the table.
	Entries int
	// Resolutions asked of the kernel, and failed to be asked.
	Resolutions, ResolveErrors uint64
	// ResolveDropped counts Resolve calls dropped because the owner's
	// queue was full.
	ResolveDropped uint64
	// Resubscriptions counts the times the subscription was lost
	// (socket buffer overrun) and started again, with a fresh dump.
	Resubscriptions uint64
}
