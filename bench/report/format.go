package report

import (
	"math"
	"strconv"
	"strings"
)

// missing stands in a table cell for a metric a system lacks.
const missing = "–"

// formatValue formats v for a table cell: values of 100 and more as whole
// numbers with thousands separators ("220,808"), smaller ones with up to 3
// significant digits ("0.47", "12.3").
func formatValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return thousands(int64(math.Round(v)))
}

// thousands formats n with a comma between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// formatRatio formats a ratio to the reference as "0.47x", or missing for 0.
func formatRatio(r float64) string {
	if r == 0 {
		return missing
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

// cell formats one metric of one row: the median alone for a single
// repetition, else "median (min..max)".
func cell(r Row, metric string) string {
	med, ok := r.Median[metric]
	if !ok {
		return missing
	}
	if r.Reps < 2 {
		return formatValue(med)
	}
	return formatValue(med) + " (" + formatValue(r.Min[metric]) + ".." + formatValue(r.Max[metric]) + ")"
}

// unitLabel spells out a metric's unit for a chart axis.
func unitLabel(metric string) string {
	switch metric {
	case "pkts/s":
		return "packets/s"
	case "lossfree-pkts/s":
		return "loss-free packets/s"
	case "req/s":
		return "requests/s"
	}
	return metric
}
