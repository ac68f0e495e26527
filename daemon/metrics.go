package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/govs-lb/govs/internal/version"
	"github.com/govs-lb/govs/vrrp"
)

// Metrics: govs_* on --metrics ADDR, read from the daemon's state at each
// scrape (a Collector, no second copy of any counter), so that a scrape
// and a govs list --stats at the same moment agree. Labels are bounded by
// the configuration: service (the virtual server's name, as govs list
// prints it), real_server (ADDR:PORT), instance (a vrrp_instance), verdict
// and state (fixed sets).

// desc is a metric's description with its labels.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("govs_"+name, help, labels, nil)
}

var (
	mBuild         = desc("build_info", "The govs build: 1, with its version and commit.", "version", "commit", "goversion")
	mConfigInfo    = desc("config_info", "The configuration running: 1, with its file and the SHA-256 of its bytes.", "file", "sha256")
	mReloads       = desc("config_reloads_total", "Configuration reloads, by result (success, failure).", "result")
	mReloadOK      = desc("config_last_reload_successful", "1 if the last reload succeeded or none was tried, else 0.")
	mReloadTime    = desc("config_last_reload_timestamp_seconds", "When the last reload was tried, Unix time; 0 for none.")
	mStarted       = desc("start_time_seconds", "When govs run started, Unix time.")
	mSvcConns      = desc("service_connections_total", "Connections scheduled to the virtual service.", "service")
	mSvcPackets    = desc("service_in_packets_total", "Packets forwarded for the virtual service.", "service")
	mSvcBytes      = desc("service_in_bytes_total", "Bytes (IP packets) forwarded for the virtual service.", "service")
	mRSConns       = desc("real_server_connections_total", "Connections scheduled to the real server.", "service", "real_server")
	mRSPackets     = desc("real_server_in_packets_total", "Packets forwarded to the real server.", "service", "real_server")
	mRSBytes       = desc("real_server_in_bytes_total", "Bytes (IP packets) forwarded to the real server.", "service", "real_server")
	mRSActive      = desc("real_server_active_connections", "Connections in an active state (ESTABLISHED), as ipvsadm's ActiveConn.", "service", "real_server")
	mRSInactive    = desc("real_server_inactive_connections", "Connections in another state, as ipvsadm's InActConn.", "service", "real_server")
	mRSWeight      = desc("real_server_weight", "The weight the scheduler uses now (0: quiesced or held down).", "service", "real_server")
	mRSUp          = desc("real_server_up", "1 if every health checker of the real server passes, else 0.", "service", "real_server")
	mVerdicts      = desc("datapath_packets_total", "Packets the data plane handled, by verdict: forwarded, or the reason of a drop.", "verdict")
	mRxPackets     = desc("datapath_rx_packets_total", "Frames the receive rings took, as the kernel counts them.")
	mRxDrops       = desc("datapath_rx_dropped_total", "Frames the kernel dropped because a receive ring was full.")
	mTxPackets     = desc("datapath_tx_packets_total", "Frames the data plane sent.")
	mTxDrops       = desc("datapath_tx_dropped_total", "Frames the kernel refused to send.")
	mConnEntries   = desc("datapath_connections", "Entries in the connection tables.")
	mStateless     = desc("datapath_stateless_flows_total", "New flows sent by the consistent hash: mid-flow packets of flows begun elsewhere, a full table, a new-flow rate above the limit.")
	mTableFull     = desc("datapath_table_full_total", "New flows the connection table had no room for.")
	mRateLimited   = desc("datapath_rate_limited_total", "New flows above the new-flow rate limit.")
	mNoDest        = desc("datapath_nodest_expired_total", "Connection entries expired because their real server had gone (expire_nodest_conn=1).")
	mSnapshots     = desc("datapath_snapshots_total", "Forwarding snapshots swapped in (reloads, health changes, VRRP transitions).")
	mDraining      = desc("datapath_draining_real_servers", "Real servers removed from the configuration that still have connections.")
	mVRRPState     = desc("vrrp_state", "1 for the instance's current state, 0 for the others.", "instance", "state")
	mVRRPPriority  = desc("vrrp_priority", "The instance's effective priority.", "instance")
	mVRRPBecame    = desc("vrrp_became_master_total", "Transitions of the instance to MASTER.", "instance")
	mVRRPLeft      = desc("vrrp_left_master_total", "Transitions of the instance from MASTER.", "instance")
	mVRRPSent      = desc("vrrp_adverts_sent_total", "Adverts the instance sent.", "instance")
	mVRRPReceived  = desc("vrrp_adverts_received_total", "Adverts the instance received and accepted.", "instance")
	mCheckUp       = desc("check_up", "1 if the checker's last verdict was success, else 0.", "service", "real_server", "checker")
	mCheckDuration = desc("check_last_duration_seconds", "How long the checker's last probe took.", "service", "real_server", "checker")
)

// vrrpStates are the values of govs_vrrp_state's state label.
var vrrpStates = []vrrp.State{vrrp.StateInit, vrrp.StateBackup, vrrp.StateMaster, vrrp.StateFault}

