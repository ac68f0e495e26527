package vrrp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/config"
)

// recorder is an Effects that writes down what the Machine does.
type recorder struct{ got []string }

func (r *recorder) add(f string, a ...any) { r.got = append(r.got, fmt.Sprintf(f, a...)) }
func (r *recorder) SendAdvert(inst string, prio uint8, seq uint32) {
	if seq != 0 {
		r.add("advert %s %d seq %d", inst, prio, seq)
		return
	}
	r.add("advert %s %d", inst, prio)
}
func (r *recorder) SetAddrs(inst string, on bool) { r.add("addrs %s %v", inst, on) }
func (r *recorder) SendGARPs(inst string, n int)  { r.add("garp %s x%d", inst, n) }
func (r *recorder) Notify(n Notification) {
	kind := "INSTANCE"
	if n.Group {
		kind = "GROUP"
	}
	ev := n.State.String()
	if n.Event == EventMasterRxLowerPri {
		ev = "MASTER_RX_LOWER_PRI"
	}
	r.add("notify %s %s %s %d", kind, n.Name, ev, n.Priority)
}
func (r *recorder) take() []string { g := r.got; r.got = nil; return g }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness runs a Machine for a configuration whose instances all send from
// 198.18.1.2, with interfaces up unless listed in down.
type harness struct {
	t   *testing.T
	m   *Machine
	rec *recorder
	log *bytes.Buffer
}

func newHarness(t *testing.T, conf string, down ...string) *harness {
	t.Helper()
	cfg, diags := config.Parse("test.conf", []byte(conf), nil)
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	h := &harness{t: t, rec: &recorder{}, log: &bytes.Buffer{}}
	m, err := NewMachine(cfg, MachineConfig{
		Source: func(*config.Instance) netip.Addr { return netip.MustParseAddr("198.18.1.2") },
		InterfaceUp: func(name string) bool {
			for _, d := range down {
				if d == name {
					return false
				}
			}
			return true
		},
		Effects: h.rec,
		Logger:  slog.New(slog.NewTextHandler(h.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	return h
}

// at runs the machine's timers up to offset d from t0, firing each
// deadline at its own time, as the Manager does.
func (h *harness) at(d time.Duration) {
	end := t0.Add(d)
	for {
		next := h.m.Next()
		if next.IsZero() || next.After(end) {
			return
		}
		h.m.Tick(next)
	}
}

func (h *harness) state(inst string) State { return h.m.States()[inst].State }

func (h *harness) expect(step string, want ...string) {
	h.t.Helper()
	if diff := cmp.Diff(want, h.rec.take()); diff != "" {
		h.t.Errorf("%s (-want +got):\n%s", step, diff)
	}
}

// advert builds an advert as a peer would send it, through Marshal and
// Parse.
type advOpt func(*Packet)

func advert(t *testing.T, src string, vrid, prio uint8, opts ...advOpt) *Packet {
	t.Helper()
	p := &Packet{TOS: tosNetControl, TTL: 255, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("224.0.0.18"),
		Advert: Advert{Version: 2, VRID: vrid, Priority: prio, AuthType: AuthPass, Interval: time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("198.19.0.1")}, Auth: [8]byte([]byte("secret\x00\x00"))}}
	key := []byte("secret\x00\x00")
	for _, o := range opts {
		o(p)
	}
	b, err := p.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	q, v := Parse(b)
	if v != Accepted {
		t.Fatalf("advert does not parse: %v", v)
	}
	return q
}

func (h *harness) rx(d time.Duration, p *Packet) Verdict {
	h.at(d)
	return h.m.Receive(t0.Add(d), "lan", p)
}

func instanceConf(extra string) string {
	return `vrrp_instance VI {
    interface lan
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        198.19.0.1/32
    }
` + extra + "}\n"
}

func TestBackupBecomesMaster(t *testing.T) {
	h := newHarness(t, instanceConf(""))
	h.m.Start(t0)
	h.expect("start", "notify INSTANCE VI BACKUP 100")
	h.at(3609374 * time.Microsecond)
	h.expect("before master_down_interval")
	h.at(3609375 * time.Microsecond)
	h.expect("master_down_interval", "advert VI 100", "addrs VI true", "garp VI x5", "notify INSTANCE VI MASTER 100")
	if h.state("VI") != StateMaster {
		t.Fatalf("state %v", h.state("VI"))
	}
	h.at(8609375 * time.Microsecond)
	h.expect("adverts each second, then the second GARP burst after garp_master_delay",
		"advert VI 100", "advert VI 100", "advert VI 100", "advert VI 100", "advert VI 100", "garp VI x5")
	h.m.Stop(t0.Add(9 * time.Second))
	h.expect("stop", "advert VI 0", "addrs VI false", "notify INSTANCE VI STOP 100")
}

func TestOwnerBecomesMasterAtOnce(t *testing.T) {
	h := newHarness(t, instanceConf("state MASTER\npriority 255\n"))
	h.m.Start(t0)
	h.at(time.Millisecond)
	h.expect("start", "advert VI 255", "addrs VI true", "garp VI x5", "notify INSTANCE VI MASTER 255")
}

func TestBackupFollowsMaster(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		prio  uint8 // the peer master's
		// takeover is when the instance becomes master while the peer
		// keeps sending adverts each second from 0.5 s on; 0: never.
		takeover time.Duration
	}{
		{"higher priority master holds us", "", 150, 0},
		{"equal priority holds a backup", "", 100, 0},
		{"lower priority master is preempted", "", 50, 3609375 * time.Microsecond},
		{"nopreempt keeps a lower master", "nopreempt\n", 50, 0},
		// The preempt delay starts at the first lower advert (0.5 s) and
		// ends at 3.5 s; adverts before then reset the down timer (the
		// one at 3.5 s no longer does, as keepalived compares strictly),
		// so the takeover is 2.5 + 3.609375 s.
		{"preempt_delay", "preempt_delay 3\n", 50, 6109375 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, instanceConf(tt.extra))
			h.m.Start(t0)
			h.rec.take()
			var became time.Duration
			for i := range 10 {
				at := 500*time.Millisecond + time.Duration(i)*time.Second
				h.rx(at, advert(t, "198.18.1.1", 51, tt.prio))
				if became == 0 && h.state("VI") == StateMaster {
					became = h.m.States()["VI"].Since.Sub(t0)
				}
			}
			if became != tt.takeover {
				t.Errorf("became master at %v, want %v", became, tt.takeover)
			}
		})
	}
}

