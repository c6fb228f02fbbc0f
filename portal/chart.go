package portal

import (
	"fmt"
	"strings"
	"time"

	"github.com/shophooks/webhook"
)

// chartView is the inline SVG of a webhook's recent attempts: successes and failures per
// time bucket as stacked bars, and the mean response time per bucket as a line.
type chartView struct {
	Width, Height float64
	Left, Top     float64 // the plot area's corner
	PlotW, PlotH  float64
	Right, Bottom float64 // the plot area's other corner
	Bars          []chartBar
	Line          string // polyline points of the response times; empty when none
	Dots          []chartDot
	MaxCount      int
	MaxTime       string
	From, To      time.Time
	Attempts      int
	Succeeded     int
	Failed        int
	Summary       string // the chart in words, for screen readers
}

type chartBar struct {
	X, W         float64
	OKY, OKH     float64
	FailY, FailH float64
	Title        string
}

type chartDot struct{ X, Y float64 }

// Chart geometry, in viewBox units; the SVG scales to its container.
const (
	chartW       = 960
	chartH       = 220
	chartLeft    = 44
	chartRight   = 80
	chartTop     = 12
	chartBottom  = 28
	chartBuckets = 24
	minSpan      = time.Hour
)

// newChart charts the attempts (tests left out) of the deliveries, over the time from the
// first of them to now; nil when there are none.
func newChart(deliveries []webhook.Delivery, now time.Time) *chartView {
	var attempts []webhook.Attempt
	from := now
	for _, d := range deliveries {
		if d.Test {
			continue
		}
		for _, a := range d.Attempts {
			if a.Test || a.SentAt.IsZero() || a.SentAt.After(now) {
				continue
			}
			attempts = append(attempts, a)
			if a.SentAt.Before(from) {
				from = a.SentAt
			}
		}
	}
	if len(attempts) == 0 {
		return nil
	}
	span := now.Sub(from)
	if span < minSpan {
		span = minSpan
	}
	// Round the span up to whole minutes per bucket, so bucket edges read well.
	step := (span/chartBuckets + time.Minute - 1).Truncate(time.Minute)
	from = now.Add(-step * chartBuckets)

	type bucket struct {
		ok, fail int
		sum      time.Duration
	}
	var b [chartBuckets]bucket
	c := &chartView{
		Width: chartW, Height: chartH, Left: chartLeft, Top: chartTop,
		PlotW: chartW - chartLeft - chartRight, PlotH: chartH - chartTop - chartBottom,
		Right: chartW - chartRight, Bottom: chartH - chartBottom,
		From: from, To: now, Attempts: len(attempts),
	}
	for _, a := range attempts {
		i := int(a.SentAt.Sub(from) / step)
		i = min(max(i, 0), chartBuckets-1)
		if a.Succeeded() {
			b[i].ok++
			c.Succeeded++
		} else {
			b[i].fail++
			c.Failed++
		}
		b[i].sum += a.Duration
	}
	var maxTime time.Duration
	for _, x := range b {
		c.MaxCount = max(c.MaxCount, x.ok+x.fail)
		if n := x.ok + x.fail; n > 0 {
			maxTime = max(maxTime, x.sum/time.Duration(n))
		}
	}
	slot := c.PlotW / chartBuckets
	scale := c.PlotH / float64(c.MaxCount)
	var points []string
	for i, x := range b {
		n := x.ok + x.fail
		bar := chartBar{X: c.Left + float64(i)*slot + 1, W: slot - 2}
		bar.OKH = float64(x.ok) * scale
		bar.OKY = c.Top + c.PlotH - bar.OKH
		bar.FailH = float64(x.fail) * scale
		bar.FailY = bar.OKY - bar.FailH
		start := from.Add(time.Duration(i) * step)
		bar.Title = fmt.Sprintf("%s: %d succeeded, %d failed", start.UTC().Format("Jan 2 15:04"), x.ok, x.fail)
		if n > 0 {
			mean := x.sum / time.Duration(n)
			bar.Title += ", mean response " + formatDuration(mean)
			if maxTime > 0 {
				dot := chartDot{X: c.Left + (float64(i)+0.5)*slot, Y: c.Top + c.PlotH - float64(mean)/float64(maxTime)*c.PlotH}
				c.Dots = append(c.Dots, dot)
				points = append(points, fmt.Sprintf("%.1f,%.1f", dot.X, dot.Y))
			}
		}
		c.Bars = append(c.Bars, bar)
	}
	if len(points) > 1 {
		c.Line = strings.Join(points, " ")
	}
	c.MaxTime = formatDuration(maxTime)
	c.Summary = fmt.Sprintf("%d attempts from %s to %s: %d succeeded, %d failed; slowest mean response per period %s.",
		c.Attempts, when(from), when(now), c.Succeeded, c.Failed, c.MaxTime)
	return c
}
