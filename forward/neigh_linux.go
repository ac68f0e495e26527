package forward

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Neighbours: the MAC addresses of next hops (DR real servers; a TUN
// destination's gateway or the destination itself) from the kernel's
// neighbour table, which a netlink subscription keeps fresh.
//
// Resolution of a missing neighbour is the kernel's own: Resolve asks the
// kernel, with an RTM_NEWNEIGH carrying NTF_USE (what `ip neigh ... use`
// and a packet sent through the stack do), to resolve the address by ARP
// or NDP, with its usual probes, retries and timers; the answer then
// arrives as a neighbour table notification. So the kernel's table stays
// the one source of truth (an ARP reply read by a userspace client would
// not enter it with arp_accept=0), both families work the same way, and no
// further raw socket is needed.
//
// Entries whose state is INCOMPLETE, FAILED or NONE, or that have no
// link-layer address, are absent from the table; STALE, DELAY and PROBE
// entries keep their MAC, as the kernel would use it. The kernel does not
// revalidate a STALE entry that only govs uses (govs's frames do not pass
// its neighbour code); a real server that changed its MAC shows up when
// the kernel next hears from it.

type neighKey struct {
	ifindex int32
	addr    Addr16
}

// neighSlots is the number of rate-limit slots of Resolve, a power of 2.
const neighSlots = 1024

// neighQueue is the length of the queue from Resolve to the owner.
const neighQueue = 256

// Neighbors is a copy of the kernel's neighbour table, kept fresh by a
// netlink subscription, which an owner goroutine runs until Close. Lookup
// and Resolve are for the packet path, from any number of goroutines.
type Neighbors struct {
	// table is the current immutable snapshot, replaced (never changed)
	// by the owner.
	table atomic.Pointer[map[neighKey][6]byte]

	ns       netns.NsHandle // the namespace at NewNeighbors
	nl       *netlink.Handle
	ifs      map[int32]bool // nil: all; immutable
	interval int64          // ResolveInterval in ns
	start    time.Time      // the origin of slots' times
	slots    [neighSlots]atomic.Int64
	resolve  chan neighKey
	log      *slog.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	resolutions, resolveErrors, resolveDropped, resubscriptions atomic.Uint64
}

// NewNeighbors reads the neighbour table of the calling thread's network
// namespace and starts the owner goroutine, which keeps it fresh and
// resolves addresses, until ctx is done or Close.
func NewNeighbors(ctx context.Context, cfg *NeighborsConfig) (*Neighbors, error) {
	var c NeighborsConfig
	if cfg != nil {
		c = *cfg
	}
	if c.ResolveInterval <= 0 {
		c.ResolveInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	n := &Neighbors{
		interval: int64(c.ResolveInterval),
		start:    time.Now(),
		resolve:  make(chan neighKey, neighQueue),
		log:      c.Logger,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if c.Ifindexes != nil {
		n.ifs = make(map[int32]bool)
		for _, i := range c.Ifindexes {
			n.ifs[int32(i)] = true
		}
	}
	empty := make(map[neighKey][6]byte)
	n.table.Store(&empty)
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("neighbours: own network namespace: %w", err)
	}
	n.ns = ns
	n.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("neighbours: netlink: %w", err)
	}
	sub, err := n.subscribe()
	if err != nil {
		n.nl.Close()
		ns.Close()
		return nil, err
	}
	n.publish(sub.dump)
	go n.run(ctx, sub)
	return n, nil
}

// subscription is one neighbour subscription with the dump that followed
// it: the owner applies the dump, then the updates.
type subscription struct {
	updates chan netlink.NeighUpdate
	done    chan struct{} // closing it ends the subscription
	dump    map[neighKey][6]byte
}

// subscribe subscribes, then dumps the table: an update that races with
// the dump is in both, and applied after it.
func (n *Neighbors) subscribe() (*subscription, error) {
	s := &subscription{updates: make(chan netlink.NeighUpdate, 1024), done: make(chan struct{})}
	err := netlink.NeighSubscribeWithOptions(s.updates, s.done, netlink.NeighSubscribeOptions{
		Namespace: &n.ns,
		ErrorCallback: func(err error) {
			select {
			case <-s.done: // ended on purpose: the socket was closed
			default:
				n.log.Warn("neighbour subscription", "err", err)
			}
		},
	})
	if err != nil {
		close(s.done)
		return nil, fmt.Errorf("neighbours: subscribe: %w", err)
	}
	s.dump = make(map[neighKey][6]byte)
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		list, err := n.nl.NeighList(0, fam)
		if err != nil {
			s.end()
			return nil, fmt.Errorf("neighbours: list: %w", err)
		}
		for i := range list {
			n.apply(s.dump, unix.RTM_NEWNEIGH, &list[i])
		}
	}
	return s, nil
}

// end stops the subscription and waits for its reader to finish.
func (s *subscription) end() {
	close(s.done)
	for range s.updates {
	}
}

