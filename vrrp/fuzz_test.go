package vrrp

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse feeds Parse arbitrary packets: it must not panic, and what it
// accepts must marshal back to a packet that parses to the same advert
// (crashers go to testdata/fuzz/FuzzParse and are replayed by go test).
func FuzzParse(f *testing.F) {
	for _, file := range []string{"vec-v2-pass-adverts.pcap", "vec-v2-ah.pcap", "vec-v3-adverts.pcap", "vec-v3-unicast.pcap"} {
		for _, b := range ipPayloads(f, file) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, v := Parse(bytes.Clone(b))
		if v != Accepted {
			if p != nil {
				t.Fatalf("verdict %v with a packet", v)
			}
			return
		}
		key := make([]byte, 8)
		out, err := p.Marshal(key)
		if err != nil {
			t.Fatalf("accepted packet does not marshal: %v", err)
		}
		q, v := Parse(out)
		if v != Accepted {
			t.Fatalf("marshalled packet does not parse: %v", v)
		}
		opts := []cmp.Option{cmpopts.IgnoreUnexported(Packet{}), cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(AH{}, "ICV")}
		if diff := cmp.Diff(p, q, opts...); diff != "" {
			t.Fatalf("round trip (-parsed +reparsed):\n%s", diff)
		}
	})
}

// TestFuzzCorpusExists keeps the crashers directory in place.
func TestFuzzCorpusExists(t *testing.T) {
	if _, err := os.Stat(filepath.Join("testdata", "fuzz", "FuzzParse")); err != nil {
		t.Fatalf("testdata/fuzz/FuzzParse: %v", err)
	}
}
