package sched_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in      string
		want    sched.Algorithm
		wantErr string
	}{
		{"rr", sched.RR, ""},
		{"wrr", sched.WRR, ""},
		{"lc", sched.LC, ""},
		{"wlc", sched.WLC, ""},
		{"lblc", sched.LBLC, ""},
		{"lblcr", sched.LBLCR, ""},
		{"dh", sched.DH, ""},
		{"sh", sched.SH, ""},
		{"mh", sched.MH, ""},
		{"sed", sched.SED, ""},
		{"nq", sched.NQ, ""},
		{"fo", sched.FO, ""},
		{"ovf", sched.OVF, ""},
		{"twos", sched.TwoS, ""},
		{"RR", 0, `unknown scheduler "RR": scheduler names are lower case, did you mean "rr"?`},
		{"", 0, `unknown scheduler "": expected one of rr, wrr, lc,`},
		{"invalid", 0, "expected one of"},
		{"round-robin", 0, "expected one of"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sched.ParseAlgorithm(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAlgorithm(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAlgorithm(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestAlgorithmSupported(t *testing.T) {
	for a := sched.Algorithm(0); a < 20; a++ {
		want := a.String() != "invalid" && a != sched.LBLC && a != sched.LBLCR
		if a.Supported() != want {
			t.Errorf("%v.Supported() = %v, want %v", a, a.Supported(), want)
		}
	}
	if sched.Algorithm(0).String() != "invalid" {
		t.Errorf("zero Algorithm is %q, want invalid", sched.Algorithm(0))
	}
}

func TestNewUnsupported(t *testing.T) {
	for _, a := range []sched.Algorithm{sched.LBLC, sched.LBLCR} {
		_, err := sched.New(a, schedtest.Backends(3, 1), nil)
		if !errors.Is(err, sched.ErrUnsupported) {
			t.Fatalf("New(%s) error = %v, want ErrUnsupported", a, err)
		}
		if !strings.HasPrefix(err.Error(), "lvs_sched "+a.String()+": scheduler not supported") {
			t.Errorf("New(%s) error = %q", a, err)
		}
	}
	if _, err := sched.New(0, schedtest.Backends(3, 1), nil); err == nil {
		t.Error("New with the zero Algorithm succeeded")
	}
}
