// The receive rings' portable types; the rings themselves are in ring_linux.go.

package forward

import (
	"errors"
	"time"

	"golang.org/x/net/bpf"
)

// RingVersion selects the TPACKET version of a ring.
type RingVersion uint8

const (
	_ RingVersion = iota
	// RingV2 is TPACKET_V2: fixed-size frames, each with its own status,
	// and a wake-up for every frame. Frames are handed over as soon as
	// they are written: the lowest latency.
	RingV2
	// RingV3 is TPACKET_V3: blocks of variable-size frames; the kernel
	// hands a block over when it is full or when BlockTimeout has passed
	// since it got its first frame (1 ms at least), so a lone frame waits
	// up to that long. Frames can be as large as a block (GSO frames).
	RingV3
)

// DefaultRingVersion is the version of a ring whose RingConfig.Version is
// zero. In the package's benchmarks (netsim, 64-byte UDP, 10k flows) V2
// forwards as many packets per second and CPU second as V3, and a UDP
// echo through a V2 forwarder takes 35-55µs where V3 takes 1 ms (its
// shortest block timeout). V3 is for GSO frames, which do not fit V2's
// fixed frames.
const DefaultRingVersion = RingV2

// RingConfig configures a receive ring. Zero fields take defaults.
type RingConfig struct {
	// Ifindex is the interface to receive from.
	Ifindex int
	// Version is the TPACKET version; zero means DefaultRingVersion.
	Version RingVersion
	// FanoutGroup, when not zero, joins the ring to this fanout group of
	// the network namespace; all rings of one engine use the same group
	// (and distinct engines distinct groups). PACKET_FANOUT_HASH: the
	// kernel's flow hash of addresses and ports picks the ring, so one
	// flow always lands on the same ring. IP fragments hash on addresses
	// only (the kernel does not look for ports in fragments), so a
	// fragmented datagram's pieces land together, but maybe not on the
	// ring of its flow's unfragmented packets. The ring joins the group
	// just after it is bound: frames of that instant may reach it
	// outside the group's choice too.
	FanoutGroup uint16
	// FanoutDefrag adds PACKET_FANOUT_FLAG_DEFRAG: the kernel reassembles
	// IPv4 datagrams before fanout, and the ring gets whole datagrams,
	// larger than the MTU, which must be fragmented again to be sent on.
	// Off by default.
	FanoutDefrag bool
	// BlockSize (a multiple of the page size), NumBlocks and FrameSize
	// shape the ring. V2: frames of FrameSize bytes (the TPACKET header
	// and alignment included: 2048 holds a 1514-byte frame with a vnet
	// header), BlockSize/FrameSize of them in each block; a larger frame
	// is Truncated. V3: frames are packed in blocks and may be up to a
	// block long (the default holds 64 KiB GSO frames); FrameSize only
	// counts them.
	BlockSize, NumBlocks, FrameSize int
	// BlockTimeout is the V3 retire timeout, rounded up to milliseconds;
	// zero means 1 ms.
	BlockTimeout time.Duration
	// Batch is the most V2 frames one Next hands to fn; zero means 256.
	Batch int
	// Coalesce is how long Next sleeps, when a busy ring has just run
	// empty, before it looks again. A ring is busy within 50*Coalesce of
	// a Next that found several frames ready (they come faster than the
	// worker takes them); then Next polls the ring on a timer rather than
	// wait on the socket, where the kernel would wake it for every frame,
	// at a cost to the sending CPU of each wake-up. An idle ring, or one
	// with a frame now and then (request and response), wakes Next at
	// the first frame. Zero means 20µs; negative turns coalescing off.
	Coalesce time.Duration
	// Filter is the classic BPF program (BuildFilter) attached before the
	// socket is bound; nil means no filter.
	Filter []bpf.RawInstruction
	// VnetHdr asks for a virtio_net_hdr with each frame (PACKET_VNET_HDR):
	// partial checksum offsets and GSO parameters, in RxFrame.Offload.
	VnetHdr bool
}

// Offload is what a frame leaves to be done by the kernel or the NIC, as
// a virtio_net_hdr describes it: a partial checksum to complete and, for a
// GSO frame, segmentation into packets of GSOSize payload bytes.
type Offload struct {
	// CsumStart is the offset in the frame where the checksummed bytes
	// start (the L4 header), and CsumOffset where the checksum goes,
	// counted from CsumStart (16 TCP, 6 UDP). CsumOffset 0 means no
	// partial checksum.
	CsumStart, CsumOffset uint16
	// GSOType is one of the GSO constants; GSONone for a single packet.
	GSOType uint8
	// GSOSize is the payload size of each segment of a GSO frame.
	GSOSize uint16
	// HdrLen is the length of the headers of a GSO frame (Ethernet to
	// L4), a hint.
	HdrLen uint16
}

// GSO types of Offload.GSOType (VIRTIO_NET_HDR_GSO_*).
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80 // flag: the TCP segments carry ECN's CWR
)

// RxFrame is one received frame, valid until the next call to Next.
type RxFrame struct {
	// Data is the frame from the Ethernet header on: the bytes captured
	// (see Truncated). The worker may rewrite it in place.
	Data []byte
	// Len is the frame's length on the wire.
	Len int
	// CsumNotReady is TP_STATUS_CSUMNOTREADY: the TCP or UDP checksum is
	// partial (CHECKSUM_PARTIAL: the pseudo-header sum only, as veth and
	// virtio deliver locally generated packets) and must be completed
	// before the frame leaves on a wire. With VnetHdr, Offload says where
	// it is; without, the worker derives it from the L4 header.
	CsumNotReady bool
	// Truncated reports that the frame did not fit the ring's frame:
	// len(Data) < Len. It cannot be forwarded.
	Truncated bool
	// GSO reports TP_STATUS_GSO_TCP: a TCP super-frame made by GRO or a
	// local sender, larger than the MTU (Offload has its parameters when
	// VnetHdr is on).
	GSO bool
	// VLAN reports a VLAN tag that the NIC took off the frame
	// (TP_STATUS_VLAN_VALID): not ours.
	VLAN bool
	// Offload is the frame's virtio_net_hdr, with VnetHdr only.
	Offload
}

// RingStats are a ring's kernel counters since it was opened.
type RingStats struct {
	// Packets is the number of frames that passed the filter, dropped
	// ones included.
	Packets uint64
	// Drops is the number of frames lost because the ring was full.
	Drops uint64
	// FreezeQueue counts the times a V3 ring was found full (all blocks
	// with the worker).
	FreezeQueue uint64
	// Waits counts the ppoll calls of Next: the system calls of the
	// receive side.
	Waits uint64
}

// ErrRingBusy is returned by Next when another Next is running.
var ErrRingBusy = errors.New("ring: concurrent Next")
