package forward

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched transmit: one AF_PACKET socket per worker, bound to the output
// interface with protocol 0 (it receives nothing), sending the frames
// queued since the last Flush with one system call: sendmmsg(2), or a
// PACKET_TX_RING and one send(2).
//
// Frames are sent as they are: the worker has rewritten them (DR: MAC
// addresses; TUN: an outer header in a Slot). With TxConfig.VnetHdr each
// frame goes out with a virtio_net_hdr, so the kernel (or the NIC)
// completes a partial checksum (CsumStart/CsumOffset) and segments a GSO
// frame: a frame received with CsumNotReady can be forwarded without
// touching its checksum, and a GSO frame (DR) without splitting it. The
// kernel completes the checksum in software where the device cannot.

// Tx defaults.
const (
	defaultTxBatch     = 256
	defaultTxFrameSize = 2048
	defaultTxSndBuf    = 4 << 20
	maxTxBatch         = 1024 // UIO_MAXIOV, sendmmsg's limit
	// txRingDataOff is where a V2 TX ring frame's data starts: the
	// tpacket2_hdr, aligned (TPACKET2_HDRLEN - sizeof(sockaddr_ll)).
	txRingDataOff = 32
	// txAgainTries bounds the waits for socket buffer space in a Flush.
	txAgainTries = 4
	// txAgainWait is one such wait.
	txAgainWait = 1_000_000 // ns
)

// Tx sends frames in batches. It is used by one worker and is not safe
// for concurrent use, except Stats.
type Tx struct {
	fd        int
	ifindex   int
	mode      TxMode
	vnet      bool
	batch     int
	frameSize int

	// TxSendmmsg.
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec // 1 per message, 2 with vnet headers
	hdrs  []byte       // vnetHdrLen per message
	stage []byte       // batch Slots of frameSize
	n     int          // frames queued

	// TxRing.
	ring       []byte
	ringFrames int
	ringSize   int // bytes per ring frame
	ringBlock  int // bytes per ring block
	ringPer    int // frames per block
	head       int // next ring frame to fill
	queued     int // ring frames marked since the last send

	// Results of the flushes since the last Flush call.
	sent int
	err  error
	// The last error made, reused for the same errno so that a stream
	// of failures does not allocate.
	lastErr   error
	lastErrno unix.Errno
	pollfds   [1]unix.PollFd
	ts        unix.Timespec

	stSent, stDropped, stSyscalls atomic.Uint64
}

// OpenTx opens a Tx on an interface of the calling thread's network
// namespace.
func OpenTx(ifindex int, cfg *TxConfig) (*Tx, error) {
	var c TxConfig
	if cfg != nil {
		c = *cfg
	}
	c.Mode = TxMode(cmpOr(int(c.Mode), int(DefaultTxMode)))
	c.Qdisc = TxQdisc(cmpOr(int(c.Qdisc), int(DefaultTxQdisc)))
	c.Batch = min(cmpOr(c.Batch, defaultTxBatch), maxTxBatch)
	c.FrameSize = cmpOr(c.FrameSize, defaultTxFrameSize)
	c.RingFrames = cmpOr(c.RingFrames, 4*c.Batch)
	c.SndBuf = cmpOr(c.SndBuf, defaultTxSndBuf)
	if ifindex <= 0 || c.Batch < 1 || c.FrameSize < 64 || (c.Mode != TxSendmmsg && c.Mode != TxRing) {
		return nil, fmt.Errorf("open tx on interface %d: bad configuration", ifindex)
	}
	t := &Tx{fd: -1, ifindex: ifindex, mode: c.Mode, vnet: c.VnetHdr, batch: c.Batch, frameSize: c.FrameSize}
	if err := t.open(&c); err != nil {
		t.release()
		return nil, fmt.Errorf("open tx on interface %d: %w", ifindex, err)
	}
	return t, nil
}

func (t *Tx) release() {
	if t.ring != nil {
		unix.Munmap(t.ring)
		t.ring = nil
	}
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

func (t *Tx) open(c *TxConfig) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return opError("socket", err)
	}
	t.fd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, c.SndBuf); err != nil {
		return opError("setsockopt SO_SNDBUFFORCE", err)
	}
	if c.Qdisc == TxQdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return opError("setsockopt PACKET_QDISC_BYPASS", err)
		}
	}
	if t.vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return opError("setsockopt PACKET_VNET_HDR", err)
		}
	}
	if c.Mode == TxRing {
		if err := t.openRing(c); err != nil {
			return err
		}
	} else {
		t.openMmsg()
	}
	// Protocol 0: the socket sends, and receives nothing.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: t.ifindex}); err != nil {
		return opError("bind", err)
	}
	t.pollfds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	return nil
}

