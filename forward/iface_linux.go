package forward

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interfaces and routes, from the kernel of the calling thread's network
// namespace, through netlink: what the engine needs to bind rings, write
// source MACs, check MTUs, default an interface for a VIP or a real
// server, and route TUN destinations.

// InterfaceByName returns the interface named name.
func InterfaceByName(name string) (*Interface, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	return interfaceOf(l)
}

// InterfaceByIndex returns the interface with index index.
func InterfaceByIndex(index int) (*Interface, error) {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil, fmt.Errorf("interface %d: %w", index, err)
	}
	return interfaceOf(l)
}

func interfaceOf(l netlink.Link) (*Interface, error) {
	a := l.Attrs()
	ifi := &Interface{
		Index:    a.Index,
		Name:     a.Name,
		MTU:      a.MTU,
		Up:       a.Flags&net.FlagUp != 0,
		OperUp:   a.OperState == netlink.OperUp,
		Loopback: a.Flags&net.FlagLoopback != 0,
	}
	if len(a.HardwareAddr) == 6 {
		ifi.MAC = [6]byte(a.HardwareAddr)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %q: addresses: %w", a.Name, err)
	}
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok || ad.IPNet == nil {
			continue
		}
		ones, _ := ad.Mask.Size()
		ifi.Addrs = append(ifi.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return ifi, nil
}

// InterfaceForAddr returns the interface whose addresses' subnet holds a
// (the longest such prefix; loopback and down interfaces excluded): the
// default interface of a VIP or a real server. A VIP configured as a /32
// or /128 on an interface is held by it.
func InterfaceForAddr(a netip.Addr) (*Interface, error) {
	a = a.Unmap()
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("interface for %v: %w", a, err)
	}
	var best *Interface
	bestBits := -1
	for _, l := range links {
		at := l.Attrs()
		if at.Flags&net.FlagUp == 0 || at.Flags&net.FlagLoopback != 0 {
			continue
		}
		ifi, err := interfaceOf(l)
		if err != nil {
			return nil, fmt.Errorf("interface for %v: %w", a, err)
		}
		for _, p := range ifi.Addrs {
			if p.Contains(a) && p.Bits() > bestBits {
				best, bestBits = ifi, p.Bits()
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("interface for %v: %w", a, ErrNoInterface)
	}
	return best, nil
}

// RouteTo returns the kernel's route to dst (ip route get).
func RouteTo(dst netip.Addr) (Route, error) {
	return routeWith(nil, dst)
}

// routeWith is RouteTo through h, a handle that keeps its socket (and
// its namespace) from lookup to lookup; nil opens a socket each time.
func routeWith(h *netlink.Handle, dst netip.Addr) (Route, error) {
	dst = dst.Unmap()
	get := netlink.RouteGet
	if h != nil {
		get = h.RouteGet
	}
	rs, err := get(dst.AsSlice())
	if err != nil {
		return Route{}, fmt.Errorf("route to %v: %w", dst, err)
	}
	if len(rs) == 0 {
		return Route{}, fmt.Errorf("route to %v: none", dst)
	}
	r := rs[0]
	out := Route{Ifindex: r.LinkIndex, MTU: r.MTU}
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && !gw.IsUnspecified() {
		out.Gateway = gw.Unmap()
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok {
		out.Src = src.Unmap()
	}
	return out, nil
}

// GROEnabled reports whether generic receive offload is on for the
// interface named name: then the kernel may hand AF_PACKET sockets TCP
// frames merged up to 64 KiB, larger than a TPACKET_V2 ring's frames.
func GROEnabled(name string) (bool, error) {
	const ethtoolGGRO = 0x2b // ETHTOOL_GGRO
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: ethtoolGGRO}
	var ifr [40]byte // struct ifreq: the name, then ifr_data
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return false, fmt.Errorf("interface %s: GRO: %w", name, os.NewSyscallError("ioctl SIOCETHTOOL", errno))
	}
	runtime.KeepAlive(&val)
	return val.data != 0, nil
}
