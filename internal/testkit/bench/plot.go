// This file draws a run's requests per second and failures as a PNG
// (gonum/plot).
package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	blue  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	red   = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey  = color.RGBA{R: 120, G: 120, B: 120, A: 255}
	green = color.RGBA{R: 44, G: 160, B: 44, A: 255}
)

// intTicks are the default ticks labelled without decimals.
type intTicks struct{}

// Ticks implements plot.Ticker with whole numbers only: request counts.
func (intTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// secondTicks mark every 5 seconds (every 10 past a minute).
type secondTicks struct{}

// Ticks implements plot.Ticker with whole seconds.
func (secondTicks) Ticks(min, max float64) []plot.Tick {
	step := 5.0
	if max-min > 60 {
		step = 10
	}
	var ts []plot.Tick
	for x := math.Ceil(min/step) * step; x <= max; x += step {
		ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		for m := 1.0; m < step && x+m <= max; m++ {
			ts = append(ts, plot.Tick{Value: x + m})
		}
	}
	return ts
}

// Plot draws one scenario: per procedure (one result each, in order), the
// requests sent per second and, below, the failed requests per 250 ms, on the
// time of the load run; the procedure's begin and end are green lines, each
// step's start (or the runbook's actions) dashed grey lines with labels.
func Plot(results []Result, title, path string) error {
	rows := make([][]*plot.Plot, 0, 2*len(results))
	xmax := 0.0
	for _, r := range results {
		xmax = math.Max(xmax, r.Total.Duration.Seconds())
	}
	for _, r := range results {
		top, bottom := plot.New(), plot.New()
		top.Title.Text = fmt.Sprintf("%s — %d requests, %d failed", r.Procedure, r.Total.Requests, r.Total.Failed)
		if k := r.Total.Kinds(); k != "" {
			top.Title.Text += " (" + k + ")"
		}
		top.Title.TextStyle.Font.Size = vg.Points(11)
		top.Y.Label.Text = "requests/s"
		bottom.Y.Label.Text = "failed"
		bottom.X.Label.Text = "seconds since the load started"
		reqs, fails := plotter.XYs{}, plotter.XYs{}
		maxReq, maxFail := 1.0, 1.0
		tl, step := r.Fine, FineStep
		if len(tl) == 0 {
			tl, step = r.Total.Timeline, time.Second
		}
		if n := len(tl); n > 1 {
			tl = tl[:n-1] // the last bucket is cut short by the stop
		}
		perSec := float64(time.Second) / float64(step)
		for _, s := range tl {
			x := s.At.Seconds()
			y := float64(s.Requests) * perSec
			reqs = append(reqs, plotter.XY{X: x, Y: y})
			fails = append(fails, plotter.XY{X: x, Y: float64(s.Failed)})
			maxReq = math.Max(maxReq, y)
			maxFail = math.Max(maxFail, float64(s.Failed))
		}
		if n := len(tl); n > 0 {
			x := (tl[n-1].At + step).Seconds()
			reqs = append(reqs, plotter.XY{X: x, Y: reqs[n-1].Y})
			fails = append(fails, plotter.XY{X: x, Y: fails[n-1].Y})
		}
		if l, err := plotter.NewLine(reqs); err == nil && len(reqs) > 0 {
			l.StepStyle = plotter.PostStep
			l.Color, l.Width = blue, vg.Points(1.2)
			top.Add(l)
		}
		if l, err := plotter.NewLine(fails); err == nil && len(fails) > 0 {
			l.StepStyle = plotter.PostStep
			l.Color, l.Width = red, vg.Points(1.2)
			l.FillColor = color.NRGBA{R: 214, G: 39, B: 40, A: 90}
			bottom.Add(l)
		}
		top.Y.Min, top.Y.Max = 0, maxReq*1.35
		bottom.Y.Min, bottom.Y.Max = 0, math.Max(maxFail*1.15, 2)
		var labels plotter.XYLabels
		for _, m := range r.Total.Marks {
			x := m.At.Seconds()
			style := draw.LineStyle{Color: grey, Width: vg.Points(0.6), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
			switch {
			case m.Label == "begin" || m.Label == "end":
				style = draw.LineStyle{Color: green, Width: vg.Points(1.2)}
			case strings.HasSuffix(m.Label, " done") || strings.HasSuffix(m.Label, " failed"):
				style.Color = color.RGBA{R: 190, G: 190, B: 190, A: 255}
			}
			for _, p := range []*plot.Plot{top, bottom} {
				ymax := p.Y.Max
				vl, _ := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax}})
				vl.LineStyle = style
				p.Add(vl)
			}
			if lbl := strings.TrimSuffix(m.Label, " start"); lbl != m.Label || (!strings.HasSuffix(m.Label, " done") && !strings.HasSuffix(m.Label, " failed")) {
				labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: top.Y.Max * 0.98})
				labels.Labels = append(labels.Labels, lbl)
			}
		}
		if len(labels.XYs) > 0 {
			if l, err := plotter.NewLabels(labels); err == nil {
				for i := range l.TextStyle {
					l.TextStyle[i].Rotation = math.Pi / 2
					l.TextStyle[i].XAlign = draw.XRight
					l.TextStyle[i].YAlign = draw.YTop
					l.TextStyle[i].Font.Size = vg.Points(7)
					l.TextStyle[i].Color = color.RGBA{A: 255}
				}
				l.Offset = vg.Point{X: vg.Points(-1)}
				top.Add(l)
			}
		}
		for _, p := range []*plot.Plot{top, bottom} {
			p.X.Min, p.X.Max = 0, xmax
			p.Add(plotter.NewGrid())
			p.Y.Tick.Marker = intTicks{}
			p.X.Tick.Marker = secondTicks{}
		}
		rows = append(rows, []*plot.Plot{top}, []*plot.Plot{bottom})
	}
	const width = 900
	heights := 0
	for i := range rows {
		if i%2 == 0 {
			heights += 210
		} else {
			heights += 110
		}
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Points(width), vg.Points(float64(heights+30))), vgimg.UseDPI(96))
	dc := draw.New(img)
	// Title across the top.
	titleStyle := draw.TextStyle{Color: color.RGBA{A: 255}, Font: plot.DefaultFont, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	titleStyle.Font.Size = vg.Points(13)
	dc.FillText(titleStyle, vg.Point{X: vg.Points(width / 2), Y: vg.Points(float64(heights + 25))}, title)
	body := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{}, Max: vg.Point{X: vg.Points(width), Y: vg.Points(float64(heights))}}}
	// Rows of unequal height: lay them out by hand, keeping the axes aligned
	// with plot.Align per pair.
	y := vg.Points(float64(heights))
	for i := 0; i+1 < len(rows); i += 2 {
		h := vg.Points(210 + 110)
		pair := draw.Canvas{Canvas: body.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: 0, Y: y - h}, Max: vg.Point{X: vg.Points(width), Y: y}}}
		tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(10), PadY: vg.Points(2)}
		cs := plot.Align([][]*plot.Plot{rows[i], rows[i+1]}, tiles, pair)
		// Align gives equal heights; shrink the failures panel.
		top, bottom := cs[0][0], cs[1][0]
		split := pair.Min.Y + (pair.Max.Y-pair.Min.Y)*110/320
		top.Min.Y, bottom.Max.Y = split+vg.Points(2), split-vg.Points(2)
		rows[i][0].Draw(top)
		rows[i+1][0].Draw(bottom)
		y -= h
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
