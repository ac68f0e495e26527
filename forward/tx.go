// The transmitters' portable types; the transmitters are in tx_linux.go.

package forward

import "errors"

// TxMode selects how a Tx hands frames to the kernel.
type TxMode uint8

const (
	_ TxMode = iota
	// TxSendmmsg sends with sendmmsg(2), the frames referenced in place
	// (a ring's frames, or Slots) and copied by the kernel.
	TxSendmmsg
	// TxRing copies the frames into a PACKET_TX_RING (V2) and sends them
	// with send(2); the kernel builds its packets from the ring's pages.
	// The kernel skips a frame it finds malformed (too long, say) without
	// telling which: such frames count as sent.
	TxRing
)

// DefaultTxMode is the mode of a Tx whose TxConfig.Mode is zero. In the
// package's benchmarks neither mode forwards more packets per second;
// sendmmsg needs no copy of a ring's frame, reports each refused frame,
// and uses no ring memory.
const DefaultTxMode = TxSendmmsg

// TxQdisc selects whether frames pass the interface's queueing discipline.
type TxQdisc uint8

const (
	_ TxQdisc = iota
	// TxQdiscUse sends through the qdisc, as any socket does.
	TxQdiscUse
	// TxQdiscBypass sets PACKET_QDISC_BYPASS: frames go straight to the
	// driver. Nothing queues them, so a full NIC queue drops them (counted
	// by the kernel, not reported), and tc egress does not see them.
	TxQdiscBypass
)

// DefaultTxQdisc is the qdisc choice of a Tx whose TxConfig.Qdisc is zero:
// the bypass measured no faster on veth (whose default qdisc is noqueue),
// and on a NIC it drops instead of queueing when the NIC's queue is full.
const DefaultTxQdisc = TxQdiscUse

// TxConfig configures a Tx. Zero fields take defaults.
type TxConfig struct {
	// Mode is TxSendmmsg or TxRing; zero means DefaultTxMode.
	Mode TxMode
	// Qdisc says whether to bypass the qdisc; zero means DefaultTxQdisc.
	Qdisc TxQdisc
	// Batch is the most frames sent by one system call: Send flushes
	// when that many are queued. Zero means 256; at most 1024.
	Batch int
	// FrameSize is the largest frame Slot hands out (TxRing: the largest
	// frame sent at all); zero means 2048.
	FrameSize int
	// RingFrames is the number of TX ring frames (TxRing); zero means
	// 4*Batch.
	RingFrames int
	// VnetHdr sends each frame with a virtio_net_hdr (PACKET_VNET_HDR):
	// see SendOffload.
	VnetHdr bool
	// SndBuf is the socket's send buffer (SO_SNDBUFFORCE), which bounds
	// the frames in flight to the NIC; zero means 4 MiB.
	SndBuf int
}

// TxStats are a Tx's counters.
type TxStats struct {
	// Sent frames were accepted by the kernel.
	Sent uint64
	// Dropped frames were refused (the error went to Flush's caller) or
	// found no room.
	Dropped uint64
	// Syscalls is the number of sendmmsg or send calls.
	Syscalls uint64
}

// ErrTxFull is the error of a Flush when frames were dropped because the
// TX ring had no free frame.
var ErrTxFull = errors.New("tx: ring full")
