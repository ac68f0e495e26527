package forward

import (
	"log/slog"
	"net/netip"
	"time"
)

// EngineConfig configures an Engine. Zero fields take defaults.
type EngineConfig struct {
	// Interface is where the engine captures virtual service traffic and
	// sends it on: the interface that holds the VIPs' subnet. Required.
	Interface string
	// Workers is the number of workers (and receive rings); zero means one
	// per CPU.
	Workers int
	// ConnCapacity is each worker's connection table size (entries); zero
	// means DefaultConnCapacity.
	ConnCapacity int
	// NewFlowRate bounds each worker's new connection entries per second
	// (a SYN flood); above it new flows take the stateless choice. Zero
	// means DefaultNewFlowRate; negative means no limit.
	NewFlowRate int
	// Templates is the persistence template capacity; zero means 1<<20.
	Templates int
	// Timeouts are keepalived's lvs_timeouts.
	Timeouts Timeouts
	// NftTable names the nftables table that keeps the kernel out of
	// virtual service traffic; empty means "govs".
	NftTable string
	// Ring and Tx tune the receive rings and transmitters (Ifindex,
	// FanoutGroup and Filter are the engine's).
	Ring RingConfig
	Tx   TxConfig
	// Logger gets the engine's events; nil means slog.Default().
	Logger *slog.Logger
}

// Engine defaults.
const (
	// DefaultNewFlowRate is a worker's new-flow budget a second: far above
	// what a real workload opens, far below what a flood sends.
	DefaultNewFlowRate = 1_000_000
	defaultTemplates   = 1 << 20
	defaultNftTable    = "govs"
	// workerPoll bounds how long a worker waits for frames before it looks
	// at its snapshot and sweeps its table.
	workerPoll = 10 * time.Millisecond
	// sweepSlots is how many connection table slots a worker sweeps after
	// each batch: a million-slot table is swept every few seconds at idle.
	sweepSlots = 1024
)

// Stats are an engine's counters, summed over its workers.
type Stats struct {
	// Verdicts counts packets by verdict name ("forwarded", "no-service", ...).
	Verdicts map[string]uint64
	// Stateless counts new flows sent by the stateless choice because they
	// began elsewhere (mid-flow TCP), TableFull because the table had no
	// room, RateLimited because new flows came too fast.
	Stateless, TableFull, RateLimited uint64
	// NoDestExpired counts connection entries expired on a packet because
	// their real server had left the configuration (expire_nodest_conn=1).
	NoDestExpired uint64
	// Draining is the number of real servers that left the configuration
	// and still have connections, which go on to them until they end.
	Draining int
	// Conns is the number of connection table entries.
	Conns int
	// Snapshots counts the snapshots Update has swapped in: an Update
	// equal to the last one swaps none.
	Snapshots uint64
	// RxPackets and RxDrops are the rings' kernel counters; TxSent and
	// TxDropped the transmitters'.
	RxPackets, RxDrops, TxSent, TxDropped uint64
	Services                              []ServiceStats
}

// ServiceStats are a virtual service's counters.
type ServiceStats struct {
	ID                    uint32
	Name                  string
	Scheduler             string
	Persistence           time.Duration
	Proto                 uint8
	Addrs                 []AddrRange
	Conns, Packets, Bytes uint64
	Backends              []BackendStats
}

// BackendStats are a real server's counters.
type BackendStats struct {
	ID                    uint32
	Addr                  netip.Addr
	Method                Method
	Weight                uint32
	ActiveConns           int64
	InactiveConns         int64
	Conns, Packets, Bytes uint64
}
