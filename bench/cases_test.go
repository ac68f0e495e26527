package bench

import (
	"slices"
	"testing"
)

// TestCasesIPVS: IPVS joins the packet rate and HTTP cases only where the
// kernel has ip_vs; elsewhere their tables say it was not measured.
func TestCasesIPVS(t *testing.T) {
	saved := HaveIPVS
	t.Cleanup(func() { HaveIPVS = saved })
	for _, have := range []bool{false, true, false} {
		HaveIPVS = func() bool { return have }
		for _, c := range Cases() {
			if c.Benchmark != "BenchmarkPacketRate" && c.Benchmark != "BenchmarkHTTP" {
				if slices.Contains(c.Systems, IPVS) {
					t.Errorf("ip_vs %v: case %s has %s", have, c.Name, IPVS)
				}
				continue
			}
			if got := slices.Contains(c.Systems, IPVS); got != have {
				t.Errorf("ip_vs %v: case %s: has %s = %v", have, c.Name, IPVS, got)
			}
			if noted := c.Note != ""; noted == have {
				t.Errorf("ip_vs %v: case %s: note %q", have, c.Name, c.Note)
			}
		}
	}
	if slices.Contains(PacketSystems, IPVS) || slices.Contains(HTTPSystems, IPVS) {
		t.Errorf("Cases changed the system lists: %v, %v", PacketSystems, HTTPSystems)
	}
}
