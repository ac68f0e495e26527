package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Sample is one measurement: one case, one system, one repetition.
type Sample struct {
	Case    string             `json:"case"`    // e.g. "udp-64", "http-close"
	System  string             `json:"system"`  // e.g. "kernel", "govs-dr", "haproxy"
	Rep     int                `json:"rep"`     // 1-based repetition
	Metrics map[string]float64 `json:"metrics"` // unit -> value, e.g. "pkts/s", "p99-ms"
}

// CaseInfo describes a case: its title, which system is the reference for
// ratios, which metric is its headline (used for the ratio column and the
// chart), and the order in which metrics are shown.
type CaseInfo struct {
	Name      string   `json:"name"`
	Title     string   `json:"title"`          // e.g. "64-byte UDP, 10k flows"
	Reference string   `json:"reference"`      // system name, e.g. "kernel"
	Headline  string   `json:"headline"`       // metric, e.g. "pkts/s"
	Metrics   []string `json:"metrics"`        // column order; metrics not listed are appended sorted
	Higher    bool     `json:"higher"`         // headline: higher is better (rates) or not (latency)
	Note      string   `json:"note,omitempty"` // one line under the case's table
}

// Run is a whole benchmark run.
type Run struct {
	Date    time.Time  `json:"date"`
	Machine string     `json:"machine"` // CPU model, cores, memory
	Kernel  string     `json:"kernel"`  // uname -r
	Go      string     `json:"go"`      // runtime.Version()
	Commit  string     `json:"commit"`
	Quick   bool       `json:"quick"`  // BENCH_QUICK run
	Method  string     `json:"method"` // markdown paragraph(s) describing the method
	Cases   []CaseInfo `json:"cases"`
	Samples []Sample   `json:"samples"`
	Skipped []string   `json:"skipped,omitempty"` // one line each, e.g. "ipvs: this kernel has no ip_vs module"
}

// WriteJSON writes the Run as indented JSON.
func (r *Run) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode run: %w", err)
	}
	return nil
}

// ReadJSON reads what WriteJSON wrote.
func ReadJSON(rd io.Reader) (*Run, error) {
	var r Run
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode run: %w", err)
	}
	return &r, nil
}

// caseInfo returns the CaseInfo named name, and whether the run has one.
func (r *Run) caseInfo(name string) (CaseInfo, bool) {
	for _, c := range r.Cases {
		if c.Name == name {
			return c, true
		}
	}
	return CaseInfo{Name: name}, false
}
