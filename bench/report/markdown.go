package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// dateLayout is how RESULTS.md shows the run's date, in UTC.
const dateLayout = "2006-01-02 15:04 MST"

// Markdown writes RESULTS.md: a title, the run's facts, the Method text,
// a table per case, the Skipped lines, then a link to the chart image
// chartFile (by its base name, as it sits next to RESULTS.md). An empty
// chartFile leaves the link out.
func (r *Run) Markdown(w io.Writer, chartFile string) error {
	var b bytes.Buffer
	r.writeHeader(&b)
	for _, c := range r.Cases {
		r.writeCase(&b, c)
	}
	if len(r.Skipped) > 0 {
		b.WriteString("## Not measured\n\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n")
	}
	if chartFile != "" {
		name := filepath.Base(chartFile)
		fmt.Fprintf(&b, "## Chart\n\n![Headline rates per system](%s)\n", name)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// writeHeader writes the title, the list of facts about the run and the
// Method section.
func (r *Run) writeHeader(b *bytes.Buffer) {
	b.WriteString("# govs benchmark results\n\n")
	mode := "full"
	if r.Quick {
		mode = "quick (BENCH_QUICK)"
	}
	facts := [][2]string{
		{"Date", r.Date.UTC().Format(dateLayout)},
		{"Machine", r.Machine},
		{"Kernel", r.Kernel},
		{"Go", r.Go},
		{"Commit", r.Commit},
		{"Run", mode},
	}
	for _, f := range facts {
		if f[1] != "" {
			fmt.Fprintf(b, "- %s: %s\n", f[0], f[1])
		}
	}
	b.WriteString("\n")
	if m := strings.TrimSpace(r.Method); m != "" {
		fmt.Fprintf(b, "## Method\n\n%s\n\n", m)
	}
}

// writeCase writes one case's heading, table and note.
func (r *Run) writeCase(b *bytes.Buffer, c CaseInfo) {
	title := c.Title
	if title == "" {
		title = c.Name
	}
	fmt.Fprintf(b, "## %s\n\n", title)
	rows := r.Table(c)
	if len(rows) == 0 {
		b.WriteString("No samples.\n\n")
	} else {
		fmt.Fprintf(b, "%s\n\n", caseLine(c, rows))
		writeTable(b, c, rows)
	}
	if c.Note != "" {
		fmt.Fprintf(b, "%s\n\n", c.Note)
	}
}

// caseLine says what the case's cells are and which way is better.
func caseLine(c CaseInfo, rows []Row) string {
	lo, hi := rows[0].Reps, rows[0].Reps
	for _, r := range rows {
		lo, hi = min(lo, r.Reps), max(hi, r.Reps)
	}
	reps := fmt.Sprintf("median (min..max) of %d repetitions", hi)
	switch {
	case hi == 1:
		reps = "one repetition"
	case lo != hi:
		reps = fmt.Sprintf("median (min..max) of %d to %d repetitions", lo, hi)
	}
	better := "lower"
	if c.Higher {
		better = "higher"
	}
	return fmt.Sprintf("Case `%s`, %s; headline %s, %s is better.",
		c.Name, reps, c.Headline, better)
}

// writeTable writes the markdown table of a case's rows.
func writeTable(b *bytes.Buffer, c CaseInfo, rows []Row) {
	cols := columns(c, rows)
	head := append([]string{"System"}, cols...)
	if c.Reference != "" {
		head = append(head, "ratio to "+c.Reference)
	}
	writeLine(b, head)
	align := []string{"---"}
	for range head[1:] {
		align = append(align, "---:")
	}
	writeLine(b, align)
	for _, r := range rows {
		line := []string{r.System}
		for _, m := range cols {
			line = append(line, cell(r, m))
		}
		if c.Reference != "" {
			line = append(line, formatRatio(r.Ratio))
		}
		writeLine(b, line)
	}
	b.WriteString("\n")
}

// writeLine writes one table line, escaping pipes in the cells.
func writeLine(b *bytes.Buffer, cells []string) {
	for i, s := range cells {
		cells[i] = strings.ReplaceAll(s, "|", `\|`)
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}
