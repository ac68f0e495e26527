package netsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// lan builds a lab with one segment "lan" joined by hosts with the given
// names, numbered 1, 2, ... in that order.
func lan(t *testing.T, names ...string) (*netsim.Lab, map[string]*netsim.Host) {
	t.Helper()
	lab := netsimtest.New(t)
	seg, err := lab.AddSegment("lan")
	if err != nil {
		t.Fatal(err)
	}
	hosts := make(map[string]*netsim.Host)
	for _, n := range names {
		h, err := lab.AddHost(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Join(seg); err != nil {
			t.Fatal(err)
		}
		hosts[n] = h
	}
	return lab, hosts
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
