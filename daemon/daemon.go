package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/govs-lb/govs/check"
	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/vrrp"
)

// Options configure a Daemon.
type Options struct {
	// ConfigFile is the keepalived.conf to run.
	ConfigFile string
	// ConfigID selects @id conditional lines (keepalived's -i).
	ConfigID string
	// Interface is where the data plane captures and sends; empty means
	// the interface whose subnet holds the virtual addresses.
	Interface string
	// Workers is the number of data plane workers; 0 means one per CPU.
	Workers int
	// ConnCapacity is each worker's connection table size; 0 means the
	// data plane's default.
	ConnCapacity int
	// Socket is the admin socket's path; empty means DefaultSocket.
	Socket string
	// Logger gets the daemon's events; nil means slog.Default().
	Logger *slog.Logger
	// MetricsAddr, if set, is where Run serves Prometheus metrics at
	// /metrics (host:port; 127.0.0.1:9110, say).
	MetricsAddr string
	// Ready, if set, is called once Run forwards, runs its VRRP instances
	// and answers on the admin socket (systemd's READY=1).
	Ready func()
}

// DefaultSocket is where govs run listens for govs list, status and reload.
const DefaultSocket = "/run/govs/govs.sock"

// ConfigError is returned when the configuration has errors: what govs
// check would report. Run does not start.
type ConfigError struct {
	File  string
	Diags config.Diagnostics
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %d errors in the configuration:\n%s", e.File, e.Diags.Count(config.Error), e.Diags)
}

// Daemon runs one configuration.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	// mu guards the fields below; reloads and admin requests take it.
	mu     sync.Mutex
	cfg    *config.Config
	ids    *ids
	engine *forward.Engine // nil when the file has no virtual server
	vrrp   *vrrp.Manager   // nil when the file has no vrrp_instance
	checks *check.Manager  // nil when the file has no virtual server
	iface  string
	rates  rateBook
	// cfgHash is the SHA-256 of the configuration file last loaded;
	// reloads counts the reloads.
	cfgHash string
	reloads Reloads
	// lag measures verdicts' way to the data plane.
	lag lagBook

	// fwd is what the data plane is given. VRRP's Forward hook takes it
	// on the state machine's goroutine, so whoever holds fwd.mu must
	// neither call into VRRP nor take mu; mu may be held when taking it.
	fwd struct {
		mu     sync.Mutex
		engine *forward.Engine
		// specs are every virtual service, as the health checkers see
		// them; managed maps a VIP to its VRRP instance; on holds the
		// instances whose services are forwarded.
		specs   []forward.ServiceSpec
		managed map[netip.Addr]string
		on      map[string]bool
	}
}

// New reads and checks the configuration. It returns a *ConfigError when
// the configuration has errors.
func New(opts Options) (*Daemon, error) {
	d := &Daemon{opts: opts, log: opts.Logger, ids: newIDs()}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.opts.Socket == "" {
		d.opts.Socket = DefaultSocket
	}
	cfg, hash, err := d.load()
	if err != nil {
		return nil, err
	}
	d.cfg, d.cfgHash = cfg, hash
	return d, nil
}

// load reads the configuration file, logs its warnings and refuses its
// errors.
func (d *Daemon) load() (*config.Config, string, error) {
	raw, err := os.ReadFile(d.opts.ConfigFile)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw)
	cfg, diags, err := config.Load(d.opts.ConfigFile, &config.Options{ConfigID: d.opts.ConfigID})
	if err != nil {
		return nil, "", err
	}
	if diags.HasErrors() {
		return nil, "", &ConfigError{File: d.opts.ConfigFile, Diags: diags}
	}
	for _, w := range diags {
		d.log.Warn(w.Msg, "at", w.Pos.String())
	}
	return cfg, hex.EncodeToString(sum[:]), nil
}