// apply applies one neighbour message to m, and reports a change.
func (n *Neighbors) apply(m map[neighKey][6]byte, typ uint16, nb *netlink.Neigh) bool {
	if nb.Family != unix.AF_INET && nb.Family != unix.AF_INET6 {
		return false // bridge FDB entries share the notifications
	}
	if n.ifs != nil && !n.ifs[int32(nb.LinkIndex)] {
		return false
	}
	a, ok := netip.AddrFromSlice(nb.IP)
	if !ok {
		return false
	}
	k := neighKey{ifindex: int32(nb.LinkIndex), addr: Addr16From(a)}
	usable := typ == unix.RTM_NEWNEIGH && len(nb.HardwareAddr) == 6 &&
		nb.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 && nb.State != netlink.NUD_NONE &&
		nb.Flags&netlink.NTF_PROXY == 0
	old, had := m[k]
	if !usable {
		if had {
			delete(m, k)
		}
		return had
	}
	mac := [6]byte(nb.HardwareAddr)
	m[k] = mac
	return !had || old != mac
}

func (n *Neighbors) run(ctx context.Context, sub *subscription) {
	defer close(n.done)
	defer n.nl.Close()
	defer n.ns.Close()
	cur := sub.dump // published by NewNeighbors
	for {
		select {
		case <-ctx.Done():
			sub.end()
			return
		case <-n.stop:
			sub.end()
			return
		case u, ok := <-sub.updates:
			if !ok {
				// The reader stopped: the socket overran or failed.
				// Start again from a fresh dump.
				close(sub.done)
				for {
					var err error
					if sub, err = n.subscribe(); err == nil {
						break
					}
					n.log.Warn("neighbour subscription", "err", err)
					select {
					case <-ctx.Done():
						return
					case <-n.stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
				n.resubscriptions.Add(1)
				cur = sub.dump
				n.publish(cur)
				continue
			}
			changed := n.apply(cur, u.Type, &u.Neigh)
			// Apply what else is queued before publishing.
			for more := true; more; {
				select {
				case u, ok := <-sub.updates:
					if !ok {
						more = false
						break
					}
					changed = n.apply(cur, u.Type, &u.Neigh) || changed
				default:
					more = false
				}
			}
			if changed {
				n.publish(cur)
			}
		case k := <-n.resolve:
			if _, ok := cur[k]; ok {
				continue // resolved meanwhile
			}
			n.ask(k)
		}
	}
}

// publish makes a copy of m the table that Lookup reads.
func (n *Neighbors) publish(m map[neighKey][6]byte) {
	c := maps.Clone(m)
	n.table.Store(&c)
}

// ask asks the kernel to resolve an address (NTF_USE).
func (n *Neighbors) ask(k neighKey) {
	a := k.addr.Addr()
	fam := unix.AF_INET6
	if a.Is4() {
		fam = unix.AF_INET
	}
	err := n.nl.NeighSet(&netlink.Neigh{
		LinkIndex: int(k.ifindex),
		Family:    fam,
		IP:        net.IP(a.AsSlice()),
		Flags:     netlink.NTF_USE,
	})
	if err != nil {
		n.resolveErrors.Add(1)
		n.log.Warn("neighbour resolution", "ifindex", k.ifindex, "addr", a, "err", err)
		return
	}
	n.resolutions.Add(1)
}

// Lookup returns the MAC address of addr on the interface, if the kernel
// has a usable one. It takes no lock and allocates nothing.
func (n *Neighbors) Lookup(ifindex int, addr Addr16) ([6]byte, bool) {
	mac, ok := (*n.table.Load())[neighKey{ifindex: int32(ifindex), addr: addr}]
	return mac, ok
}

// Resolve asks for the resolution of a missing neighbour, without
// blocking: the request goes to the owner goroutine, at most once per
// ResolveInterval for an address (Resolve is called for each packet to an
// unresolved real server), and the answer arrives in the table. It
// allocates nothing and takes no lock, except the queue's when a request
// is due.
func (n *Neighbors) Resolve(ifindex int, addr Addr16) {
	k := neighKey{ifindex: int32(ifindex), addr: addr}
	slot := &n.slots[neighHash(k)&(neighSlots-1)]
	now := int64(time.Since(n.start)) + 1
	last := slot.Load()
	if last != 0 && now-last < n.interval {
		return
	}
	if !slot.CompareAndSwap(last, now) {
		return // another worker asks
	}
	select {
	case n.resolve <- k:
	default:
		n.resolveDropped.Add(1)
	}
}

// neighHash mixes a key into a slot number (FNV-1a over its words).
func neighHash(k neighKey) uint64 {
	h := uint64(14695981039346656037)
	h = (h ^ uint64(uint32(k.ifindex))) * 1099511628211
	for i := 0; i < 16; i += 4 {
		w := uint64(k.addr[i]) | uint64(k.addr[i+1])<<8 | uint64(k.addr[i+2])<<16 | uint64(k.addr[i+3])<<24
		h = (h ^ w) * 1099511628211
	}
	return h ^ h>>29
}

// Stats returns the counters.
func (n *Neighbors) Stats() NeighborStats {
	return NeighborStats{
		Entries:         len(*n.table.Load()),
		Resolutions:     n.resolutions.Load(),
		ResolveErrors:   n.resolveErrors.Load(),
		ResolveDropped:  n.resolveDropped.Load(),
		Resubscriptions: n.resubscriptions.Load(),
	}
}

// Close stops the owner goroutine and the subscription, and waits for
// them. Lookup keeps answering from the last table. Close is idempotent.
func (n *Neighbors) Close() error {
	n.closeOnce.Do(func() { close(n.stop) })
	<-n.done
	return nil
}
