package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

const metricsConf = `vrrp_instance VI_M {
    state MASTER
    interface lan
    virtual_router_id 52
    priority 255
    advert_int 0.5
    virtual_ipaddress {
        %s/32 dev lan
    }
}
virtual_server %s 80 {
    delay_loop 0.5
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`

// metricFamilies is one scrape, parsed.
type metricFamilies map[string]*dto.MetricFamily

// value returns the value of the series of name whose labels include
// labels (name=value pairs), and whether there is one.
func (m metricFamilies) value(name string, labels ...string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range s.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Untyped != nil:
			return s.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// scrape gets /metrics from addr, from inside host's namespace.
func scrape(t *testing.T, h *netsim.Host, addr string) metricFamilies {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// TestMetrics scrapes govs run's --metrics over HTTP and checks them
// against govs list --stats and govs status read at the same moment (no
// traffic in between).
func TestMetrics(t *testing.T) {
	hosts := lanLab(t, "c1", "lb", "r1", "r2")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vip := netsim.VIP4(1)
	rs, _ := webLab(t, hosts, vip, "c1", "r1", "r2")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	text := fmt.Sprintf(metricsConf, vip, vip, realServers(tcpCheck, rs...))
	must(os.WriteFile(conf, []byte(text), 0o644))
	addr := netip.AddrPortFrom(hosts["lb"].Addr4("lan"), 9110).String()
	ready := make(chan struct{})
	d, err := New(Options{ConfigFile: conf, Socket: filepath.Join(dir, "govs.sock"), Workers: 1, ConnCapacity: 1 << 12,
		MetricsAddr: addr, Logger: netsimtest.Logger(t), Ready: func() { close(ready) }})
	must(err)
	startDaemon(t, hosts["lb"], d)
	select {
	case <-ready: // what govs run tells systemd (READY=1)
	case <-time.After(5 * time.Second):
		t.Fatal("Run answers on its socket but did not call Ready")
	}

	// MASTER (priority 255 takes over at once), checkers up, each after a
	// probe.
	netsimtest.Eventually(t, 10*time.Second, func() error {
		m := scrape(t, hosts["lb"], addr)
		if v, _ := m.value("govs_vrrp_state", "instance", "VI_M", "state", "MASTER"); v != 1 {
			return fmt.Errorf("VI_M is not MASTER yet")
		}
		for _, a := range rs {
			if v, ok := m.value("govs_check_up", "real_server", a.String()+":80"); !ok || v != 1 {
				return fmt.Errorf("checker of %s not up yet", a)
			}
			if v, _ := m.value("govs_check_last_duration_seconds", "real_server", a.String()+":80"); v == 0 {
				return fmt.Errorf("checker of %s has not probed yet", a)
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = hosts["c1"].HTTPTally(ctx, netip.AddrPortFrom(vip, 80), 30)
	must(err)
	// A failed reload, then a good one.
	must(os.WriteFile(conf, []byte("virtual_server 198.19.0.1 80 {\n lb_kind NAT\n}\n"), 0o644))
	if err := d.Reload(); err == nil {
		t.Fatal("a broken configuration was accepted")
	}
	if m := scrape(t, hosts["lb"], addr); true {
		if v, _ := m.value("govs_config_last_reload_successful"); v != 0 {
			t.Errorf("govs_config_last_reload_successful = %v after a failed reload", v)
		}
	}
	must(os.WriteFile(conf, []byte(text), 0o644))
	must(d.Reload())

	m := scrape(t, hosts["lb"], addr)
	askCtx, cl := context.WithTimeout(context.Background(), 5*time.Second)
	defer cl()
	stats, err := Ask(askCtx, d.opts.Socket, "stats")
	must(err)
	status, err := Ask(askCtx, d.opts.Socket, "status")
	must(err)

	check := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := m.value(name, labels...)
		if !ok {
			t.Errorf("%s%v: no such series", name, labels)
		} else if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	list := NewList(stats)
	if len(list.Services) != 1 {
		t.Fatalf("list: %+v", list)
	}
	svc := list.Services[0]
	check("govs_service_connections_total", float64(svc.Stats.Conns), "service", svc.Name)
	check("govs_service_in_packets_total", float64(svc.Stats.InPackets), "service", svc.Name)
	check("govs_service_in_bytes_total", float64(svc.Stats.InBytes), "service", svc.Name)
	if svc.Stats.Conns != 30 {
		t.Errorf("list --stats counts %d connections, want 30", svc.Stats.Conns)
	}
	for _, r := range svc.RealServers {
		l := []string{"service", svc.Name, "real_server", fmt.Sprintf("%s:%d", r.Address, r.Port)}
		check("govs_real_server_connections_total", float64(r.Stats.Conns), l...)
		check("govs_real_server_in_packets_total", float64(r.Stats.InPackets), l...)
		check("govs_real_server_in_bytes_total", float64(r.Stats.InBytes), l...)
		check("govs_real_server_active_connections", float64(r.ActiveConns), l...)
		check("govs_real_server_inactive_connections", float64(r.InactiveConns), l...)
		check("govs_real_server_weight", float64(r.Weight), l...)
		check("govs_real_server_up", 1, l...)
		if d, ok := m.value("govs_check_last_duration_seconds", l...); !ok || d <= 0 || d > 1 {
			t.Errorf("govs_check_last_duration_seconds%v = %v, %v", l, d, ok)
		}
	}
	for verdict, n := range status.Status.Packets {
		check("govs_datapath_packets_total", float64(n), "verdict", verdict)
	}
	check("govs_vrrp_priority", 255, "instance", "VI_M")
	check("govs_vrrp_became_master_total", 1, "instance", "VI_M")
	check("govs_vrrp_state", 0, "instance", "VI_M", "state", "BACKUP")
	check("govs_config_reloads_total", 1, "result", "success")
	check("govs_config_reloads_total", 1, "result", "failure")
	check("govs_config_last_reload_successful", 1)
	sum := sha256.Sum256([]byte(text))
	check("govs_config_info", 1, "sha256", hex.EncodeToString(sum[:]))
	check("govs_datapath_draining_real_servers", 0)
	if v, ok := m.value("govs_datapath_rx_packets_total"); !ok || v < 30 {
		t.Errorf("govs_datapath_rx_packets_total = %v, %v", v, ok)
	}
	if _, ok := m.value("process_resident_memory_bytes"); !ok {
		t.Errorf("no process metrics")
	}
	// Every family is govs_, go_ or process_, and has help.
	for name, f := range m {
		if !strings.HasPrefix(name, "govs_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("metric %s", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("metric %s has no help", name)
		}
	}
}