func (t *Tx) openMmsg() {
	per := 1
	if t.vnet {
		per = 2
	}
	t.msgs = make([]unix.Mmsghdr, t.batch)
	t.iovs = make([]unix.Iovec, per*t.batch)
	t.hdrs = make([]byte, vnetHdrLen*t.batch)
	t.stage = make([]byte, t.frameSize*t.batch)
	for i := range t.msgs {
		t.msgs[i].Hdr.Iov = &t.iovs[per*i]
		t.msgs[i].Hdr.Iovlen = uint64(per)
		if t.vnet {
			t.iovs[per*i].Base = &t.hdrs[vnetHdrLen*i]
			t.iovs[per*i].SetLen(vnetHdrLen)
		}
	}
}

func (t *Tx) openRing(c *TxConfig) error {
	fd := t.fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return opError("setsockopt PACKET_VERSION", err)
	}
	// Malformed frames are skipped rather than stopping the ring.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return opError("setsockopt PACKET_LOSS", err)
	}
	size := txRingDataOff + c.FrameSize
	if t.vnet {
		size += vnetHdrLen
	}
	size = (size + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
	page := unix.Getpagesize()
	block := (size + page - 1) &^ (page - 1)
	perBlock := block / size
	blocks := (c.RingFrames + perBlock - 1) / perBlock
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(size), Frame_nr: uint32(blocks * perBlock)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return opError("setsockopt PACKET_TX_RING", err)
	}
	mem, err := unix.Mmap(fd, 0, block*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return opError("mmap", err)
	}
	t.ring = mem
	t.ringFrames = blocks * perBlock
	t.ringSize, t.ringBlock, t.ringPer = size, block, perBlock
	return nil
}

// ringOff returns the offset of ring frame i: frames never span blocks.
func (t *Tx) ringOff(i int) int {
	return (i/t.ringPer)*t.ringBlock + (i%t.ringPer)*t.ringSize
}

// Slot returns a buffer of n bytes to build a frame in, then queue with
// Send or SendOffload (before the next Slot). It returns nil when n is
// larger than TxConfig.FrameSize, or (TxRing) when the ring has no free
// frame even after a flush.
func (t *Tx) Slot(n int) []byte {
	if n > t.frameSize || n < 0 {
		return nil
	}
	if t.mode == TxRing {
		off, ok := t.ringSlot()
		if !ok {
			return nil
		}
		return t.ring[off : off+n : off+n]
	}
	if t.n == t.batch {
		t.flush()
	}
	off := t.n * t.frameSize
	return t.stage[off : off+n : off+n]
}

// Send queues a frame, without offloads (with VnetHdr, an empty
// virtio_net_hdr). TxSendmmsg keeps a reference to frame, which must stay
// unchanged until the next Flush (or the flush Send does itself when
// Batch frames are queued); TxRing copies it, unless it was built in
// Slot. A frame that cannot be queued is dropped and counted.
func (t *Tx) Send(frame []byte) {
	t.SendOffload(frame, nil)
}

// SendOffload queues a frame with its offloads (nil: none), which the
// kernel or the NIC carries out: with VnetHdr only, else they are ignored.
// For DR, a frame received with CsumNotReady can be sent on with its
// RxFrame.Offload (VnetHdr on the ring too) and needs no checksum work in
// userspace.
func (t *Tx) SendOffload(frame []byte, o *Offload) {
	if len(frame) == 0 {
		return
	}
	if t.mode == TxRing {
		t.sendRing(frame, o)
		return
	}
	if t.n == t.batch {
		t.flush()
	}
	per := 1
	if t.vnet {
		per = 2
		h := t.hdrs[vnetHdrLen*t.n : vnetHdrLen*(t.n+1)]
		if o != nil {
			putVnetHdr(h, o)
		} else {
			clear(h)
		}
	}
	iov := &t.iovs[per*t.n+per-1]
	iov.Base = unsafe.SliceData(frame)
	iov.SetLen(len(frame))
	t.n++
}

// Flush sends the queued frames. It returns the number of frames sent
// since the last Flush (Send flushes by itself when the batch is full)
// and the first error met since then; a frame the kernel refused is
// dropped and counted, and the others are still sent.
func (t *Tx) Flush() (int, error) {
	t.flush()
	sent, err := t.sent, t.err
	t.sent, t.err = 0, nil
	return sent, err
}