// Run runs the data plane, the VRRP instances and the admin socket until
// ctx is done, then stops them: masters hand over (priority 0 adverts), the
// VIPs and every nftables rule go. A file with only vrrp_instance blocks
// runs VRRP alone, as keepalived --vrrp does.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d.opts.MetricsAddr != "" {
		// First, so that an address in use stops the start, not the
		// metrics alone.
		metrics, err := d.serveMetrics(d.opts.MetricsAddr)
		if err != nil {
			return err
		}
		defer metrics.close()
	}
	var wg sync.WaitGroup
	var vrrpErr error

	d.mu.Lock()
	cfg := d.cfg
	if len(cfg.Instances) > 0 {
		// VRRP's sockets and netlink handles work in this thread's network
		// namespace, whichever goroutine runs them later.
		nsFD := -1
		if ns, err := os.Open("/proc/thread-self/ns/net"); err == nil {
			defer ns.Close()
			nsFD = int(ns.Fd())
		}
		network, err := vrrp.SystemNetwork(nsFD)
		if err != nil {
			d.mu.Unlock()
			return fmt.Errorf("vrrp: %w", err)
		}
		d.vrrp = vrrp.NewManager(&vrrp.Options{
			Network: network,
			Logger:  d.log.With("part", "vrrp"),
			Forward: d.forwardVRRP,
			Scripts: vrrp.SystemScripts(vrrp.ScriptOptions{
				User: cfg.Global.ScriptUser, Group: cfg.Global.ScriptGroup, Security: cfg.Global.ScriptSecurity,
			}),
		})
		if err := d.vrrp.Update(cfg); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	var checkErr error
	if len(cfg.VirtualServers) > 0 || d.opts.Interface != "" {
		do, release, err := namespaceRunner()
		if err != nil {
			d.mu.Unlock()
			return err
		}
		defer release()
		d.checks = check.NewManager(&check.Options{Logger: d.log.With("part", "check"), Do: do})
		if err := d.checks.Update(cfg); err != nil {
			d.mu.Unlock()
			return err
		}
		if err := d.startEngineLocked(cfg); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	d.mu.Unlock()

	if d.vrrp != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vrrpErr = d.vrrp.Run(ctx)
		}()
	}
	if d.checks != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkErr = d.checks.Run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.follow(ctx)
	}()
	admin, err := d.listen()
	if err != nil {
		d.log.Warn("admin socket not available: govs list, status and reload will not reach this daemon", "socket", d.opts.Socket, "err", err)
	}

	if d.engine != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.sampleRates(ctx)
		}()
	}
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	<-ctx.Done()
	if admin != nil {
		admin.close()
	}
	wg.Wait() // VRRP has handed over and removed its addresses
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine != nil {
		err = d.engine.Stop()
	}
	err = errors.Join(err, vrrpErr, checkErr)
	d.log.Info("stopped", "err", err)
	return err
}

// startEngineLocked starts the data plane for cfg's virtual servers.
func (d *Daemon) startEngineLocked(cfg *config.Config) error {
	specs, err := serviceSpecs(cfg, d.ids, d.healthLocked())
	if err != nil {
		return err
	}
	if d.iface, err = d.pickInterface(cfg, specs); err != nil {
		return err
	}
	e, err := forward.NewEngine(&forward.EngineConfig{
		Interface:    d.iface,
		Workers:      d.opts.Workers,
		ConnCapacity: d.opts.ConnCapacity,
		Timeouts: forward.Timeouts{
			TCP:    cfg.Global.LVSTimeouts.TCP,
			TCPFin: cfg.Global.LVSTimeouts.TCPFin,
			UDP:    cfg.Global.LVSTimeouts.UDP,
		},
		Logger: d.log.With("part", "forward"),
	})
	if err != nil {
		return err
	}
	d.engine = e
	d.fwd.mu.Lock()
	d.fwd.engine = e
	d.fwd.mu.Unlock()
	active, err := d.setSpecs(cfg, specs)
	if err != nil {
		return errors.Join(err, e.Stop())
	}
	if err := e.Start(); err != nil {
		return errors.Join(err, e.Stop())
	}
	d.log.Info("forwarding", "interface", d.iface, "services", len(specs), "active", active, "config", d.opts.ConfigFile)
	return nil
}

// follow gives the data plane a new snapshot whenever a health checker
// changes a real server. VRRP tells it directly (forwardVRRP), in step
// with its addresses.
func (d *Daemon) follow(ctx context.Context) {
	if d.checks == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.checks.Changes():
		}
		d.mu.Lock()
		if d.engine != nil {
			st := d.checks.State()
			if err := d.refreshWith(d.cfg, checkHealth{st}); err != nil {
				d.log.Error("updating the data plane failed", "err", err)
			} else {
				d.lag.record(st.VerdictAt(), time.Now())
			}
		}
		d.mu.Unlock()
	}
}

// healthLocked returns the health checkers' current view, or nil.
func (d *Daemon) healthLocked() health {
	if d.checks == nil {
		return nil
	}
	return checkHealth{d.checks.State()}
}

// refreshLocked gives the engine the services of cfg that are active now.
func (d *Daemon) refreshLocked(cfg *config.Config) error {
	return d.refreshWith(cfg, d.healthLocked())
}

// refreshWith gives the engine the services of cfg that are active in the
// health checkers' view h.
func (d *Daemon) refreshWith(cfg *config.Config, h health) error {
	specs, err := serviceSpecs(cfg, d.ids, h)
	if err != nil {
		return err
	}
	_, err = d.setSpecs(cfg, specs)
	return err
}

