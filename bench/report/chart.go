package report

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The chart's size and resolution.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 4 * vg.Inch
	chartDPI    = 144
)

// panelColors are the bar colours of the left and right panels.
var panelColors = [2]color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// Chart writes one PNG, 8x4 inches: two panels side by side, each a bar
// chart of one case's headline median per system with min..max error bars.
// The left panel is the packet-rate case packetCase, the right one the
// connection-rate case connCase. A panel whose case has no samples says so
// in its title.
func (r *Run) Chart(w io.Writer, packetCase, connCase string) error {
	var panels [2]*plot.Plot
	for i, name := range []string{packetCase, connCase} {
		p, err := r.panel(name, panelColors[i])
		if err != nil {
			return fmt.Errorf("chart %q: %w", name, err)
		}
		panels[i] = p
	}
	img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadX: vg.Points(24), PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(6),
	}
	canvases := plot.Align([][]*plot.Plot{panels[:]}, tiles, draw.New(img))
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

// panel builds the bar chart of one case's headline metric.
func (r *Run) panel(name string, c color.Color) (*plot.Plot, error) {
	info, _ := r.caseInfo(name)
	p := plot.New()
	p.Title.Text = info.Title
	if p.Title.Text == "" {
		p.Title.Text = name
	}
	p.Y.Label.Text = unitLabel(info.Headline)
	p.Y.Tick.Marker = thousandsTicks{}
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)

	systems, bars := r.headline(info)
	if len(systems) == 0 {
		p.Title.Text += ": no samples"
		p.HideAxes()
		return p, nil
	}
	chart, err := plotter.NewBarChart(plotter.YValues{XYer: bars.XYs}, vg.Points(20))
	if err != nil {
		return nil, err
	}
	chart.Color = c
	chart.LineStyle.Width = 0
	errs, err := plotter.NewYErrorBars(bars)
	if err != nil {
		return nil, err
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid, chart, errs)
	p.NominalX(systems...)
	p.X.Min, p.X.Max, p.X.Padding = -0.5, float64(len(systems))-0.5, 0
	return p, nil
}

// errorBars holds the headline medians with their distances to min and max.
type errorBars struct {
	plotter.XYs
	plotter.YErrors
}

// headline returns the systems that have the case's headline metric and,
// for each, its median with the min..max range as error bars.
func (r *Run) headline(c CaseInfo) ([]string, errorBars) {
	var systems []string
	var bars errorBars
	if c.Headline == "" {
		return nil, bars
	}
	for _, row := range r.Table(c) {
		med, ok := row.Median[c.Headline]
		if !ok {
			continue
		}
		bars.XYs = append(bars.XYs, plotter.XY{X: float64(len(systems)), Y: med})
		bars.YErrors = append(bars.YErrors, struct{ Low, High float64 }{
			Low: med - row.Min[c.Headline], High: row.Max[c.Headline] - med,
		})
		systems = append(systems, row.System)
	}
	return systems, bars
}

// thousandsTicks places ticks like plot.DefaultTicks and labels them with
// thousands separators instead of exponents.
type thousandsTicks struct{}

// Ticks implements plot.Ticker.
func (thousandsTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = formatValue(t.Value)
		}
	}
	return ticks
}
