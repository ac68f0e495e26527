package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

const lagConf = `virtual_server %s 80 {
    delay_loop 0.1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server %s 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 0.2
        }
    }
    real_server %s 80 {
        weight 1
    }
}
`

// BenchmarkVerdictToDataPlane measures the window from a health checker's
// verdict to the data plane's snapshot that holds it: each iteration
// takes a real server's listener away and back, and waits for the weight
// in the data plane to follow. It reports the lag of the verdicts, as the
// daemon measures it (govs_check_verdict_to_dataplane_seconds), and what
// an observer polling govs list sees from the verdict.
func BenchmarkVerdictToDataPlane(b *testing.B) {
	netsimtest.RequireRoot(b)
	lab := netsimtest.New(b)
	lan, err := lab.AddSegment("lan")
	if err != nil {
		b.Fatal(err)
	}
	hosts := map[string]*netsim.Host{}
	for _, n := range []string{"lb", "r1", "r2"} {
		h, err := lab.AddHost(n)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Join(lan); err != nil {
			b.Fatal(err)
		}
		hosts[n] = h
	}
	vip := netsim.VIP4(1)
	if err := hosts["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	r1 := hosts["r1"].Addr4("lan")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(lagConf, vip, r1, hosts["r2"].Addr4("lan"))), 0o644); err != nil {
		b.Fatal(err)
	}
	listen := func() net.Listener {
		l, err := hosts["r1"].Listen("tcp", ":80")
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return l
	}
	l := listen()
	d, err := New(Options{ConfigFile: conf, Socket: filepath.Join(dir, "govs.sock"), Workers: 1, ConnCapacity: 1 << 12, Logger: netsimtest.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	startDaemon(b, hosts["lb"], d)
	weight := func() uint32 {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, s := range d.engine.Stats().Services {
			for _, be := range s.Backends {
				if be.Addr == r1 {
					return be.Weight
				}
			}
		}
		return 99
	}
	waitWeight := func(want uint32) time.Duration {
		start := time.Now()
		for weight() != want {
			if time.Since(start) > 5*time.Second {
				b.Fatalf("r1's weight did not become %d", want)
			}
			time.Sleep(50 * time.Microsecond)
		}
		return time.Since(start)
	}
	waitWeight(1)
	var lags []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Close()
		waitWeight(0)
		last, _, _ := d.lag.snapshot()
		lags = append(lags, last)
		l = listen()
		waitWeight(1)
		last, _, _ = d.lag.snapshot()
		lags = append(lags, last)
	}
	b.StopTimer()
	l.Close()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds()), "us-p50/verdict")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds()), "us-max/verdict")
	b.ReportMetric(0, "ns/op")
}
