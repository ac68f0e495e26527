package config

import (
	"fmt"
	"strings"
	"testing"
)

// bigConfig writes a configuration with nvs virtual servers of rsPer real
// servers each, every real server with a TCP_CHECK, and one VRRP instance
// holding the VIPs.
func bigConfig(nvs, rsPer int) []byte {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id bench\n}\n")
	b.WriteString("vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 1\n    priority 100\n    virtual_ipaddress {\n")
	for i := 0; i < nvs; i++ {
		fmt.Fprintf(&b, "        198.18.%d.%d/32 dev eth0\n", 100+i/250, 1+i%250)
	}
	b.WriteString("    }\n}\n")
	for i := 0; i < nvs; i++ {
		fmt.Fprintf(&b, "virtual_server 198.18.%d.%d 80 {\n    delay_loop 6\n    lb_algo mh\n    lb_kind DR\n    protocol TCP\n", 100+i/250, 1+i%250)
		for j := 0; j < rsPer; j++ {
			n := i*rsPer + j
			fmt.Fprintf(&b, "    real_server 198.19.%d.%d 80 {\n        weight 10\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n", n/250, 1+n%250)
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// BenchmarkParse parses and validates 1,000 virtual servers with 10,000
// real servers (goal: under 50 ms).
func BenchmarkParse(b *testing.B) {
	src := bigConfig(1000, 10)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, diags := Parse("big.conf", src, &Options{ConfigID: "bench"})
		if diags.HasErrors() || len(cfg.VirtualServers) != 1000 {
			b.Fatalf("%d virtual servers:\n%s", len(cfg.VirtualServers), diags)
		}
	}
}

func TestBigConfig(t *testing.T) {
	src := bigConfig(1000, 10)
	cfg, diags := Parse("big.conf", src, &Options{ConfigID: "bench"})
	if len(diags) != 0 {
		t.Fatalf("%s", diags)
	}
	n := 0
	for _, vs := range cfg.VirtualServers {
		n += len(vs.RealServers)
	}
	if len(cfg.VirtualServers) != 1000 || n != 10000 {
		t.Fatalf("%d virtual servers, %d real servers", len(cfg.VirtualServers), n)
	}
}
