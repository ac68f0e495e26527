package daemon

import (
	"fmt"
	"io"

	"github.com/govs-lb/govs/forward"
)

// ListOptions choose what WriteList shows, as ipvsadm's flags.
type ListOptions struct {
	Stats bool // --stats: connections, packets and bytes
	Rate  bool // --rate: rates over the last sampling interval
}

// WriteList prints the daemon's services and real servers as ipvsadm -Ln
// does, so that scripts and eyes used to it read it. DR and TUN send
// nothing back through the balancer: the Out columns are 0, as in IPVS.
func WriteList(w io.Writer, r *Reply, o ListOptions) {
	st := r.Stats
	fmt.Fprintln(w, "IP Virtual Server version govs")
	switch {
	case o.Stats:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
		fmt.Fprintln(w, "  -> RemoteAddress:Port")
	case o.Rate:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
		fmt.Fprintln(w, "  -> RemoteAddress:Port")
	default:
		fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
		fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
	}
	for _, s := range st.Services {
		// One header per address range of the service, as keepalived makes
		// one IPVS service per virtual_server_group entry; the counters are
		// the whole service's.
		heads := serviceHeads(s)
		port := ""
		if len(s.Addrs) > 0 && s.Addrs[0].Port != 0 {
			port = fmt.Sprint(s.Addrs[0].Port)
		}
		for _, head := range heads {
			switch {
			case o.Stats:
				fmt.Fprintf(w, "%-33s %8d %8d %8d %8s %8s\n", head, s.Conns, s.Packets, 0, human(s.Bytes), "0")
			case o.Rate:
				rt := r.Rates.Services[s.ID]
				fmt.Fprintf(w, "%-33s %8.0f %8.0f %8d %8s %8s\n", head, rt.CPS, rt.PPS, 0, human(uint64(rt.BPS)), "0")
			default:
				flags := ""
				if s.Persistence > 0 {
					flags = fmt.Sprintf(" persistent %d", int(s.Persistence.Seconds()))
				}
				fmt.Fprintf(w, "%s %s%s\n", head, s.Scheduler, flags)
			}
		}
		for _, b := range s.Backends {
			rs := b.Addr.String()
			if b.Addr.Is6() {
				rs = "[" + rs + "]"
			}
			if port != "" {
				rs += ":" + port
			}
			switch {
			case o.Stats:
				fmt.Fprintf(w, "  -> %-28s %8d %8d %8d %8s %8s\n", rs, b.Conns, b.Packets, 0, human(b.Bytes), "0")
			case o.Rate:
				rt := r.Rates.Backends[b.ID]
				fmt.Fprintf(w, "  -> %-28s %8.0f %8.0f %8d %8s %8s\n", rs, rt.CPS, rt.PPS, 0, human(uint64(rt.BPS)), "0")
			default:
				fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %d\n", rs, forwardName(b.Method), b.Weight, b.ActiveConns, b.InactiveConns)
			}
		}
	}
}

// human writes a byte count as ipvsadm does: K, M, G past 4 digits.
func human(n uint64) string {
	const units = "KMGT"
	if n < 10000 {
		return fmt.Sprint(n)
	}
	v := float64(n)
	i := -1
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%.0f%c", v, units[i])
}

// serviceHeads returns "PROTO ADDR:PORT" for each address range of a
// service; a range prints as FIRST-LAST.
func serviceHeads(s forward.ServiceStats) []string {
	proto := "TCP"
	if s.Proto == 17 {
		proto = "UDP"
	}
	var out []string
	for _, r := range s.Addrs {
		a := r.First.String()
		if r.First.Is6() {
			a = "[" + a + "]"
		}
		if r.Last != r.First {
			a += "-" + r.Last.String()
		}
		out = append(out, fmt.Sprintf("%-4s %s:%d", proto, a, r.Port))
	}
	if len(out) == 0 {
		out = []string{proto + "  " + s.Name}
	}
	return out
}