func (t *Tx) flush() {
	if t.mode == TxRing {
		t.flushRing()
		return
	}
	i, tries := 0, 0
	for i < t.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd), uintptr(unsafe.Pointer(&t.msgs[i])), uintptr(t.n-i), unix.MSG_DONTWAIT, 0, 0)
		t.stSyscalls.Add(1)
		switch {
		case e == 0:
			i += int(r)
			t.sent += int(r)
			t.stSent.Add(uint64(r))
		case e == unix.EINTR:
		case e == unix.EAGAIN && tries < txAgainTries:
			tries++
			t.waitWritable()
		default:
			// The message at i failed (sendmmsg reports an error only
			// when it sent nothing): drop it and go on.
			t.setErr(e)
			t.stDropped.Add(1)
			i++
		}
	}
	// Drop references to the frames.
	per := len(t.iovs) / len(t.msgs)
	for j := 0; j < t.n; j++ {
		t.iovs[per*j+per-1].Base = nil
	}
	t.n = 0
}

// waitWritable waits up to txAgainWait for room in the socket buffer.
func (t *Tx) waitWritable() {
	t.ts = unix.NsecToTimespec(txAgainWait)
	unix.Ppoll(t.pollfds[:], &t.ts, nil)
}

// setErr records the first error since the last Flush call.
func (t *Tx) setErr(e unix.Errno) {
	if t.err != nil {
		return
	}
	if t.lastErr == nil || t.lastErrno != e {
		op := "sendmmsg"
		if t.mode == TxRing {
			op = "send"
		}
		t.lastErr, t.lastErrno = opError(op, e), e
	}
	t.err = t.lastErr
}

// ringSlot returns the data offset of the ring frame at head if it is
// free, after one flush if it is not.
func (t *Tx) ringSlot() (int, bool) {
	off := t.ringOff(t.head)
	for try := 0; ; try++ {
		st := atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.ring[off])))
		if st == unix.TP_STATUS_AVAILABLE {
			break
		}
		if try == 2 {
			return 0, false
		}
		if st == unix.TP_STATUS_SEND_REQUEST {
			t.flushRing() // ours, not sent yet: the ring went round
		} else {
			t.waitWritable() // the kernel's: in flight
		}
	}
	d := off + txRingDataOff
	if t.vnet {
		d += vnetHdrLen
	}
	return d, true
}

func (t *Tx) sendRing(frame []byte, o *Offload) {
	off, ok := t.ringSlot()
	if !ok {
		t.stDropped.Add(1)
		if t.err == nil {
			t.err = ErrTxFull
		}
		return
	}
	if len(frame) > t.frameSize {
		t.stDropped.Add(1)
		t.setErr(unix.EMSGSIZE)
		return
	}
	if unsafe.SliceData(frame) != &t.ring[off] {
		copy(t.ring[off:], frame)
	}
	base := t.ringOff(t.head)
	l := len(frame)
	if t.vnet {
		h := t.ring[off-vnetHdrLen : off]
		if o != nil {
			putVnetHdr(h, o)
		} else {
			clear(h)
		}
		l += vnetHdrLen
	}
	hdr := (*unix.Tpacket2Hdr)(unsafe.Pointer(&t.ring[base]))
	hdr.Len = uint32(l)
	atomic.StoreUint32(&hdr.Status, unix.TP_STATUS_SEND_REQUEST)
	if t.head++; t.head == t.ringFrames {
		t.head = 0
	}
	if t.queued++; t.queued == t.batch {
		t.flushRing()
	}
}

func (t *Tx) flushRing() {
	for tries := 0; t.queued > 0; {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		t.stSyscalls.Add(1)
		switch {
		case e == 0:
			t.sent += t.queued
			t.stSent.Add(uint64(t.queued))
			t.queued = 0
		case e == unix.EINTR:
		case e == unix.EAGAIN && tries < txAgainTries:
			tries++
			t.waitWritable()
		default:
			// Frames left marked go with the next flush.
			t.setErr(e)
			return
		}
	}
}

// Stats returns the counters. It may be called from any goroutine.
func (t *Tx) Stats() TxStats {
	return TxStats{Sent: t.stSent.Load(), Dropped: t.stDropped.Load(), Syscalls: t.stSyscalls.Load()}
}

// Close closes the socket; queued frames are not sent.
func (t *Tx) Close() error {
	var errs []error
	if t.ring != nil {
		if err := unix.Munmap(t.ring); err != nil {
			errs = append(errs, opError("munmap", err))
		}
		t.ring = nil
	}
	if t.fd >= 0 {
		if err := unix.Close(t.fd); err != nil {
			errs = append(errs, opError("close", err))
		}
		t.fd = -1
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close tx on interface %d: %w", t.ifindex, err)
	}
	return nil
}
