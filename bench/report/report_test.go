package report

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/RESULTS.golden.md")

// testRun returns a small run with odd and even repetition counts, a
// missing metric, a case without its reference and a case without samples.
func testRun() *Run {
	s := func(c, sys string, rep int, m map[string]float64) Sample {
		return Sample{Case: c, System: sys, Rep: rep, Metrics: m}
	}
	type M = map[string]float64
	return &Run{
		Date:    time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Machine: "Test CPU @ 2.0GHz, 2 cores, 24 GiB",
		Kernel:  "6.1.0-test",
		Go:      "go1.26.8",
		Commit:  "0123abc",
		Quick:   true,
		Method:  "Each system runs in turn.\n\nCells are medians.\n",
		Cases: []CaseInfo{
			{Name: "udp-64", Title: "64-byte UDP, 10k flows", Reference: "kernel", Headline: "pkts/s",
				Metrics: []string{"pkts/s", "cpu-ns/pkt"}, Higher: true, Note: "IPVS: not measured."},
			{Name: "http-close", Title: "HTTP, one request per connection", Reference: "haproxy",
				Headline: "req/s", Metrics: []string{"req/s", "p99-ms"}, Higher: true},
			{Name: "http-keepalive", Title: "HTTP keep-alive", Reference: "kernel", Headline: "p50-ms",
				Metrics: []string{"p50-ms"}},
			{Name: "scale-rs-10000", Title: "10,000 real servers", Reference: "govs-dr", Headline: "pkts/s",
				Note: "Not run in quick mode."},
		},
		Samples: []Sample{
			s("udp-64", "kernel", 1, M{"pkts/s": 200000, "cpu-ns/pkt": 4.5}),
			s("udp-64", "govs-dr", 1, M{"pkts/s": 100000, "cpu-ns/pkt": 9, "rss-MiB": 30}),
			s("udp-64", "nft-dr", 1, M{"pkts/s": 189000}),
			s("http-close", "haproxy", 1, M{"req/s": 10000, "p99-ms": 1.5}),
			s("udp-64", "kernel", 2, M{"pkts/s": 220808, "cpu-ns/pkt": 4.7}),
			s("udp-64", "govs-dr", 2, M{"pkts/s": 110000, "cpu-ns/pkt": 10}),
			s("http-close", "haproxy", 2, M{"req/s": 12000, "p99-ms": 2.5}),
			s("http-close", "govs-dr", 1, M{"req/s": 20000, "p99-ms": 0.47}),
			s("http-close", "govs-dr", 2, M{"req/s": 24000, "p99-ms": 0.53}),
			s("udp-64", "kernel", 3, M{"pkts/s": 210000, "cpu-ns/pkt": 4.6}),
			s("udp-64", "govs-dr", 3, M{"pkts/s": 90000, "cpu-ns/pkt": 11}),
			s("udp-64", "govs-dr", 4, M{"pkts/s": 120000, "cpu-ns/pkt": 12}),
			s("http-keepalive", "direct", 1, M{"p50-ms": 0.25}),
			s("http-keepalive", "govs-dr", 1, M{"p50-ms": 0.3}),
		},
		Skipped: []string{"ipvs: this kernel has no ip_vs module"},
	}
}