// setSpecs gives the engine cfg's services that are active now, and
// returns how many.
func (d *Daemon) setSpecs(cfg *config.Config, specs []forward.ServiceSpec) (int, error) {
	managed := map[netip.Addr]string{}
	for _, in := range cfg.Instances {
		for _, v := range append(append([]config.VIP(nil), in.VIPs...), in.ExcludedVIPs...) {
			managed[v.Prefix.Addr()] = in.Name
		}
	}
	d.fwd.mu.Lock()
	defer d.fwd.mu.Unlock()
	d.fwd.specs, d.fwd.managed = specs, managed
	return d.updateForwardingLocked()
}

// forwardVRRP is VRRP's Forward hook: an instance's services start being
// forwarded before its VIPs are added and stop after they are removed.
func (d *Daemon) forwardVRRP(instance string, on bool) {
	d.fwd.mu.Lock()
	defer d.fwd.mu.Unlock()
	if d.fwd.on == nil {
		d.fwd.on = map[string]bool{}
	}
	d.fwd.on[instance] = on
	if _, err := d.updateForwardingLocked(); err != nil {
		d.log.Error("updating the data plane failed", "instance", instance, "forward", on, "err", err)
	}
}

// updateForwardingLocked gives the engine the services this node forwards
// now: those whose addresses are VIPs of an instance that holds them (a
// MASTER), and those whose addresses no instance manages (always
// forwarded, as IPVS does). A backup drops what reaches it for a VIP it
// does not hold, as a keepalived backup without the VIP does.
func (d *Daemon) updateForwardingLocked() (int, error) {
	if d.fwd.engine == nil {
		return 0, nil
	}
	var out []forward.ServiceSpec
	for _, s := range d.fwd.specs {
		keep := true
		for _, r := range s.Addrs {
			if in, ok := d.fwd.managed[r.First]; ok {
				keep = keep && d.fwd.on[in]
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return len(out), d.fwd.engine.Update(out)
}

// Reload reads the configuration again and gives the data plane the new
// services. A configuration with errors is refused and the old one stays.
func (d *Daemon) Reload() error {
	err := d.reload()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloads.Last = time.Now()
	if err != nil {
		d.reloads.Failed++
		d.reloads.LastError = err.Error()
		return err
	}
	d.reloads.OK++
	d.reloads.LastError = ""
	return nil
}

func (d *Daemon) reload() error {
	cfg, hash, err := d.load()
	if err != nil {
		d.log.Error("reload refused", "err", err)
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.vrrp != nil {
		if err := d.vrrp.Update(cfg); err != nil {
			d.log.Error("reload refused", "err", err)
			return err
		}
	}
	if d.checks != nil {
		if err := d.checks.Update(cfg); err != nil {
			d.log.Error("reload refused", "err", err)
			return err
		}
	}
	if d.engine != nil {
		if err := d.refreshLocked(cfg); err != nil {
			d.log.Error("reload failed; the old configuration stays", "err", err)
			return err
		}
	}
	d.cfg, d.cfgHash = cfg, hash
	d.log.Info("reloaded", "virtual_servers", len(cfg.VirtualServers), "instances", len(cfg.Instances), "sha256", hash)
	return nil
}

// pickInterface returns the interface the data plane works on: the one
// given, or the one holding every virtual address's subnet.
func (d *Daemon) pickInterface(cfg *config.Config, specs []forward.ServiceSpec) (string, error) {
	if d.opts.Interface != "" {
		return d.opts.Interface, nil
	}
	// A VIP's interface is its VRRP instance's (the VIP may not be on it
	// yet: this node may be a backup); otherwise the interface whose
	// subnet holds the address.
	vipIf := map[netip.Addr]string{}
	for _, in := range cfg.Instances {
		for _, v := range append(append([]config.VIP(nil), in.VIPs...), in.ExcludedVIPs...) {
			ifname := v.Dev
			if ifname == "" {
				ifname = in.Interface
			}
			vipIf[v.Prefix.Addr()] = ifname
		}
	}
	var name string
	var first netip.Addr
	for _, a := range vipAddrs(specs) {
		ifname, ok := vipIf[a]
		if !ok {
			ifi, err := forward.InterfaceForAddr(a)
			if err != nil {
				return "", fmt.Errorf("virtual address %s: %w (give --interface)", a, err)
			}
			ifname = ifi.Name
		}
		if name != "" && ifname != name {
			return "", fmt.Errorf("virtual addresses %s and %s are on interfaces %s and %s; govs works on one interface (give --interface)", first, a, name, ifname)
		}
		name, first = ifname, a
	}
	if name == "" {
		return "", errors.New("the configuration has no virtual server (give --interface to run anyway)")
	}
	return name, nil
}
