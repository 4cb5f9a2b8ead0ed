package console

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
)

// Charts are hand-written SVG: a fixed viewBox that scales to the page's
// width, a <title> and <desc> for screen readers, series told apart by
// shape (bars, line, hatch) as well as colour, and axis labels as text.

const (
	chartW, chartH                = 720.0, 240.0
	padL, padR, padTop, padBottom = 56.0, 12.0, 28.0, 36.0
)

// series is one set of values: drawn as bars, or as a line when Line.
type series struct {
	Name  string
	Class string // CSS class: colour and pattern
	Line  bool
	Vals  []float64
}

// columnChart draws labels along x with bar series side by side in each
// slot and line series over them. Every tick-th label is written out.
func columnChart(id, title, desc string, labels []string, tick int, ss []series, y axis) template.HTML {
	var b strings.Builder
	header(&b, id, title, desc)
	top := 0.0
	for _, s := range ss {
		for _, v := range s.Vals {
			top = math.Max(top, v)
		}
	}
	top = y.nice(top)
	yfmt := y.format
	plotW, plotH := chartW-padL-padR, chartH-padTop-padBottom
	yAt := func(v float64) float64 { return padTop + plotH - v/top*plotH }
	// Grid and y labels: 0, half, top.
	// A label that reads like its neighbour (0.5 s written "0s", say) is left out.
	var labelled []string
	for _, f := range []float64{0, 0.5, 1} {
		yy := yAt(top * f)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		if l := yfmt(top * f); !slices.Contains(labelled, l) {
			labelled = append(labelled, l)
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, yy+4, template.HTMLEscapeString(l))
		}
	}
	n := len(labels)
	if n == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	slot := plotW / float64(n)
	var bars []series
	for _, s := range ss {
		if !s.Line {
			bars = append(bars, s)
		}
	}
	barW := slot * 0.8 / math.Max(1, float64(len(bars)))
	for i := range n {
		x0 := padL + slot*float64(i) + slot*0.1
		for j, s := range bars {
			v := s.Vals[i]
			if v <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %s</title></rect>`,
				s.Class, x0+barW*float64(j), yAt(v), math.Max(barW-0.5, 0.5), padTop+plotH-yAt(v),
				template.HTMLEscapeString(labels[i]), template.HTMLEscapeString(s.Name), template.HTMLEscapeString(yfmt(v)))
		}
		if tick > 0 && i%tick == 0 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, padL+slot*float64(i), chartH-padBottom+16, template.HTMLEscapeString(labels[i]))
		}
	}
	for _, s := range ss {
		if !s.Line {
			continue
		}
		var pts []string
		for i, v := range s.Vals {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", padL+slot*(float64(i)+0.5), yAt(v)))
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, s.Class, strings.Join(pts, " "))
	}
	legend(&b, ss)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barList draws one horizontal bar per label, its value written at its end.
func barList(id, title, desc string, labels []string, vals []float64, class string, vfmt func(float64) string) template.HTML {
	var b strings.Builder
	row := 26.0
	h := padTop + row*float64(max(len(labels), 1)) + 8
	fmt.Fprintf(&b, `<svg id="%s" class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t %s-d" preserveAspectRatio="xMinYMin meet">`, id, chartW, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, template.HTMLEscapeString(title), id, template.HTMLEscapeString(desc))
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	if top == 0 {
		top = 1
	}
	labelW := 240.0
	plotW := chartW - labelW - 80
	for i, l := range labels {
		yy := padTop + row*float64(i)
		w := vals[i] / top * plotW
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, yy+row/2+4, template.HTMLEscapeString(clip(l, 34)))
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, class, labelW, yy+4, math.Max(w, 1), row-8)
		fmt.Fprintf(&b, `<text class="value" x="%.1f" y="%.1f">%s</text>`, labelW+w+6, yy+row/2+4, template.HTMLEscapeString(vfmt(vals[i])))
	}
	if len(labels) == 0 {
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f">none</text>`, padL, padTop+16)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func header(b *strings.Builder, id, title, desc string) {
	fmt.Fprintf(b, `<svg id="%s" class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t %s-d" preserveAspectRatio="xMinYMin meet">`, id, chartW, chartH, id, id)
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, template.HTMLEscapeString(title), id, template.HTMLEscapeString(desc))
}

func legend(b *strings.Builder, ss []series) {
	x := padL
	for _, s := range ss {
		if s.Line {
			fmt.Fprintf(b, `<line class="%s" x1="%.1f" x2="%.1f" y1="12" y2="12"/>`, s.Class, x, x+18)
		} else {
			fmt.Fprintf(b, `<rect class="%s" x="%.1f" y="6" width="18" height="12"/>`, s.Class, x)
		}
		fmt.Fprintf(b, `<text class="axis" x="%.1f" y="16">%s</text>`, x+24, template.HTMLEscapeString(s.Name))
		x += 24 + 8*float64(len(s.Name)) + 24
	}
}

// axis is how a chart's values are rounded up for the top gridline and written.
type axis struct {
	nice   func(float64) float64
	format func(float64) string
}

var (
	countAxis    = axis{niceCeil, count}
	durationAxis = axis{niceSeconds, duration}
)

// niceSeconds rounds up to a round duration whose half is round too, so
// gridlines read 30m and 1h, or 6h and 12h.
func niceSeconds(v float64) float64 {
	for _, d := range []float64{60, 120, 240, 600, 1200, 1800, 3600, 7200, 4 * 3600, 8 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 8 * 86400, 14 * 86400} {
		if v <= d {
			return d
		}
	}
	return niceCeil(v/86400) * 86400
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