func TestPriorityZeroSkewTakeover(t *testing.T) {
	h := newHarness(t, instanceConf(""))
	h.m.Start(t0)
	h.rx(time.Second, advert(t, "198.18.1.1", 51, 150))
	h.rx(2*time.Second, advert(t, "198.18.1.1", 51, 0))
	h.rec.take()
	h.at(2*time.Second + 609374*time.Microsecond)
	h.expect("before skew")
	h.at(2*time.Second + 609375*time.Microsecond)
	h.expect("skew time after priority 0", "advert VI 100", "addrs VI true", "garp VI x5", "notify INSTANCE VI MASTER 100")
}

// master returns a harness whose instance became master at 3.609375 s.
func master(t *testing.T, extra string) *harness {
	h := newHarness(t, instanceConf(extra))
	h.m.Start(t0)
	h.at(4 * time.Second)
	if h.state("VI") != StateMaster {
		t.Fatalf("not master: %v", h.state("VI"))
	}
	h.rec.take()
	return h
}

func TestMasterReceives(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		src   string
		prio  uint8
		want  []string
		state State
	}{
		{"higher priority: step down", "", "198.18.1.1", 150,
			[]string{"addrs VI false", "notify INSTANCE VI BACKUP 100"}, StateBackup},
		{"higher priority with higher_prio_send_advert", "higher_prio_send_advert\n", "198.18.1.1", 150,
			[]string{"advert VI 100", "addrs VI false", "notify INSTANCE VI BACKUP 100"}, StateBackup},
		{"lower priority: advert at once and GARPs", "", "198.18.1.1", 50,
			[]string{"advert VI 100", "garp VI x5", "notify INSTANCE VI MASTER_RX_LOWER_PRI 100"}, StateMaster},
		{"lower priority with lower_prio_no_advert", "lower_prio_no_advert\n", "198.18.1.1", 50,
			[]string{"garp VI x5", "notify INSTANCE VI MASTER_RX_LOWER_PRI 100"}, StateMaster},
		{"equal priority, higher address wins", "", "198.18.1.3", 100,
			[]string{"addrs VI false", "notify INSTANCE VI BACKUP 100"}, StateBackup},
		{"equal priority, lower address loses", "", "198.18.1.1", 100,
			[]string{"advert VI 100", "garp VI x5", "notify INSTANCE VI MASTER_RX_LOWER_PRI 100"}, StateMaster},
		{"priority 0: advert at once", "", "198.18.1.1", 0,
			[]string{"advert VI 100"}, StateMaster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := master(t, tt.extra)
			if v := h.rx(4200*time.Millisecond, advert(t, tt.src, 51, tt.prio)); v != Accepted {
				t.Fatalf("verdict %v", v)
			}
			h.expect("receive", tt.want...)
			if got := h.state("VI"); got != tt.state {
				t.Errorf("state %v, want %v", got, tt.state)
			}
		})
	}
}

