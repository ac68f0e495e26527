package daemon

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/sched"
)

func load(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("t.conf", []byte(src), &config.Options{ConfigID: "test"})
	if diags.HasErrors() {
		t.Fatalf("%s", diags)
	}
	return cfg
}

func TestServiceSpecsSeed(t *testing.T) {
	cfg, diags, err := config.Load("../examples/seed-galera-fixed.conf", nil)
	if err != nil || diags.HasErrors() {
		t.Fatalf("%v %s", err, diags)
	}
	specs, err := serviceSpecs(cfg, newIDs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("%d specs", len(specs))
	}
	w := specs[1]
	if w.Name != "10.20.29.175:3306/TCP" || w.Proto != 6 || w.Scheduler != sched.RR || w.Persistence != 1800*time.Second ||
		w.Granularity.Bits(true) != 24 || len(w.Backends) != 3 || w.Backends[0].Method != forward.MethodDR || w.Backends[0].Weight != 10 {
		t.Errorf("write service: %+v", w)
	}
	// Every ID is distinct.
	seen := map[uint32]bool{}
	for _, s := range specs {
		for _, id := range append([]uint32{s.ID}, func() (ids []uint32) {
			for _, b := range s.Backends {
				ids = append(ids, b.ID)
			}
			return
		}()...) {
			if seen[id] {
				t.Errorf("ID %d used twice", id)
			}
			seen[id] = true
		}
	}
}

func TestServiceSpecsGroup(t *testing.T) {
	cfg, diags, err := config.Load("../examples/seed-http-fixed.conf", nil)
	if err != nil || diags.HasErrors() {
		t.Fatalf("%v %s", err, diags)
	}
	specs, err := serviceSpecs(cfg, newIDs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := specs[1]; got.Proto != 17 || len(got.Addrs) != 1 || got.Addrs[0].Port != 44335 {
		t.Errorf("UDP group service: %+v", got)
	}
}

// TestIDsStable: a reload keeps the IDs of what stays, and never hands a
// removed real server's ID to a newcomer.
func TestIDsStable(t *testing.T) {
	const a = `virtual_server 198.19.0.1 80 {
  protocol TCP
  lb_algo rr
  lb_kind DR
  real_server 198.18.1.3 80 {
  }
  real_server 198.18.1.4 80 {
  }
}
`
	const b = `virtual_server 198.19.0.1 80 {
  protocol TCP
  lb_algo rr
  lb_kind DR
  real_server 198.18.1.4 80 {
  }
  real_server 198.18.1.5 80 {
  }
}
`
	m := newIDs()
	first, err := serviceSpecs(load(t, a), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := serviceSpecs(load(t, b), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(s []forward.ServiceSpec) map[string]uint32 {
		out := map[string]uint32{"service": s[0].ID}
		for _, be := range s[0].Backends {
			out[be.Addr.String()] = be.ID
		}
		return out
	}
	x, y := ids(first), ids(second)
	if x["service"] != y["service"] || x["198.18.1.4"] != y["198.18.1.4"] {
		t.Errorf("IDs changed across a reload: %v then %v", x, y)
	}
	if y["198.18.1.5"] == x["198.18.1.3"] {
		t.Errorf("the newcomer got the removed real server's ID: %v then %v", x, y)
	}
	if diff := cmp.Diff(3, len(y)); diff != "" {
		t.Error(diff)
	}
}

// fakeHealth holds some real servers down.
type fakeHealth struct{ down map[string]bool }

func (f fakeHealth) real(_ *config.VirtualServer, rs *config.RealServer) (uint32, bool) {
	if f.down[rs.Addr.String()] {
		return 0, false
	}
	return uint32(rs.Weight), true
}

func (f fakeHealth) sorry(*config.VirtualServer) (uint32, bool) { return 0, false }

// TestServiceSpecsDown: a real server the checkers hold down stays in the
// snapshot with weights 0 (no new flow, out of the hash tables) so that its
// established connections keep flowing; one that leaves the file goes.
func TestServiceSpecsDown(t *testing.T) {
	const src = `virtual_server 198.19.0.1 80 {
  protocol TCP
  lb_algo mh
  lb_kind DR
  real_server 198.18.1.3 80 {
    weight 5
  }
  real_server 198.18.1.4 80 {
    weight 5
  }
}
`
	specs, err := serviceSpecs(load(t, src), newIDs(), fakeHealth{down: map[string]bool{"198.18.1.3": true}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]uint32{}
	for _, b := range specs[0].Backends {
		got[b.Addr.String()] = [2]uint32{b.Weight, b.LastWeight}
	}
	want := map[string][2]uint32{"198.18.1.3": {0, 0}, "198.18.1.4": {5, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
}
