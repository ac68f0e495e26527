package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the effective configuration as readable tables: VRRP
// instances with their VIPs, virtual services with scheduler and method,
// and real servers with weight and checkers.
func (c *Config) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(c.Instances) > 0 {
		fmt.Fprintln(tw, "VRRP INSTANCE\tSTATE\tINTERFACE\tVRID\tPRIORITY\tADVERT\tVERSION\tAUTH\tPREEMPT\tSYNC GROUP\tVIPS")
		for _, in := range c.Instances {
			auth := "-"
			if in.Auth != nil {
				auth = in.Auth.Type.String()
			}
			preempt := "yes"
			switch {
			case !in.Preempt:
				preempt = "no"
			case in.PreemptDelay > 0:
				preempt = "after " + seconds(in.PreemptDelay) + "s"
			}
			var vips []string
			for _, v := range in.VIPs {
				vips = append(vips, vipString(v))
			}
			for _, v := range in.ExcludedVIPs {
				vips = append(vips, vipString(v)+" (excluded)")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%ss\tv%d\t%s\t%s\t%s\t%s\n", in.Name, in.State, dash(in.Interface),
				in.VRID, in.Priority, seconds(in.AdvertInt), in.Version, auth, preempt, dash(in.SyncGroup), dash(strings.Join(vips, ", ")))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	groups := map[string]*ServerGroup{}
	for _, g := range c.ServerGroups {
		groups[g.Name] = g
	}
	for i, vs := range c.VirtualServers {
		if i > 0 || len(c.Instances) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s %s  %s%s", vs.Protocol, vs.describeArgsHost(), vs.Scheduler, flagString(vs.Flags))
		if vs.Method != 0 {
			fmt.Fprintf(w, "  %s", vs.Method)
		}
		if vs.PersistenceTimeout > 0 {
			fmt.Fprintf(w, "  persistent %ss", seconds(vs.PersistenceTimeout))
			if full := 32; vs.PersistenceGranularity != full && vs.PersistenceGranularity != 128 {
				fmt.Fprintf(w, " per /%d", vs.PersistenceGranularity)
			}
		}
		if vs.Quorum > 1 {
			fmt.Fprintf(w, "  quorum %d", vs.Quorum)
		}
		if ss := vs.SorryServer; ss != nil {
			fmt.Fprintf(w, "  sorry %s (%s)", hostPort(ss.Addr.String(), ss.Port), ss.Method)
		}
		fmt.Fprintln(w)
		if vs.Group != "" {
			if g := groups[vs.Group]; g != nil {
				for _, e := range g.Entries {
					fmt.Fprintf(w, "   = %s\n", hostPort(e.rangeString(), e.Port))
				}
			}
		}
		rw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(rw, "     REAL SERVER\tWEIGHT\tMETHOD\tON FAILURE\tCHECKERS")
		for _, rs := range vs.RealServers {
			fail := "removed"
			if rs.InhibitOnFailure {
				fail = "weight 0"
			}
			var checks []string
			for _, ch := range rs.Checkers {
				checks = append(checks, ch.summary())
			}
			if len(checks) == 0 {
				checks = []string{"none (always up)"}
			}
			fmt.Fprintf(rw, "  -> %s\t%d\t%s\t%s\t%s\n", hostPort(rs.Addr.String(), rs.Port), rs.Weight, rs.Method, fail, strings.Join(checks, "; "))
		}
		if err := rw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func hostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == 0 {
		return host + ":*"
	}
	return fmt.Sprintf("%s:%d", host, port)
}

func vipString(v VIP) string {
	s := v.Prefix.String()
	if v.Dev != "" {
		s += " dev " + v.Dev
	}
	if v.Label != "" {
		s += " label " + v.Label
	}
	return s
}

func flagString(f SchedFlags) string {
	var fl []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.SHPort, "sh-port"}, {f.SHFallback, "sh-fallback"}, {f.MHPort, "mh-port"}, {f.MHFallback, "mh-fallback"}, {f.OnePacket, "ops"}} {
		if x.on {
			fl = append(fl, x.name)
		}
	}
	if len(fl) == 0 {
		return ""
	}
	return " (" + strings.Join(fl, ",") + ")"
}

// summary describes a checker on one line.
func (c *Checker) summary() string {
	s := c.Kind.String()
	switch {
	case c.HTTP != nil:
		var paths []string
		for _, u := range c.HTTP.URLs {
			paths = append(paths, u.Path)
		}
		s += " " + strings.Join(paths, ",")
	case c.Misc != nil:
		s += " " + c.Misc.Script.String()
	case c.DNS != nil:
		s += " " + c.DNS.Type + " " + c.DNS.Name
	}
	if c.ConnectIP.IsValid() || c.ConnectPort != 0 {
		host := "rs"
		if c.ConnectIP.IsValid() {
			host = c.ConnectIP.String()
		}
		s += " on " + hostPort(host, c.ConnectPort)
	}
	return fmt.Sprintf("%s every %ss", s, seconds(c.DelayLoop))
}

// describeArgsHost names the service as ipvsadm does: ADDR:PORT, or the
// group.
func (vs *VirtualServer) describeArgsHost() string {
	if vs.Group != "" {
		return "group " + vs.Group
	}
	return hostPort(vs.Addr.String(), vs.Port)
}
