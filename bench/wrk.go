package bench

import (
	"fmt"
	"regexp"
	"strconv"
)

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPercent = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads the figures of wrk --latency's report.
func parseWrk(out string) (map[string]float64, error) {
	m := map[string]float64{"errors": 0}
	r := wrkRate.FindStringSubmatch(out)
	if r == nil {
		return nil, fmt.Errorf("no Requests/sec")
	}
	m["req/s"], _ = strconv.ParseFloat(r[1], 64)
	for _, p := range wrkPercent.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		switch p[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		m["p"+p[1]+"-ms"] = v
	}
	if _, ok := m["p99-ms"]; !ok {
		return nil, fmt.Errorf("no latency distribution")
	}
	if e := wrkSocket.FindStringSubmatch(out); e != nil {
		for _, s := range e[1:] {
			n, _ := strconv.ParseFloat(s, 64)
			m["errors"] += n
		}
	}
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		n, _ := strconv.ParseFloat(e[1], 64)
		m["errors"] += n
	}
	return m, nil
}