func TestTable(t *testing.T) {
	run := testRun()
	tests := []struct {
		name string
		c    CaseInfo
		want []Row
	}{
		{
			name: "odd and even reps, missing metric",
			c:    run.Cases[0],
			want: []Row{
				{System: "kernel", Reps: 3,
					Median: map[string]float64{"pkts/s": 210000, "cpu-ns/pkt": 4.6},
					Min:    map[string]float64{"pkts/s": 200000, "cpu-ns/pkt": 4.5},
					Max:    map[string]float64{"pkts/s": 220808, "cpu-ns/pkt": 4.7},
					Ratio:  1},
				{System: "govs-dr", Reps: 4,
					Median: map[string]float64{"pkts/s": 105000, "cpu-ns/pkt": 10.5, "rss-MiB": 30},
					Min:    map[string]float64{"pkts/s": 90000, "cpu-ns/pkt": 9, "rss-MiB": 30},
					Max:    map[string]float64{"pkts/s": 120000, "cpu-ns/pkt": 12, "rss-MiB": 30},
					Ratio:  0.5},
				{System: "nft-dr", Reps: 1,
					Median: map[string]float64{"pkts/s": 189000},
					Min:    map[string]float64{"pkts/s": 189000},
					Max:    map[string]float64{"pkts/s": 189000},
					Ratio:  0.9},
			},
		},
		{
			name: "reference absent",
			c:    run.Cases[2],
			want: []Row{
				{System: "direct", Reps: 1,
					Median: map[string]float64{"p50-ms": 0.25},
					Min:    map[string]float64{"p50-ms": 0.25},
					Max:    map[string]float64{"p50-ms": 0.25}},
				{System: "govs-dr", Reps: 1,
					Median: map[string]float64{"p50-ms": 0.3},
					Min:    map[string]float64{"p50-ms": 0.3},
					Max:    map[string]float64{"p50-ms": 0.3}},
			},
		},
		{
			name: "no samples",
			c:    run.Cases[3],
			want: []Row{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, run.Table(tt.c)); diff != "" {
				t.Errorf("Table(%q) mismatch (-want +got):\n%s", tt.c.Name, diff)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"rate", formatValue(220808), "220,808"},
		{"rate rounded", formatValue(1234567.6), "1,234,568"},
		{"hundred", formatValue(100), "100"},
		{"negative rate", formatValue(-1500), "-1,500"},
		{"small", formatValue(0.47), "0.47"},
		{"three digits", formatValue(12.345), "12.3"},
		{"rounds up to 100", formatValue(99.96), "100"},
		{"zero", formatValue(0), "0"},
		{"ratio", formatRatio(0.4712), "0.47x"},
		{"no ratio", formatRatio(0), "–"},
		{"single rep", cell(Row{Reps: 1, Median: map[string]float64{"a": 5}}, "a"), "5"},
		{"missing", cell(Row{Reps: 3, Median: map[string]float64{}}, "a"), "–"},
		{"range", cell(Row{Reps: 2, Median: map[string]float64{"a": 1500},
			Min: map[string]float64{"a": 1000}, Max: map[string]float64{"a": 2000}}, "a"), "1,500 (1,000..2,000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := testRun().Markdown(&b, "/tmp/out/chart.png"); err != nil {
		t.Fatalf("Markdown: %v", err)
	}
	golden := filepath.Join("testdata", "RESULTS.golden.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("Markdown mismatch (-want +got):\n%s", diff)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		run  *Run
	}{
		{"full", testRun()},
		{"empty", &Run{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.run.WriteJSON(&b); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			got, err := ReadJSON(&b)
			if err != nil {
				t.Fatalf("ReadJSON: %v", err)
			}
			if diff := cmp.Diff(tt.run, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadJSONError(t *testing.T) {
	if _, err := ReadJSON(bytes.NewReader([]byte("{"))); err == nil {
		t.Error("ReadJSON of truncated JSON: got nil error")
	}
}

func TestChart(t *testing.T) {
	tests := []struct {
		name               string
		run                *Run
		packetCase, conn   string
		wantWidth, wantHgt int
	}{
		{"full", testRun(), "udp-64", "http-close", 1152, 576},
		{"empty run", &Run{}, "udp-64", "http-close", 1152, 576},
		{"case without samples", testRun(), "scale-rs-10000", "http-close", 1152, 576},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.run.Chart(&b, tt.packetCase, tt.conn); err != nil {
				t.Fatalf("Chart: %v", err)
			}
			img, err := png.Decode(&b)
			if err != nil {
				t.Fatalf("decode PNG: %v", err)
			}
			if got := img.Bounds().Size(); got.X != tt.wantWidth || got.Y != tt.wantHgt {
				t.Errorf("PNG size = %v, want %dx%d", got, tt.wantWidth, tt.wantHgt)
			}
		})
	}
}
