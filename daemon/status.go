package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/govs-lb/govs/check"
	"github.com/govs-lb/govs/internal/version"
)

// StatusFormat is the version of the Status document (govs status
// --json). Fields may be added within a version; none is renamed,
// retyped or removed.
const StatusFormat = 1

// Status describes a running daemon: govs status, and with --json this
// document as it is.
type Status struct {
	Format int          `json:"format"`
	Govs   version.Info `json:"govs"`
	// ConfigFile is the configuration running; ConfigSHA256 the SHA-256
	// of its bytes when it was last loaded.
	ConfigFile   string    `json:"config_file"`
	ConfigSHA256 string    `json:"config_sha256"`
	Interface    string    `json:"interface"`
	Started      time.Time `json:"started"`
	Services     int       `json:"services"`
	Instances    int       `json:"instances"`
	// Packets counts the data plane's packets by verdict: "forwarded",
	// and one name per reason of a drop ("no-service", "no-backend",
	// "unresolved-neighbour", ...).
	Packets map[string]uint64 `json:"packets"`
	// Draining counts the real servers that left the configuration and
	// still have connections.
	Draining int `json:"draining_real_servers"`
	// VRRP is every instance, by name.
	VRRP []VRRPStatus `json:"vrrp"`
	// Down lists the real servers the health checkers hold down, by
	// service and real server.
	Down    []DownReal `json:"down"`
	Reloads Reloads    `json:"reloads"`
}

// VRRPStatus is one VRRP instance.
type VRRPStatus struct {
	Instance string `json:"instance"`
	// State is INIT, BACKUP, MASTER or FAULT.
	State string `json:"state"`
	// Priority is the effective priority (after tracking).
	Priority int       `json:"priority"`
	Since    time.Time `json:"since"`
	// Master is the master last heard while BACKUP.
	Master string `json:"master,omitempty"`
	// BecameMaster and LeftMaster count transitions.
	BecameMaster uint64 `json:"became_master"`
	LeftMaster   uint64 `json:"left_master"`
}

// DownReal is a real server its checkers hold down.
type DownReal struct {
	Service    string `json:"service"`
	RealServer string `json:"real_server"`
	Reason     string `json:"reason"`
}

// Reloads count configuration reloads since the start.
type Reloads struct {
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
	// Last is the last attempt's time; LastError its error, if it failed.
	Last      time.Time `json:"last,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// statusLocked builds the Status document. It first gives the data plane
// the health checkers' current view, so that a govs list that follows
// shows what this status says.
func (d *Daemon) statusLocked() *Status {
	s := &Status{
		Format: StatusFormat, Govs: version.Get(),
		ConfigFile: d.opts.ConfigFile, ConfigSHA256: d.cfgHash, Interface: d.iface, Started: d.started,
		Services: len(d.cfg.VirtualServers), Instances: len(d.cfg.Instances),
		Packets: map[string]uint64{}, VRRP: []VRRPStatus{}, Down: []DownReal{}, Reloads: d.reloads,
	}
	var st *check.State
	if d.checks != nil {
		st = d.checks.State()
		if d.engine != nil {
			if err := d.refreshWith(d.cfg, checkHealth{st}); err != nil {
				d.log.Error("updating the data plane failed", "err", err)
			} else {
				d.lag.record(st.VerdictAt(), time.Now())
			}
		}
	}
	if d.engine != nil {
		es := d.engine.Stats()
		s.Packets, s.Draining = es.Verdicts, es.Draining
	}
	for _, name := range st.Services() {
		for rs, r := range st.Service(name).Reals() {
			if !r.Alive {
				s.Down = append(s.Down, DownReal{Service: name, RealServer: rs.String(), Reason: r.Reason})
			}
		}
	}
	slices.SortFunc(s.Down, func(a, b DownReal) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.RealServer, b.RealServer))
	})
	if d.vrrp != nil {
		for name, in := range d.vrrp.States() {
			v := VRRPStatus{
				Instance: name, State: in.State.String(), Priority: int(in.Priority), Since: in.Since,
				BecameMaster: in.Stats.BecomeMaster, LeftMaster: in.Stats.ReleaseMaster,
			}
			if in.Master.IsValid() {
				v.Master = in.Master.String()
			}
			s.VRRP = append(s.VRRP, v)
		}
		slices.SortFunc(s.VRRP, func(a, b VRRPStatus) int { return cmp.Compare(a.Instance, b.Instance) })
	}
	return s
}

// String is govs status's text: one fact a line, a keyword first.
func (s *Status) String() string {
	out := fmt.Sprintf("config     %s\nsha256     %s\ninterface  %s\nrunning    since %s (%s)\nversion    %s\nservices   %d\ninstances  %d\n",
		s.ConfigFile, s.ConfigSHA256, s.Interface, s.Started.Format(time.RFC3339), time.Since(s.Started).Round(time.Second),
		s.Govs, s.Services, s.Instances)
	for _, v := range slices.Sorted(maps.Keys(s.Packets)) {
		out += fmt.Sprintf("packets    %-22s %d\n", v, s.Packets[v])
	}
	if s.Draining > 0 {
		out += fmt.Sprintf("draining   %d real servers\n", s.Draining)
	}
	for _, v := range s.VRRP {
		out += fmt.Sprintf("vrrp       %-22s %s priority %d since %s\n", v.Instance, v.State, v.Priority, v.Since.Format(time.RFC3339))
	}
	for _, r := range s.Down {
		out += fmt.Sprintf("down       %s %s: %s\n", r.Service, r.RealServer, r.Reason)
	}
	out += fmt.Sprintf("reloads    %d ok, %d failed", s.Reloads.OK, s.Reloads.Failed)
	if s.Reloads.LastError != "" {
		out += "; last: " + s.Reloads.LastError
	}
	return out + "\n"
}