// collector is the daemon seen as a prometheus.Collector.
type collector struct{ d *Daemon }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		mBuild, mConfigInfo, mReloads, mReloadOK, mReloadTime, mStarted,
		mSvcConns, mSvcPackets, mSvcBytes, mRSConns, mRSPackets, mRSBytes, mRSActive, mRSInactive, mRSWeight, mRSUp,
		mVerdicts, mRxPackets, mRxDrops, mTxPackets, mTxDrops, mConnEntries, mStateless, mTableFull, mRateLimited, mNoDest, mSnapshots, mDraining,
		mVRRPState, mVRRPPriority, mVRRPBecame, mVRRPLeft, mVRRPSent, mVRRPReceived, mCheckUp, mCheckDuration, mVerdictLag,
	} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	v := version.Get()
	gauge(mBuild, 1, v.Version, v.Commit, v.Go)

	d.mu.Lock()
	defer d.mu.Unlock()
	gauge(mConfigInfo, 1, d.opts.ConfigFile, d.cfgHash)
	counter(mReloads, d.reloads.OK, "success")
	counter(mReloads, d.reloads.Failed, "failure")
	ok := 1.0
	if d.reloads.LastError != "" {
		ok = 0
	}
	gauge(mReloadOK, ok)
	last := 0.0
	if !d.reloads.Last.IsZero() {
		last = float64(d.reloads.Last.UnixNano()) / 1e9
	}
	gauge(mReloadTime, last)
	gauge(mStarted, float64(d.started.UnixNano())/1e9)

	if d.engine != nil {
		st := d.engine.Stats()
		var health map[string]map[netip.AddrPort]bool
		if d.checks != nil {
			cs := d.checks.State()
			health = map[string]map[netip.AddrPort]bool{}
			for _, name := range cs.Services() {
				health[name] = map[netip.AddrPort]bool{}
				for rs, r := range cs.Service(name).Reals() {
					health[name][rs] = r.Alive
				}
			}
		}
		for _, s := range st.Services {
			counter(mSvcConns, s.Conns, s.Name)
			counter(mSvcPackets, s.Packets, s.Name)
			counter(mSvcBytes, s.Bytes, s.Name)
			var port uint16
			if len(s.Addrs) > 0 {
				port = s.Addrs[0].Port
			}
			for _, b := range s.Backends {
				ap := netip.AddrPortFrom(b.Addr, port)
				rs := ap.String()
				counter(mRSConns, b.Conns, s.Name, rs)
				counter(mRSPackets, b.Packets, s.Name, rs)
				counter(mRSBytes, b.Bytes, s.Name, rs)
				gauge(mRSActive, float64(b.ActiveConns), s.Name, rs)
				gauge(mRSInactive, float64(b.InactiveConns), s.Name, rs)
				gauge(mRSWeight, float64(b.Weight), s.Name, rs)
				up := 1.0
				if alive, known := health[s.Name][ap]; known && !alive {
					up = 0
				}
				gauge(mRSUp, up, s.Name, rs)
			}
		}
		for name, n := range st.Verdicts {
			counter(mVerdicts, n, name)
		}
		counter(mRxPackets, st.RxPackets)
		counter(mRxDrops, st.RxDrops)
		counter(mTxPackets, st.TxSent)
		counter(mTxDrops, st.TxDropped)
		gauge(mConnEntries, float64(st.Conns))
		counter(mStateless, st.Stateless)
		counter(mTableFull, st.TableFull)
		counter(mRateLimited, st.RateLimited)
		counter(mNoDest, st.NoDestExpired)
		counter(mSnapshots, st.Snapshots)
		gauge(mDraining, float64(st.Draining))
	}
	if d.checks != nil {
		ch <- d.lag.metric()
		seen := map[[3]string]int{}
		for _, c := range d.checks.Checkers() {
			up := 0.0
			if c.Up {
				up = 1
			}
			key := [3]string{c.Service, c.RealServer.String(), c.Checker}
			// Two checkers alike on one real server: #2, #3, ... so
			// that every series is one checker's.
			if seen[key]++; seen[key] > 1 {
				key[2] += "#" + strconv.Itoa(seen[key])
			}
			gauge(mCheckUp, up, key[:]...)
			gauge(mCheckDuration, c.LastDuration.Seconds(), key[:]...)
		}
	}
	if d.vrrp != nil {
		for name, in := range d.vrrp.States() {
			for _, s := range vrrpStates {
				is := 0.0
				if in.State == s {
					is = 1
				}
				gauge(mVRRPState, is, name, s.String())
			}
			gauge(mVRRPPriority, float64(in.Priority), name)
			counter(mVRRPBecame, in.Stats.BecomeMaster, name)
			counter(mVRRPLeft, in.Stats.ReleaseMaster, name)
			counter(mVRRPSent, in.Stats.AdvertsSent, name)
			counter(mVRRPReceived, in.Stats.AdvertsReceived, name)
		}
	}
}

// metricsServer serves /metrics on an address until closed.
type metricsServer struct {
	srv  *http.Server
	done chan struct{}
}

// serveMetrics listens on addr and serves the daemon's metrics, with the
// Go runtime's and the process's, at /metrics.
func (d *Daemon) serveMetrics(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogAdapter{d}}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "govs: metrics at /metrics")
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server stopped", "err", err)
		}
	}()
	d.log.Info("metrics", "address", "http://"+l.Addr().String()+"/metrics")
	return m, nil
}

func (m *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.srv.Shutdown(ctx)
	<-m.done
}

// slogAdapter is promhttp's error log.
type slogAdapter struct{ d *Daemon }

func (a slogAdapter) Println(v ...any) { a.d.log.Error("metrics: " + fmt.Sprint(v...)) }
