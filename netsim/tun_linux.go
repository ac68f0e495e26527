package netsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Names of the devices that hold a TUN real server's VIPs.
const (
	kernelTunnelDevice = "tunl0" // the ipip module's catch-all device
	userTunnelDevice   = "vip0"  // netsim's TUN device
)

// Decap receives a TUN real server's IPIP packets. With the kernel's ipip
// module it is only a record; without it, it is the userspace decapsulator:
// a raw IPv4 socket for protocol 4 whose packets, outer header stripped,
// go into a TUN device that holds the VIPs.
type Decap struct {
	// Kernel is true when the kernel's ipip device decapsulates.
	Kernel bool
	// Device is the interface that holds the VIPs: tunl0 or vip0.
	Device string

	raw     *net.IPConn
	tun     *os.File
	done    chan struct{} // closed when the loop has returned; nil for Kernel
	packets atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// TUNRealServer makes the host an IP tunnelling real server for the IPv4
// VIPs: it accepts IPv4-in-IPv4 (RFC 2003) packets addressed to any of its
// addresses, delivers the inner packets locally, and answers clients
// directly from the VIP. It uses the kernel's ipip device (tunl0) when the
// kernel has one; otherwise it decapsulates in userspace. Either way the
// VIPs sit on the tunnel device, reverse path filtering is off for it, and
// arp_ignore=1, arp_announce=2 keep the host from answering ARP for them.
// The lab stops the decapsulator at Close.
//
// A raw IPv4 socket for protocol 4 receives the packets, rather than
// AF_PACKET: the kernel has then checked and reassembled the outer packet,
// and, as a raw socket took it, does not answer "protocol unreachable".
func (h *Host) TUNRealServer(vips ...netip.Addr) (*Decap, error) {
	for _, v := range vips {
		if !v.Is4() {
			return nil, fmt.Errorf("host %s: TUN real server: VIP %v: only IPv4 in IPv4 is supported", h.name, v)
		}
	}
	if err := h.setSysctls(realServerSysctls()); err != nil {
		return nil, fmt.Errorf("host %s: TUN real server: %w", h.name, err)
	}
	d, err := h.openDecap()
	if err != nil {
		return nil, fmt.Errorf("host %s: TUN real server: %w", h.name, err)
	}
	if err := h.lab.onClose("decapsulator on "+h.name, d.Close); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	sysctls := [][2]string{
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.conf." + d.Device + ".rp_filter", "0"},
	}
	if err := h.setSysctls(sysctls); err != nil {
		return nil, fmt.Errorf("host %s: TUN real server: %w", h.name, err)
	}
	link, err := h.link(d.Device)
	if err != nil {
		return nil, err
	}
	if err := h.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("host %s: set %s up: %w", h.name, d.Device, err)
	}
	for _, v := range vips {
		if err := h.AddAddr(d.Device, netip.PrefixFrom(v, 32)); err != nil {
			return nil, fmt.Errorf("TUN real server: %w", err)
		}
	}
	if !d.Kernel {
		go d.loop()
	}
	h.lab.log.Debug("TUN real server", "host", h.name, "device", d.Device, "kernel", d.Kernel)
	return d, nil
}

// openDecap finds the kernel's ipip device, asking for it once (which
// loads the ipip module where there is one), or else opens the userspace
// decapsulator.
func (h *Host) openDecap() (*Decap, error) {
	if _, err := h.nl.LinkByName(kernelTunnelDevice); err != nil {
		// Fails on kernels without ipip; where the module exists, loading
		// it creates tunl0 in every namespace, and this add then fails
		// with "exists".
		h.nl.LinkAdd(&netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: kernelTunnelDevice}})
	}
	if _, err := h.nl.LinkByName(kernelTunnelDevice); err == nil {
		return &Decap{Kernel: true, Device: kernelTunnelDevice}, nil
	}
	d := &Decap{Device: userTunnelDevice, done: make(chan struct{})}
	err := h.Do(func() error {
		tun, err := openTUN(userTunnelDevice)
		if err != nil {
			return err
		}
		raw, err := net.ListenIP("ip4:4", nil)
		if err != nil {
			tun.Close()
			return err
		}
		d.tun, d.raw = tun, raw
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("userspace decapsulator: %w", err)
	}
	return d, nil
}

// openTUN creates a TUN device without packet information headers in the
// calling thread's namespace.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req [unix.IFNAMSIZ + 64]byte // struct ifreq
	copy(req[:unix.IFNAMSIZ-1], name)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("create TUN device %s: %w", name, os.NewSyscallError("ioctl TUNSETIFF", errno))
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

func (d *Decap) loop() {
	defer close(d.done)
	buf := make([]byte, 65536)
	for {
		// ReadFrom on an ip4 IPConn strips the outer IPv4 header (Read
		// does not).
		n, _, err := d.raw.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		// Nested IPIP would come back to this socket: drop it, or a
		// packet could circle for ever.
		if err != nil || n < ipv4HeaderLen || buf[0]>>4 != 4 || buf[9] == protoIPIP {
			continue
		}
		if _, err := d.tun.Write(buf[:n]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		d.packets.Add(1)
	}
}

// Packets returns how many packets the userspace decapsulator delivered;
// always 0 with the kernel's device.
func (d *Decap) Packets() uint64 { return d.packets.Load() }

// Close stops the userspace decapsulator and removes its TUN device.
func (d *Decap) Close() error {
	d.closeOnce.Do(func() {
		if d.Kernel {
			return
		}
		err := d.raw.Close()
		<-d.done
		d.closeErr = errors.Join(err, d.tun.Close())
	})
	return d.closeErr
}
