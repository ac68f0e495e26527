package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// SystemNetwork returns the Linux network: raw IPv4 sockets for adverts,
// netlink for addresses and links, AF_PACKET for gratuitous ARPs. With
// netnsFD >= 0 everything acts in that network namespace (tests run a
// Manager inside a netsim host this way); -1 means the process's own.
func SystemNetwork(netnsFD int) (Network, error) {
	n := &linuxNetwork{nsFD: netnsFD, garp: map[string]*packet.Conn{}}
	var err error
	if netnsFD >= 0 {
		n.nl, err = netlink.NewHandleAt(netns.NsHandle(netnsFD))
	} else {
		n.nl, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	return n, nil
}

type linuxNetwork struct {
	nsFD int
	nl   *netlink.Handle

	mu   sync.Mutex // guards garp
	garp map[string]*packet.Conn
}

// do runs fn in the network's namespace.
func (n *linuxNetwork) do(fn func() error) error {
	if n.nsFD < 0 {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- os.NewSyscallError("open", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- os.NewSyscallError("setns", err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) != nil {
			done <- err // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

func (n *linuxNetwork) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for name, c := range n.garp {
		errs = append(errs, c.Close())
		delete(n.garp, name)
	}
	n.nl.Close()
	return errors.Join(errs...)
}

func (n *linuxNetwork) Interface(name string) (Link, error) {
	l, err := n.nl.LinkByName(name)
	if err != nil {
		return Link{}, fmt.Errorf("interface %q: %w", name, err)
	}
	a := l.Attrs()
	out := Link{Index: a.Index, MAC: a.HardwareAddr, Up: linkUp(a)}
	addrs, err := n.nl.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return Link{}, fmt.Errorf("interface %q: addresses: %w", name, err)
	}
	var secondary []netip.Addr
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		if ad.Flags&unix.IFA_F_SECONDARY != 0 {
			secondary = append(secondary, ip.Unmap())
		} else {
			out.Addrs = append(out.Addrs, ip.Unmap())
		}
	}
	out.Addrs = append(out.Addrs, secondary...)
	return out, nil
}

func linkUp(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0
}

func (n *linuxNetwork) AddAddr(ifname string, v config.VIP) error {
	l, addr, err := n.vipAddr(ifname, v)
	if err != nil {
		return err
	}
	if err := n.nl.AddrAdd(l, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", v.Prefix, ifname, err)
	}
	return nil
}

func (n *linuxNetwork) DelAddr(ifname string, v config.VIP) error {
	l, addr, err := n.vipAddr(ifname, v)
	if err != nil {
		return err
	}
	if err := n.nl.AddrDel(l, addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("remove %s from %s: %w", v.Prefix, ifname, err)
	}
	return nil
}

var scopes = map[config.Scope]netlink.Scope{
	config.ScopeGlobal: netlink.SCOPE_UNIVERSE, config.ScopeSite: netlink.SCOPE_SITE,
	config.ScopeLink: netlink.SCOPE_LINK, config.ScopeHost: netlink.SCOPE_HOST, config.ScopeNowhere: netlink.SCOPE_NOWHERE,
}

// vipAddr is the netlink address of a virtual_ipaddress entry, as
// keepalived's netlink_ipaddress builds it.
func (n *linuxNetwork) vipAddr(ifname string, v config.VIP) (netlink.Link, *netlink.Addr, error) {
	if v.Dev != "" {
		ifname = v.Dev
	}
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	p := v.Prefix
	addr := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Label: v.Label,
		Scope: int(scopes[v.Scope]),
	}
	if v.Broadcast.IsValid() {
		addr.Broadcast = v.Broadcast.AsSlice()
	}
	if v.Peer.IsValid() {
		addr.Peer = &net.IPNet{IP: v.Peer.AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	}
	if v.NoDAD {
		addr.Flags |= unix.IFA_F_NODAD
	}
	if v.NoPrefixRoute {
		addr.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if v.Home {
		addr.Flags |= unix.IFA_F_HOMEADDRESS
	}
	return l, addr, nil
}

// SendGARP sends keepalived's gratuitous ARP: an ARP request from the
// interface's MAC with sender and target address addr, target MAC
// ff:ff:ff:ff:ff:ff, in a 42-byte broadcast frame.
func (n *linuxNetwork) SendGARP(ifname string, addr netip.Addr) error {
	c, ifi, err := n.garpConn(ifname)
	if err != nil {
		return err
	}
	frame, err := garpFrame(ifi.HardwareAddr, addr)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: ethBroadcast}); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", addr, ifname, err)
	}
	return nil
}

var ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garpFrame builds the Ethernet frame of a gratuitous ARP (frozen: as
// keepalived's send_gratuitous_arp_immediate, see vec-garp.pcap).
func garpFrame(mac net.HardwareAddr, addr netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, addr, ethBroadcast, addr)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP for %s: %w", addr, err)
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 14, 14+len(body))
	copy(frame, ethBroadcast)
	copy(frame[6:], mac)
	binary.BigEndian.PutUint16(frame[12:], unix.ETH_P_ARP)
	return append(frame, body...), nil
}

func (n *linuxNetwork) garpConn(ifname string) (*packet.Conn, *net.Interface, error) {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	ifi := &net.Interface{Index: l.Attrs().Index, Name: ifname, HardwareAddr: l.Attrs().HardwareAddr, MTU: l.Attrs().MTU}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.garp[ifname]; c != nil {
		return c, ifi, nil
	}
	var c *packet.Conn
	err = n.do(func() error {
		var err error
		// A filter that takes nothing: the socket only sends.
		c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: 0}}})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gratuitous ARP socket on %s: %w", ifname, err)
	}
	n.garp[ifname] = c
	return c, ifi, nil
}

func (n *linuxNetwork) WatchLinks(ctx context.Context, fn func(name string, up bool)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}
	if n.nsFD >= 0 {
		h := netns.NsHandle(n.nsFD)
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("subscribe to link updates: %w", err)
	}
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				return errors.New("link updates ended")
			}
			if a := u.Attrs(); a != nil {
				fn(a.Name, u.Header.Type != unix.RTM_DELLINK && linkUp(a))
			}
		}
	}
}

// Listen opens keepalived's pair of raw sockets for spec (vrrp.c
// open_vrrp_read_socket and open_vrrp_send_socket).
func (n *linuxNetwork) Listen(spec SocketSpec) (net.PacketConn, error) {
	var c *rawConn
	err := n.do(func() error {
		var err error
		c, err = openRaw(spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func openRaw(spec SocketSpec) (*rawConn, error) {
	var ifindex int
	if spec.Interface != "" {
		ifi, err := net.InterfaceByName(spec.Interface)
		if err != nil {
			return nil, fmt.Errorf("advert socket: %w", err)
		}
		ifindex = ifi.Index
	}
	rfd, err := rawSocket(spec.Proto)
	if err != nil {
		return nil, err
	}
	if err := setupRecv(rfd, spec, ifindex); err != nil {
		unix.Close(rfd)
		return nil, err
	}
	sfd, err := rawSocket(spec.Proto)
	if err != nil {
		unix.Close(rfd)
		return nil, err
	}
	if err := setupSend(sfd, spec, ifindex); err != nil {
		unix.Close(rfd)
		unix.Close(sfd)
		return nil, err
	}
	c := &rawConn{recv: os.NewFile(uintptr(rfd), "vrrp-recv"), send: os.NewFile(uintptr(sfd), "vrrp-send"), multicast: spec.Group.IsValid()}
	if c.rrc, err = c.recv.SyscallConn(); err == nil {
		c.src, err = c.send.SyscallConn()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func rawSocket(proto int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		return -1, &net.OpError{Op: "socket", Net: "ip4", Err: os.NewSyscallError("socket", err)}
	}
	return fd, nil
}

func sockErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "ip4", Err: os.NewSyscallError("setsockopt", err)}
}

func setupRecv(fd int, spec SocketSpec, ifindex int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return sockErr("multicast all", err)
	}
	if spec.Group.IsValid() {
		mreq := &unix.IPMreqn{Multiaddr: spec.Group.As4(), Ifindex: int32(ifindex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return sockErr(fmt.Sprintf("join %s on %s", spec.Group, spec.Interface), err)
		}
		// Bound to the group, the socket takes no unicast adverts.
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: spec.Group.As4()}); err != nil {
			return &net.OpError{Op: "bind", Net: "ip4", Err: os.NewSyscallError("bind", err)}
		}
	} else if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: spec.Unicast.As4()}); err != nil {
		return &net.OpError{Op: "bind", Net: "ip4", Err: os.NewSyscallError("bind", fmt.Errorf("%s: %w", spec.Unicast, err))}
	}
	if spec.Interface != "" {
		if err := unix.BindToDevice(fd, spec.Interface); err != nil {
			return sockErr("bind to device", err)
		}
	}
	return nil
}

