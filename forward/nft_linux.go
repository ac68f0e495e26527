package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The ingress guard keeps the host's own stack away from virtual service
// traffic while govs forwards it: an nftables table of the netdev family
// with an ingress chain on each interface that drops the packets for the
// services (destination address, protocol, destination port; port 0 of a
// service means any port). The kernel then neither answers them (no TCP
// RST, no ICMP port unreachable, when the VIP is a local address) nor
// routes them (ip_forward=1). AF_PACKET taps see frames before the ingress
// hook, so the rings still get them. ARP, VRRP, ICMP (echo, and errors)
// and everything else addressed to the host pass.
//
// Rules, the same in each chain (nft syntax):
//
//	meta protocol ip  ip daddr . meta l4proto . th dport @svc4 drop
//	meta protocol ip  ip daddr . meta l4proto @any4 drop
//	meta protocol ip6 ip6 daddr . meta l4proto . th dport @svc6 drop
//	meta protocol ip6 ip6 daddr . meta l4proto @any6 drop
//
// The sets hold the services, so a change of services is one atomic
// netlink batch that replaces the sets' elements. Non-first IP fragments
// have no ports and match only the "any port" sets: those of a
// port-specific service reach the host's stack, which keeps them in its
// reassembly queue until they time out (no answer: the first fragment,
// dropped here, never arrives there).

// Set names of the guard's table.
const (
	nftSetSvc4 = "svc4"
	nftSetAny4 = "any4"
	nftSetSvc6 = "svc6"
	nftSetAny6 = "any6"
)

// nftables registers for concatenations: 32-bit registers from
// NFT_REG32_00 (8); register 1 is the 128-bit NFT_REG_1, which is
// NFT_REG32_00 to 03.
const (
	nftReg1    = 1
	nftReg3200 = 8
)

// IngressGuard is an installed ingress guard table. Its methods are safe
// for concurrent use.
type IngressGuard struct {
	mu      sync.Mutex
	nsFD    int // a duplicate of the namespace descriptor, or -1
	table   *nftables.Table
	sets    [4]*nftables.Set // svc4, any4, svc6, any6
	removed bool
}

// nftConn returns an nftables connection to the namespace (nsFD < 0:
// the calling thread's).
func nftConn(nsFD int) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if nsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFD))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// InstallIngressGuard installs the table named table in the network
// namespace netnsFD (-1: the calling thread's), with an ingress chain on
// each interface that drops the services' packets. A table of that name
// left by an earlier run is replaced, in the same atomic batch.
// InstallIngressGuard keeps a duplicate of netnsFD until Remove.
func InstallIngressGuard(netnsFD int, table string, ifnames []string, services []FilterService) (*IngressGuard, error) {
	if table == "" || len(ifnames) == 0 {
		return nil, errors.New("install ingress guard: no table name or no interface")
	}
	g := &IngressGuard{nsFD: -1, table: &nftables.Table{Family: nftables.TableFamilyNetdev, Name: table}}
	if netnsFD >= 0 {
		fd, err := unix.FcntlInt(uintptr(netnsFD), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("install ingress guard %s: %w", table, os.NewSyscallError("fcntl", err))
		}
		g.nsFD = fd
	}
	if err := g.install(ifnames, services); err != nil {
		g.closeNS()
		return nil, fmt.Errorf("install ingress guard %s on %v: %w", table, ifnames, err)
	}
	return g, nil
}

func (g *IngressGuard) closeNS() {
	if g.nsFD >= 0 {
		unix.Close(g.nsFD)
		g.nsFD = -1
	}
}

