package netsim

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ingressDrop is an nftables netdev table with one rule on an interface's
// ingress hook that drops IPv4 packets to addr, protocol proto, destination
// port port. AF_PACKET sockets bound to all protocols still see these
// packets: taps come before the ingress hook. So a userspace forwarder
// takes them over and the host's own stack never answers them.
type ingressDrop struct {
	ns    *netNS
	table *nftables.Table
}

func addIngressDrop(ns *netNS, table, ifname string, addr netip.Addr, proto byte, port uint16) (*ingressDrop, error) {
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd))
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: table})
	ch := c.AddChain(&nftables.Chain{
		Name:     "ingress",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookIngress,
		Priority: nftables.ChainPriorityFilter,
		Device:   ifname,
	})
	a := addr.As4()
	c.AddRule(&nftables.Rule{
		Table: t,
		Chain: ch,
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IP)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
			&expr.Verdict{Kind: expr.VerdictDrop},
		},
	})
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("nftables: add table %s on %s: %w", table, ifname, err)
	}
	return &ingressDrop{ns: ns, table: t}, nil
}

func (d *ingressDrop) remove() error {
	c, err := nftables.New(nftables.WithNetNSFd(d.ns.fd))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	c.DelTable(d.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table %s: %w", d.table.Name, err)
	}
	return nil
}
