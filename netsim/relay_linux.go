package netsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IPIPRelayConfig describes the virtual service an IPIPRelay serves.
type IPIPRelayConfig struct {
	// Link is the relay host's interface where clients' packets arrive
	// and encapsulated packets leave; its address is the outer source.
	Link *Link
	// VIP, Protocol (unix.IPPROTO_TCP or unix.IPPROTO_UDP; 0 means TCP)
	// and Port select the packets to relay. IPv4 only.
	VIP      netip.Addr
	Protocol int
	Port     uint16
	// Targets are the real servers; a hash of the client's address and
	// port picks one, so a connection sticks to it.
	Targets []Hop
}

// IPIPRelay is a minimal userspace TUN-mode balancer, a reference for
// tests: it reads frames for one virtual service from an AF_PACKET socket,
// completes partial checksums, and sends each packet inside an IPIP header
// to a real server. An nftables ingress rule keeps the relay host's own
// stack from answering those packets. It stops at Close or the lab's Close.
type IPIPRelay struct {
	cfg  IPIPRelayConfig
	file *os.File // the AF_PACKET socket
	drop *ingressDrop
	done chan struct{} // closed when the loop has returned

	forwarded, completed, tooBig, malformed atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// relayMTU is the largest outer packet the relay sends: the segment's MTU.
const relayMTU = 1500

// StartIPIPRelay starts an IPIPRelay on the host.
func (h *Host) StartIPIPRelay(cfg IPIPRelayConfig) (*IPIPRelay, error) {
	if cfg.Protocol == 0 {
		cfg.Protocol = unix.IPPROTO_TCP
	}
	switch {
	case cfg.Link == nil || cfg.Link.Host != h:
		return nil, fmt.Errorf("host %s: ipip relay: link is not the host's", h.name)
	case !cfg.VIP.Is4():
		return nil, fmt.Errorf("host %s: ipip relay: VIP %v is not IPv4", h.name, cfg.VIP)
	case len(cfg.Targets) == 0:
		return nil, fmt.Errorf("host %s: ipip relay: no targets", h.name)
	}
	for _, t := range cfg.Targets {
		if !t.Addr.Is4() || len(t.MAC) != 6 {
			return nil, fmt.Errorf("host %s: ipip relay: bad target %v %v", h.name, t.Addr, t.MAC)
		}
	}
	r := &IPIPRelay{cfg: cfg, done: make(chan struct{})}
	vip := cfg.VIP.As4()
	table := fmt.Sprintf("netsim_relay_%x_%d_%d", vip, cfg.Protocol, cfg.Port)
	drop, err := addIngressDrop(h.ns, table, cfg.Link.Name, cfg.VIP, byte(cfg.Protocol), cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("host %s: ipip relay: %w", h.name, err)
	}
	r.drop = drop
	if err := h.Do(func() error {
		r.file, err = openPacketSocket(cfg.Link.Index)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("host %s: ipip relay: %w", h.name, err), drop.remove())
	}
	go r.loop()
	if err := h.lab.onClose("ipip relay on "+h.name, r.Close); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// openPacketSocket opens an AF_PACKET socket for all protocols, bound to
// the interface, reporting partial checksums in PACKET_AUXDATA, and
// non-blocking so that the runtime's poller serves it and Close stops it.
func openPacketSocket(ifindex int) (*os.File, error) {
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setsockopt PACKET_AUXDATA", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	return os.NewFile(uintptr(fd), "packet"), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (r *IPIPRelay) loop() {
	defer close(r.done)
	rc, err := r.file.SyscallConn()
	if err != nil {
		return
	}
	m := relayMatch{vip: r.cfg.VIP, proto: byte(r.cfg.Protocol), port: r.cfg.Port}
	to := &unix.SockaddrLinklayer{Ifindex: r.cfg.Link.Index, Protocol: htons(unix.ETH_P_IP), Halen: 6}
	buf := make([]byte, 65536)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	out := make([]byte, 0, 65536)
	var id uint16
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		pkt, hash, v := parseFrame(buf[:n], m)
		switch v {
		case relayNotMatched:
			continue
		case relayMalformed:
			r.malformed.Add(1)
			continue
		}
		if csumNotReady(oob[:oobn]) {
			if err := completeL4Checksum(pkt); err != nil {
				r.malformed.Add(1)
				continue
			}
			r.completed.Add(1)
		}
		if ipv4HeaderLen+len(pkt) > relayMTU {
			r.tooBig.Add(1)
			continue
		}
		hop := r.cfg.Targets[hash%uint32(len(r.cfg.Targets))]
		id++
		out = encapIPIP(out[:0], pkt, r.cfg.Link.MAC, r.cfg.Link.Addr4, hop, id)
		copy(to.Addr[:], hop.MAC)
		var werr error
		err = rc.Write(func(fd uintptr) bool {
			werr = unix.Sendto(int(fd), out, 0, to)
			return werr != unix.EAGAIN
		})
		if err != nil {
			return
		}
		if werr == nil {
			r.forwarded.Add(1)
		}
	}
}

// csumNotReady reports whether PACKET_AUXDATA says the packet's transport
// checksum is partial.
func csumNotReady(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA &&
			len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			status := binary.NativeEndian.Uint32(m.Data[0:4]) // tp_status comes first
			return status&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return false
}

// RelayStats counts what an IPIPRelay did.
type RelayStats struct {
	// Forwarded packets were encapsulated and sent.
	Forwarded uint64
	// ChecksumsCompleted counts forwarded packets that arrived with a
	// partial checksum which the relay completed.
	ChecksumsCompleted uint64
	// TooBig packets would have made an outer packet over the MTU.
	TooBig uint64
	// Malformed packets were for the service but could not be parsed.
	Malformed uint64
}

// Stats returns the relay's counters.
func (r *IPIPRelay) Stats() RelayStats {
	return RelayStats{
		Forwarded:          r.forwarded.Load(),
		ChecksumsCompleted: r.completed.Load(),
		TooBig:             r.tooBig.Load(),
		Malformed:          r.malformed.Load(),
	}
}

// Close stops the relay and removes its nftables rule.
func (r *IPIPRelay) Close() error {
	r.closeOnce.Do(func() {
		err := r.file.Close()
		<-r.done
		r.closeErr = errors.Join(err, r.drop.remove())
	})
	return r.closeErr
}