func (g *IngressGuard) install(ifnames []string, services []FilterService) error {
	elems, err := nftElements(services)
	if err != nil {
		return err
	}
	c, err := nftConn(g.nsFD)
	if err != nil {
		return err
	}
	// Add (a no-op if it exists), delete, add: the stale table goes,
	// whether there was one or not.
	c.AddTable(g.table)
	c.DelTable(g.table)
	t := c.AddTable(g.table)
	key4 := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	keyAny4 := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto)
	key6 := nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
	keyAny6 := nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto)
	for i, s := range []struct {
		name string
		key  nftables.SetDatatype
	}{{nftSetSvc4, key4}, {nftSetAny4, keyAny4}, {nftSetSvc6, key6}, {nftSetAny6, keyAny6}} {
		set := &nftables.Set{Table: t, Name: s.name, KeyType: s.key, Concatenation: true}
		if err := c.AddSet(set, elems[i]); err != nil {
			return fmt.Errorf("set %s: %w", s.name, err)
		}
		g.sets[i] = set
	}
	accept := nftables.ChainPolicyAccept
	for _, ifname := range ifnames {
		ch := c.AddChain(&nftables.Chain{
			Name:     "ingress-" + ifname,
			Table:    t,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookIngress,
			Priority: nftables.ChainPriorityFilter,
			Device:   ifname,
			Policy:   &accept,
		})
		for i, set := range g.sets {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: nftRule(set, i >= 2, i%2 == 0)})
		}
	}
	if err := c.Flush(); err != nil {
		return err
	}
	return nil
}

// nftRule returns the expressions of the rule that drops what set holds.
func nftRule(set *nftables.Set, v6, port bool) []expr.Any {
	etherType, addrOff, addrLen := uint16(unix.ETH_P_IP), uint32(16), uint32(4)
	if v6 {
		etherType, addrOff, addrLen = unix.ETH_P_IPV6, 24, 16
	}
	next := uint32(nftReg3200 + addrLen/4) // the register after the address
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: nftReg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: nftReg1, Data: binary.BigEndian.AppendUint16(nil, etherType)},
		&expr.Payload{DestRegister: nftReg1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: addrLen},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
	}
	if port {
		e = append(e, &expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	}
	return append(e,
		&expr.Lookup{SourceRegister: nftReg1, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

// nftElements returns the elements of the four sets (svc4, any4, svc6,
// any6) for the services: concatenations with each field padded to 4
// bytes.
func nftElements(services []FilterService) ([4][]nftables.SetElement, error) {
	var elems [4][]nftables.SetElement
	seen := make(map[string]bool)
	for _, s := range services {
		if s.Proto == 0 || !s.Addr.IsValid() {
			return elems, fmt.Errorf("service %v proto %d: invalid", s.Addr, s.Proto)
		}
		a := s.Addr.Unmap()
		set := 0
		if a.Is6() {
			set = 2
		}
		key := a.AsSlice()
		key = append(key, s.Proto, 0, 0, 0)
		if s.Port != 0 {
			key = binary.BigEndian.AppendUint16(key, s.Port)
			key = append(key, 0, 0)
		} else {
			set++
		}
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		elems[set] = append(elems[set], nftables.SetElement{Key: key})
	}
	return elems, nil
}

// Update replaces the services, atomically: each packet meets the old
// set of services or the new one.
func (g *IngressGuard) Update(services []FilterService) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return fmt.Errorf("update ingress guard %s: removed", g.table.Name)
	}
	elems, err := nftElements(services)
	if err != nil {
		return fmt.Errorf("update ingress guard %s: %w", g.table.Name, err)
	}
	c, err := nftConn(g.nsFD)
	if err != nil {
		return fmt.Errorf("update ingress guard %s: %w", g.table.Name, err)
	}
	for i, set := range g.sets {
		c.FlushSet(set)
		if len(elems[i]) > 0 {
			if err := c.SetAddElements(set, elems[i]); err != nil {
				return fmt.Errorf("update ingress guard %s: %w", g.table.Name, err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("update ingress guard %s: %w", g.table.Name, err)
	}
	return nil
}

// Remove deletes the table: the host's stack sees the services' packets
// again. Further calls do nothing.
func (g *IngressGuard) Remove() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return nil
	}
	g.removed = true
	defer g.closeNS()
	if err := RemoveStaleIngressGuard(g.nsFD, g.table.Name); err != nil {
		return fmt.Errorf("remove ingress guard: %w", err)
	}
	return nil
}

// RemoveStaleIngressGuard deletes the netdev table named table in the
// network namespace netnsFD (-1: the calling thread's), if there is one:
// for a daemon that starts after one that did not stop cleanly.
func RemoveStaleIngressGuard(netnsFD int, table string) error {
	c, err := nftConn(netnsFD)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyNetdev, Name: table}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	return nil
}