func TestDrops(t *testing.T) {
	tests := []struct {
		name string
		p    func(t *testing.T) *Packet
		want Verdict
	}{
		{"good", func(t *testing.T) *Packet { return advert(t, "198.18.1.1", 51, 150) }, Accepted},
		{"unknown vrid", func(t *testing.T) *Packet { return advert(t, "198.18.1.1", 52, 150) }, DropUnknownVRID},
		{"own", func(t *testing.T) *Packet { return advert(t, "198.18.1.2", 51, 150) }, DropOwn},
		{"ttl", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.TTL = 254 })
		}, DropTTL},
		{"password", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Auth[0] = 'S' })
		}, DropAuth},
		{"auth type", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.AuthType = AuthNone })
		}, DropAuthType},
		{"version", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Version = 3 })
		}, DropVersion},
		{"interval", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Interval = 2 * time.Second })
		}, DropInterval},
		{"address count", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Addrs = append(p.Addrs, p.Addrs[0]) })
		}, DropAddrCount},
		{"address list", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Addrs[0] = netip.MustParseAddr("198.19.0.9") })
		}, DropAddrList},
		{"unicast to a multicast instance", func(t *testing.T) *Packet {
			return advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Dst = netip.MustParseAddr("198.18.1.2") })
		}, DropDestination},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, instanceConf(""))
			h.m.Start(t0)
			if got := h.rx(time.Second, tt.p(t)); got != tt.want {
				t.Errorf("verdict %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBadAdvertFlood sends a bad advert every millisecond: each is
// counted, one line is logged, and the timers run as if nothing came.
func TestBadAdvertFlood(t *testing.T) {
	h := master(t, "")
	bad := advert(t, "198.18.1.1", 51, 150, func(p *Packet) { p.Auth[0] = 'S' })
	for i := range 3000 {
		h.rx(4*time.Second+time.Duration(i)*time.Millisecond, bad)
	}
	h.at(7 * time.Second)
	h.expect("adverts go on", "advert VI 100", "advert VI 100", "advert VI 100")
	if got := h.m.States()["VI"].Stats.Dropped[DropAuth]; got != 3000 {
		t.Errorf("counted %d drops, want 3000", got)
	}
	if n := strings.Count(h.log.String(), "advert dropped"); n != 1 {
		t.Errorf("%d log lines for one peer, want 1:\n%s", n, h.log)
	}
}

func TestAHSequence(t *testing.T) {
	conf := strings.Replace(instanceConf(""), "auth_type PASS", "auth_type AH", 1)
	h := newHarness(t, conf)
	h.m.Start(t0)
	ah := func(seq uint32, prio uint8) *Packet {
		return advert(t, "198.18.1.1", 51, prio, func(p *Packet) {
			p.AuthType, p.Auth = AuthAH, [8]byte{}
			p.AH = &AH{SPI: 0xc6120101, Seq: seq}
		})
	}
	if v := h.rx(time.Second, ah(41, 150)); v != Accepted {
		t.Fatalf("verdict %v", v)
	}
	if v := h.rx(2*time.Second, ah(41, 150)); v != DropAuth {
		t.Errorf("replayed sequence number: verdict %v, want %v", v, DropAuth)
	}
	h.rx(2500*time.Millisecond, ah(42, 0))
	h.rec.take()
	h.at(4 * time.Second)
	h.expect("the new master goes on from the old master's sequence number",
		"advert VI 100 seq 43", "addrs VI true", "garp VI x5", "notify INSTANCE VI MASTER 100")
}

func TestTrackInterface(t *testing.T) {
	h := master(t, "track_interface {\n eth1\n eth2 weight -20\n}\n")
	h.m.SetInterface("eth2", false, t0.Add(4100*time.Millisecond))
	if p := h.m.States()["VI"].Priority; p != 80 {
		t.Errorf("priority %d, want 80", p)
	}
	h.at(4609375 * time.Microsecond)
	h.expect("priority change", "advert VI 80")
	h.m.SetInterface("eth1", false, t0.Add(4700*time.Millisecond))
	h.expect("link down: FAULT", "advert VI 0", "advert VI 0", "addrs VI false", "notify INSTANCE VI FAULT 80")
	h.at(20 * time.Second)
	h.expect("silent in FAULT")
	h.m.SetInterface("eth1", true, t0.Add(20*time.Second))
	h.expect("link up: BACKUP", "notify INSTANCE VI BACKUP 80")
}

func TestTrackScript(t *testing.T) {
	conf := `vrrp_script chk {
    script "/bin/true"
    weight 10
    rise 2
    fall 2
}
vrrp_script must {
    script "/bin/true"
}
` + instanceConf("track_script {\n chk\n must\n}\n")
	h := newHarness(t, conf)
	h.m.Start(t0)
	h.expect("a weight-0 script without result holds the instance")
	if s := h.state("VI"); s != StateFault {
		t.Errorf("state %v, want FAULT until the script's first result", s)
	}
	h.m.ScriptResult("must", true, t0.Add(100*time.Millisecond))
	h.expect("first result", "notify INSTANCE VI BACKUP 100")
	h.m.ScriptResult("chk", true, t0.Add(200*time.Millisecond))
	if p := h.m.States()["VI"].Priority; p != 110 {
		t.Errorf("priority %d, want 110", p)
	}
	h.m.ScriptResult("chk", false, t0.Add(300*time.Millisecond))
	if p := h.m.States()["VI"].Priority; p != 110 {
		t.Errorf("priority %d after one failure of fall 2, want 110", p)
	}
	h.m.ScriptResult("chk", false, t0.Add(400*time.Millisecond))
	if p := h.m.States()["VI"].Priority; p != 100 {
		t.Errorf("priority %d after two failures, want 100", p)
	}
	h.m.ScriptResult("must", false, t0.Add(500*time.Millisecond))
	h.expect("weight-0 script fails", "notify INSTANCE VI FAULT 100")
}

func TestSyncGroup(t *testing.T) {
	conf := `vrrp_sync_group G {
    group {
        A
        B
    }
}
` + strings.Replace(instanceConf("track_interface {\n eth1\n}\n"), "VI", "A", 1) +
		strings.Replace(strings.Replace(instanceConf(""), "VI", "B", 1), "51", "52", 1)
	h := newHarness(t, conf)
	h.m.Start(t0)
	h.expect("start", "notify GROUP G BACKUP 0", "notify INSTANCE A BACKUP 100", "notify INSTANCE B BACKUP 100")
	h.at(4 * time.Second)
	got := h.rec.take()
	// A times out first but waits for B (vrrp_sync_can_goto_master);
	// B's time-out then takes both.
	want := []string{"advert B 100", "addrs B true", "garp B x5", "notify INSTANCE B MASTER 100",
		"advert A 100", "addrs A true", "garp A x5", "notify INSTANCE A MASTER 100", "notify GROUP G MASTER 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("both become master (-want +got):\n%s", diff)
	}
	// B hears a better master: A follows it to BACKUP.
	p := advert(t, "198.18.1.1", 52, 200)
	h.m.Receive(t0.Add(4100*time.Millisecond), "lan", p)
	h.expect("member steps down", "addrs B false", "notify INSTANCE B BACKUP 100",
		"addrs A false", "notify INSTANCE A BACKUP 100", "notify GROUP G BACKUP 0")
	// A's tracked link goes down: the whole group is in FAULT.
	h.m.SetInterface("eth1", false, t0.Add(4200*time.Millisecond))
	h.expect("fault", "notify INSTANCE A FAULT 100", "notify INSTANCE B FAULT 100", "notify GROUP G FAULT 0")
	h.m.SetInterface("eth1", true, t0.Add(5*time.Second))
	h.expect("recovered", "notify INSTANCE A BACKUP 100", "notify INSTANCE B BACKUP 100", "notify GROUP G BACKUP 0")
}
