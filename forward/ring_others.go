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

type Ring struct{}

func OpenRing(*RingConfig) (*Ring, error) { return nil, errUnimplemented }

func (*Ring) Version() RingVersion { return 0 }

func (*Ring) Next(time.Duration, func(*RxFrame)) (int, error) { return 0, errUnimplemented }

func (*Ring) Release() {}

func (*Ring) SetFilter([]bpf.RawInstruction) error { return errUnimplemented }

func (*Ring) Stats() RingStats { return RingStats{} }

func (*Ring) Close() error { return nil }

func PinToCPU(int) error { return errUnimplemented }

type Tx struct{}

func OpenTx(int, *TxConfig) (*Tx, error) { return nil, errUnimplemented }

func (*Tx) Slot(int) []byte { return nil }

func (*Tx) Send([]byte) {}

func (*Tx) SendOffload([]byte, *Offload) {}

func (*Tx) Flush() (int, error) { return 0, errUnimplemented }

func (*Tx) Stats() TxStats { return TxStats{} }

func (*Tx) Close() error { return nil }
