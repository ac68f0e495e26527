package daemon

import (
	"testing"

	"github.com/govs-lb/govs/internal/netsimtest"
)

// TestNamespaceRunner: in the process's own namespace there is nothing to
// do; in a lab host's, probes must be sent from there. A wrong answer here
// sends health checks out of the machine's own namespace.
func TestNamespaceRunner(t *testing.T) {
	lab := netsimtest.New(t)
	h, err := lab.AddHost("x")
	if err != nil {
		t.Fatal(err)
	}
	if do, release, err := namespaceRunner(); err != nil || do != nil {
		t.Errorf("in the process's namespace: runner %v, error %v", do != nil, err)
	} else {
		release()
	}
	err = h.Do(func() error {
		do, release, err := namespaceRunner()
		if err != nil {
			return err
		}
		defer release()
		if do == nil {
			t.Errorf("in a lab host's namespace: no runner")
			return nil
		}
		// The runner's thread is in the host's namespace: it sees the
		// host's interfaces (lo only), not the machine's.
		return do(func() error {
			_, err := h.Netlink().LinkByName("lo")
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