func setupSend(fd int, spec SocketSpec, ifindex int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		return sockErr("header included", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return sockErr("multicast all", err)
	}
	if spec.Interface != "" {
		if err := unix.BindToDevice(fd, spec.Interface); err != nil {
			return sockErr("bind to device", err)
		}
		if spec.Group.IsValid() {
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
				return sockErr("multicast interface", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
				return sockErr("multicast loop", err)
			}
		}
	}
	// The send socket receives nothing.
	prog := &unix.SockFprog{Len: 1, Filter: &[]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog); err != nil {
		return sockErr("attach filter", err)
	}
	return nil
}

// rawConn is a receiving and a sending raw socket as one net.PacketConn:
// whole IPv4 packets both ways.
type rawConn struct {
	recv, send *os.File
	rrc, src   interface {
		Read(func(uintptr) bool) error
		Write(func(uintptr) bool) error
	}
	multicast bool
}

var _ net.PacketConn = (*rawConn)(nil)

func (c *rawConn) ReadFrom(b []byte) (int, net.Addr, error) {
	var n int
	var from unix.Sockaddr
	var err error
	rerr := c.rrc.Read(func(fd uintptr) bool {
		n, from, err = unix.Recvfrom(int(fd), b, 0)
		return err != unix.EAGAIN
	})
	if rerr != nil {
		return 0, nil, rerr
	}
	if err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: "ip4", Err: os.NewSyscallError("recvfrom", err)}
	}
	var addr net.Addr
	if sa, ok := from.(*unix.SockaddrInet4); ok {
		addr = &net.IPAddr{IP: net.IP(sa.Addr[:])}
	}
	return n, addr, nil
}

func (c *rawConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ip, ok := addr.(*net.IPAddr)
	if !ok || ip.IP.To4() == nil {
		return 0, &net.OpError{Op: "write", Net: "ip4", Addr: addr, Err: errors.New("not an IPv4 address")}
	}
	sa := &unix.SockaddrInet4{Addr: [4]byte(ip.IP.To4())}
	flags := 0
	if c.multicast {
		flags = unix.MSG_DONTROUTE
	}
	var err error
	werr := c.src.Write(func(fd uintptr) bool {
		err = unix.Sendto(int(fd), b, flags, sa)
		return err != unix.EAGAIN
	})
	if werr != nil {
		return 0, werr
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "ip4", Addr: addr, Err: os.NewSyscallError("sendto", err)}
	}
	return len(b), nil
}

func (c *rawConn) Close() error {
	return errors.Join(c.recv.Close(), c.send.Close())
}

func (c *rawConn) LocalAddr() net.Addr { return &net.IPAddr{} }

func (c *rawConn) SetDeadline(t time.Time) error {
	return errors.Join(c.recv.SetDeadline(t), c.send.SetDeadline(t))
}
func (c *rawConn) SetReadDeadline(t time.Time) error  { return c.recv.SetReadDeadline(t) }
func (c *rawConn) SetWriteDeadline(t time.Time) error { return c.send.SetWriteDeadline(t) }
