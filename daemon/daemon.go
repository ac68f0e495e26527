package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
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
	engine *forward.Engine
	iface  string
	rates  rateBook
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
	cfg, err := d.load()
	if err != nil {
		return nil, err
	}
	d.cfg = cfg
	return d, nil
}

// load reads the configuration file, logs its warnings and refuses its
// errors.
func (d *Daemon) load() (*config.Config, error) {
	cfg, diags, err := config.Load(d.opts.ConfigFile, &config.Options{ConfigID: d.opts.ConfigID})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &ConfigError{File: d.opts.ConfigFile, Diags: diags}
	}
	for _, w := range diags {
		d.log.Warn(w.Msg, "at", w.Pos.String())
	}
	return cfg, nil
}

// Run runs the data plane and the admin socket until ctx is done, then
// stops them, removing every rule it installed.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	d.mu.Lock()
	specs, err := serviceSpecs(d.cfg, d.ids, nil)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	if d.iface, err = d.pickInterface(specs); err != nil {
		d.mu.Unlock()
		return err
	}
	d.warnNotYet(d.cfg)
	e, err := forward.NewEngine(&forward.EngineConfig{
		Interface:    d.iface,
		Workers:      d.opts.Workers,
		ConnCapacity: d.opts.ConnCapacity,
		Timeouts: forward.Timeouts{
			TCP:    d.cfg.Global.LVSTimeouts.TCP,
			TCPFin: d.cfg.Global.LVSTimeouts.TCPFin,
			UDP:    d.cfg.Global.LVSTimeouts.UDP,
		},
		Logger: d.log,
	})
	if err != nil {
		d.mu.Unlock()
		return err
	}
	d.engine = e
	if err := e.Update(specs); err != nil {
		d.mu.Unlock()
		return errors.Join(err, e.Stop())
	}
	if err := e.Start(); err != nil {
		d.mu.Unlock()
		return errors.Join(err, e.Stop())
	}
	d.mu.Unlock()
	d.log.Info("forwarding", "interface", d.iface, "services", len(specs), "config", d.opts.ConfigFile)

	admin, err := d.listen()
	if err != nil {
		d.log.Warn("admin socket not available: govs list, status and reload will not reach this daemon", "socket", d.opts.Socket, "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.sampleRates(ctx)
	}()
	<-ctx.Done()
	if admin != nil {
		admin.close()
	}
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	err = d.engine.Stop()
	d.log.Info("stopped", "err", err)
	return err
}

// Reload reads the configuration again and gives the data plane the new
// services. A configuration with errors is refused and the old one stays.
func (d *Daemon) Reload() error {
	cfg, err := d.load()
	if err != nil {
		d.log.Error("reload refused", "err", err)
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	specs, err := serviceSpecs(cfg, d.ids, nil)
	if err != nil {
		return err
	}
	if d.engine == nil {
		d.cfg = cfg
		return nil
	}
	if err := d.engine.Update(specs); err != nil {
		d.log.Error("reload failed; the old configuration stays", "err", err)
		return err
	}
	d.cfg = cfg
	d.warnNotYet(cfg)
	d.log.Info("reloaded", "services", len(specs))
	return nil
}

// pickInterface returns the interface the data plane works on: the one
// given, or the one holding every virtual address's subnet.
func (d *Daemon) pickInterface(specs []forward.ServiceSpec) (string, error) {
	if d.opts.Interface != "" {
		return d.opts.Interface, nil
	}
	var name string
	var first netip.Addr
	for _, a := range vipAddrs(specs) {
		ifi, err := forward.InterfaceForAddr(a)
		if err != nil {
			return "", fmt.Errorf("virtual address %s: %w (give --interface)", a, err)
		}
		if name != "" && ifi.Name != name {
			return "", fmt.Errorf("virtual addresses %s and %s are on interfaces %s and %s; govs works on one interface (give --interface)", first, a, name, ifi.Name)
		}
		name, first = ifi.Name, a
	}
	if name == "" {
		return "", errors.New("the configuration has no virtual server (give --interface to run anyway)")
	}
	return name, nil
}

// warnNotYet says, once a load, what the configuration asks that this
// version of govs does not do yet.
func (d *Daemon) warnNotYet(cfg *config.Config) {
	checks := 0
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			checks += len(rs.Checkers)
		}
	}
	if checks > 0 {
		d.log.Warn("health checkers are not running yet in this version: every real server counts as up", "checkers", checks)
	}
	if len(cfg.Instances) > 0 {
		d.log.Warn("VRRP is not running yet in this version: govs forwards as the master would, and does not manage the virtual addresses", "instances", len(cfg.Instances))
	}
}
