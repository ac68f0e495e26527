package daemon

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardMetrics: every govs_ metric the Grafana dashboard in
// contrib/ queries is one govs serves.
func TestDashboardMetrics(t *testing.T) {
	raw, err := os.ReadFile("../contrib/grafana/govs.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	ch := make(chan *prometheus.Desc, 100)
	collector{}.Describe(ch)
	close(ch)
	for d := range ch {
		served[regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(d.String())[1]] = true
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`govs_[a-z_]+`).FindAllString(tg.Expr, -1) {
				used++
				if !served[name] {
					t.Errorf("panel %q queries %s, which govs does not serve", p.Title, name)
				}
			}
		}
	}
	if used < 20 {
		t.Errorf("the dashboard queries only %d metrics", used)
	}
}
