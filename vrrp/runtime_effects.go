package vrrp

import (
	"net"
	"strconv"
	"time"

	"github.com/govs-lb/govs/config"
)

var _ Effects = (*runner)(nil)

// SendAdvert builds and sends an advert as keepalived's vrrp_send_adv: one
// IP ID per advert (the same for every unicast peer), TTL 255 to the
// group or unicast_ttl to peers.
func (r *runner) SendAdvert(inst string, prio uint8, seq uint32) {
	ir := r.insts[inst]
	if ir == nil || ir.sock == nil {
		return
	}
	ir.ipID++
	if ir.ipID == 0 { // the kernel would fill in 0
		ir.ipID = 1
	}
	p := &Packet{TOS: tosNetControl, ID: ir.ipID, TTL: 255, Src: ir.src,
		Advert: Advert{Version: uint8(ir.cfg.Version), VRID: uint8(ir.cfg.VRID), Priority: prio,
			AuthType: ir.auth, Interval: ir.cfg.AdvertInt}}
	for _, v := range ir.cfg.VIPs {
		p.Addrs = append(p.Addrs, v.Prefix.Addr())
	}
	if ir.auth == AuthPass {
		copy(p.Auth[:], ir.key)
	}
	if ir.auth == AuthAH {
		s := ir.src.As4()
		p.AH = &AH{SPI: uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3]), Seq: seq}
	}
	send := func() {
		b, err := p.Marshal(ir.key)
		if err != nil {
			r.m.log.Error("cannot build advert", "instance", inst, "err", err)
			return
		}
		if _, err := ir.sock.conn.WriteTo(b, &net.IPAddr{IP: p.Dst.AsSlice()}); err != nil {
			r.m.log.Warn("cannot send advert", "instance", inst, "to", p.Dst, "err", err)
		}
	}
	if ir.dst.IsValid() {
		p.Dst = ir.dst
		send()
		return
	}
	p.TTL = uint8(ir.cfg.UnicastTTL)
	for _, u := range ir.cfg.UnicastPeers {
		p.Dst = u.Addr
		send()
	}
}

// SetAddrs adds or removes virtual_ipaddress and
// virtual_ipaddress_excluded entries, telling Options.Forward first when
// they come and last when they go.
func (r *runner) SetAddrs(inst string, on bool) {
	ir := r.insts[inst]
	if ir == nil {
		return
	}
	if fwd := r.m.opts.Forward; fwd != nil {
		if on {
			fwd(inst, true)
		} else {
			defer fwd(inst, false)
		}
	}
	for _, list := range [][]config.VIP{ir.cfg.VIPs, ir.cfg.ExcludedVIPs} {
		for _, v := range list {
			var err error
			if on {
				err = r.net.AddAddr(ir.cfg.Interface, v)
			} else {
				err = r.net.DelAddr(ir.cfg.Interface, v)
			}
			if err != nil {
				r.m.log.Error("virtual address", "instance", inst, "add", on, "err", err)
			}
		}
	}
}

// SendGARPs sends repeat rounds of gratuitous ARPs, one per IPv4 address
// and round, as vrrp_send_link_update.
func (r *runner) SendGARPs(inst string, repeat int) {
	ir := r.insts[inst]
	if ir == nil {
		return
	}
	for range repeat {
		for _, list := range [][]config.VIP{ir.cfg.VIPs, ir.cfg.ExcludedVIPs} {
			for _, v := range list {
				if !v.Prefix.Addr().Is4() {
					continue
				}
				dev := v.Dev
				if dev == "" {
					dev = ir.cfg.Interface
				}
				if err := r.net.SendGARP(dev, v.Prefix.Addr()); err != nil {
					r.m.log.Warn("gratuitous ARP", "instance", inst, "err", err)
					return
				}
			}
		}
	}
}

// Notify runs the notify scripts of a state change, as keepalived's
// send_instance_notifies and send_group_notifies: the state's own script
// (notify_master, ...) with its arguments, then the generic notify script
// with TYPE NAME STATE PRIORITY appended. notify_stop gets 1 s.
func (r *runner) Notify(n Notification) {
	var ns *config.Notify
	if n.Group {
		for _, ir := range r.insts {
			if ir.group != nil && ir.group.Name == n.Name {
				ns = &ir.group.Notify
				break
			}
		}
	} else if ir := r.insts[n.Name]; ir != nil {
		ns = &ir.cfg.Notify
	}
	if ns == nil {
		return
	}
	if n.Event == EventMasterRxLowerPri {
		r.notify(ns.MasterRxLowerPri, 0)
		return
	}
	var own *config.Script
	switch n.State {
	case StateMaster:
		own = ns.Master
	case StateBackup:
		own = ns.Backup
	case StateFault:
		own = ns.Fault
	case StateStop:
		own = ns.Stop
	}
	var timeout time.Duration
	if n.State == StateStop {
		timeout = time.Second
	}
	r.notify(own, timeout)
	kind := "INSTANCE"
	if n.Group {
		kind = "GROUP"
	}
	r.notify(ns.Any, timeout, kind, n.Name, n.State.String(), strconv.Itoa(int(n.Priority)))
}

func (r *runner) notify(s *config.Script, timeout time.Duration, extra ...string) {
	if s == nil {
		return
	}
	r.notifyWG.Add(1)
	go func() {
		defer r.notifyWG.Done()
		if err := r.scripts.Run(r.ctx, s, timeout, extra...); err != nil {
			r.m.log.Warn("notify script failed", "script", s.String(), "err", err)
		}
	}()
}
