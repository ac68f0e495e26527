//go:build !linux

package forward

import (
	"errors"
	"time"

	"golang.org/x/net/bpf"
)

// The receive rings and the batched transmit need Linux (AF_PACKET). The
// types below mirror ring_linux.go and tx_linux.go, where they are
// documented; every constructor returns errUnimplemented.

// errUnimplemented is returned by the kernel-facing parts of the data
// plane on platforms other than Linux.
var errUnimplemented = errors.New("forward: unimplemented on this platform")

type RingVersion uint8

const (
	_ RingVersion = iota
	RingV2
	RingV3
)

const DefaultRingVersion = RingV2

type RingConfig struct {
	Ifindex                         int
	Version                         RingVersion
	FanoutGroup                     uint16
	FanoutDefrag                    bool
	BlockSize, NumBlocks, FrameSize int
	BlockTimeout                    time.Duration
	Batch                           int
	Coalesce                        time.Duration
	Filter                          []bpf.RawInstruction
	VnetHdr                         bool
}

type Offload struct {
	CsumStart, CsumOffset uint16
	GSOType               uint8
	GSOSize               uint16
	HdrLen                uint16
}

const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80
)

type RxFrame struct {
	Data         []byte
	Len          int
	CsumNotReady bool
	Truncated    bool
	GSO          bool
	VLAN         bool
	Offload
}

type RingStats struct {
	Packets, Drops, FreezeQueue, Waits uint64
}

var ErrRingBusy = errors.New("ring: concurrent Next")

type Ring struct{}

func OpenRing(*RingConfig) (*Ring, error) { return nil, errUnimplemented }

func (*Ring) Version() RingVersion { return 0 }

func (*Ring) Next(time.Duration, func(*RxFrame)) (int, error) { return 0, errUnimplemented }

func (*Ring) Release() {}

func (*Ring) SetFilter([]bpf.RawInstruction) error { return errUnimplemented }

func (*Ring) Stats() RingStats { return RingStats{} }

func (*Ring) Close() error { return nil }

func PinToCPU(int) error { return errUnimplemented }

type TxMode uint8

const (
	_ TxMode = iota
	TxSendmmsg
	TxRing
)

const DefaultTxMode = TxSendmmsg

type TxQdisc uint8

const (
	_ TxQdisc = iota
	TxQdiscUse
	TxQdiscBypass
)

const DefaultTxQdisc = TxQdiscUse

type TxConfig struct {
	Mode       TxMode
	Qdisc      TxQdisc
	Batch      int
	FrameSize  int
	RingFrames int
	VnetHdr    bool
	SndBuf     int
}

type TxStats struct {
	Sent, Dropped, Syscalls uint64
}

var ErrTxFull = errors.New("tx: ring full")

type Tx struct{}

func OpenTx(int, *TxConfig) (*Tx, error) { return nil, errUnimplemented }

func (*Tx) Slot(int) []byte { return nil }

func (*Tx) Send([]byte) {}

func (*Tx) SendOffload([]byte, *Offload) {}

func (*Tx) Flush() (int, error) { return 0, errUnimplemented }

func (*Tx) Stats() TxStats { return TxStats{} }

func (*Tx) Close() error { return nil }
