package ui

import "fmt"

// chartBar is one bar laid out in a chart's coordinate space.
type chartBar struct {
	X, Y, W, H float64
	Label      string
	Count      int
	// ShowLabel thins the axis labels so they do not overlap.
	ShowLabel bool
}

// Chart geometry (viewBox units); the SVG scales to its container.
const (
	chartW      = 480.0
	chartH      = 160.0
	chartBottom = 20.0 // room for the axis labels
	chartTop    = 14.0 // room for the largest count
)

// layoutBars scales bars to the chart: the tallest bar fills the plot height.
func layoutBars(bars []Bar) []chartBar {
	if len(bars) == 0 {
		return nil
	}
	peak := 0
	for _, b := range bars {
		peak = max(peak, b.Count)
	}
	slot := chartW / float64(len(bars))
	plot := chartH - chartBottom - chartTop
	every := max(1, (len(bars)+11)/12)
	out := make([]chartBar, len(bars))
	for i, b := range bars {
		h := 0.0
		if peak > 0 {
			h = plot * float64(b.Count) / float64(peak)
		}
		if b.Count > 0 && h < 1 {
			h = 1
		}
		out[i] = chartBar{
			X: float64(i)*slot + slot*0.1, W: slot * 0.8,
			Y: chartTop + plot - h, H: h,
			Label: b.Label, Count: b.Count, ShowLabel: i%every == 0,
		}
	}
	return out
}

func peakCount(bars []Bar) int {
	peak := 0
	for _, b := range bars {
		peak = max(peak, b.Count)
	}
	return peak
}

func num(f float64) string { return fmt.Sprintf("%.1f", f) }

func viewBox() string { return fmt.Sprintf("0 0 %.0f %.0f", chartW, chartH) }
