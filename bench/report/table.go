package report

import (
	"maps"
	"slices"
)

// Row is one system of one case, aggregated over repetitions.
type Row struct {
	System string
	Reps   int
	Median map[string]float64
	Min    map[string]float64
	Max    map[string]float64
	Ratio  float64 // headline median / reference's headline median; 0 when no reference
}

// Table aggregates a case's samples: one row per system, in the order
// systems first appear in Samples.
func (r *Run) Table(c CaseInfo) []Row {
	var order []string
	values := map[string]map[string][]float64{} // system -> metric -> values
	reps := map[string]int{}
	for _, s := range r.Samples {
		if s.Case != c.Name {
			continue
		}
		if _, ok := values[s.System]; !ok {
			order = append(order, s.System)
			values[s.System] = map[string][]float64{}
		}
		reps[s.System]++
		for m, v := range s.Metrics {
			values[s.System][m] = append(values[s.System][m], v)
		}
	}
	rows := make([]Row, 0, len(order))
	for _, sys := range order {
		rows = append(rows, aggregate(sys, reps[sys], values[sys]))
	}
	setRatios(rows, c)
	return rows
}

// aggregate builds the Row of one system from its values per metric.
func aggregate(system string, reps int, values map[string][]float64) Row {
	row := Row{
		System: system,
		Reps:   reps,
		Median: map[string]float64{},
		Min:    map[string]float64{},
		Max:    map[string]float64{},
	}
	for m, vs := range values {
		slices.Sort(vs)
		row.Median[m] = median(vs)
		row.Min[m] = vs[0]
		row.Max[m] = vs[len(vs)-1]
	}
	return row
}

// median returns the median of sorted, non-empty vs: the mean of the two
// middle values when len(vs) is even.
func median(vs []float64) float64 {
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// setRatios sets each row's Ratio to its headline median over the
// reference system's; rows stay at 0 when either is missing.
func setRatios(rows []Row, c CaseInfo) {
	i := slices.IndexFunc(rows, func(r Row) bool { return r.System == c.Reference })
	if i < 0 || c.Reference == "" {
		return
	}
	ref, ok := rows[i].Median[c.Headline]
	if !ok || ref == 0 {
		return
	}
	for j := range rows {
		if v, ok := rows[j].Median[c.Headline]; ok {
			rows[j].Ratio = v / ref
		}
	}
}

// columns returns the metrics to show for a case: c.Metrics in order, then
// any other metric the rows have, sorted.
func columns(c CaseInfo, rows []Row) []string {
	cols := slices.Clone(c.Metrics)
	extra := map[string]bool{}
	for _, r := range rows {
		for m := range r.Median {
			if !slices.Contains(cols, m) {
				extra[m] = true
			}
		}
	}
	return append(cols, slices.Sorted(maps.Keys(extra))...)
}
