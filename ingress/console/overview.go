package console

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/irflow/irflow/incident"
)

// OverviewWindow is what the overview draws: the last 7 days.
const OverviewWindow = 7 * 24 * time.Hour

type chart struct {
	Title   string
	SVG     template.HTML
	Summary string
}

type overviewBody struct {
	From, To time.Time
	Err      string
	// Pending is set while the first figures are still being read.
	Pending   bool
	Headline  string
	LeftOut   int
	Charts    []chart
	Generated time.Time
}

// overviewCache keeps the figures for ttl: reading every incident of a week
// takes longer than a page may. A stale copy is served while one build
// refreshes it in the background; only the very first view waits for one.
type overviewCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	body *overviewBody
	done chan struct{} // open while a build runs
}

// startLocked starts a build unless one runs; the channel closes when it ends.
func (c *overviewCache) startLocked(build func() overviewBody) chan struct{} {
	if c.done != nil {
		return c.done
	}
	done := make(chan struct{})
	c.done = done
	go func() {
		b := build()
		c.mu.Lock()
		// A failed read does not replace good figures; it is shown only
		// when there are none, and the next view tries again.
		if b.Err == "" || c.body == nil || c.body.Err != "" {
			c.body = &b
		}
		c.done = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// warm starts the first build early (when someone opens the list), so the
// first look at the overview does not wait for it.
func (c *overviewCache) warm(build func() overviewBody) {
	c.mu.Lock()
	if c.body == nil {
		c.startLocked(build)
	}
	c.mu.Unlock()
}

func (c *overviewCache) get(ctx context.Context, now time.Time, build func() overviewBody) overviewBody {
	c.mu.Lock()
	if b := c.body; b != nil && b.Err == "" {
		if now.Sub(b.Generated) >= c.ttl {
			c.startLocked(build)
		}
		c.mu.Unlock()
		return *b
	}
	done := c.startLocked(build)
	c.mu.Unlock()
	// The first read of a busy week takes longer than a page may: the page
	// says so and asks again, while the build goes on.
	wait := time.NewTimer(overviewFirstWait)
	defer wait.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		return overviewBody{Pending: true, Generated: now}
	case <-wait.C:
		return overviewBody{Pending: true, Generated: now}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.body
}

// Overview timing: how long a view waits for the first figures before it
// shows "being read", and how long one build may take. The first build
// of a week with 10,000 incident runs reads each closed run once (about a
// minute on a small dev server); later builds read only new and running
// runs (internal/client CacheClosedRuns).
const (
	overviewFirstWait = 2 * time.Second
	overviewBuildMax  = 10 * time.Minute
)

// overviewBuild reads the figures afresh. Not with a request's context:
// a background refresh outlives the request that started it.
func (h *Handler) overviewBuild() overviewBody {
	ctx, cancel := context.WithTimeout(context.Background(), overviewBuildMax)
	defer cancel()
	return h.buildOverview(ctx, h.cfg.Now())
}

func (h *Handler) overviewPage(w http.ResponseWriter, r *http.Request) {
	b := h.overview.get(r.Context(), h.cfg.Now(), h.overviewBuild)
	status := http.StatusOK
	if b.Err != "" {
		status = http.StatusServiceUnavailable
	}
	if b.Pending {
		w.Header().Set("Refresh", "5")
	}
	h.render(w, status, "overview.html", h.newPage(r, "Overview", "overview", b))
}

func (h *Handler) buildOverview(ctx context.Context, now time.Time) overviewBody {
	to := now.UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-OverviewWindow)
	incs, unread, err := h.inc.IncidentsSince(ctx, from, to)
	if err != nil {
		h.log.Error("console: overview", "error", err)
		return overviewBody{From: from, To: to, Err: incident.ErrorMessage(err), Generated: now}
	}
	return overview(incs, unread, from, to, now)
}

// overview draws the figures of [from, to) with the digest's definitions
// (incident.BuildDigest): the week, then each day for MTTA and MTTR.
func overview(incs []incident.Incident, unread int, from, to, now time.Time) overviewBody {
	week := incident.BuildDigest(incs, from, to)
	b := overviewBody{From: from, To: to, LeftOut: unread, Generated: now, Headline: week.Headline()}

	// Alerts in against incidents opened, per hour. An incident keeps no
	// time per alert, so its alerts are spread evenly over the hours from
	// its first to its last sighting.
	hours := int(to.Sub(from) / time.Hour)
	alerts, opened := make([]float64, hours), make([]float64, hours)
	for i := range incs {
		inc := &incs[i]
		if h := int(inc.OpenedAt.Sub(from) / time.Hour); !inc.OpenedAt.Before(from) && h < hours {
			opened[h]++
		}
		first, last := inc.FirstSeen, inc.LastSeen
		if first.IsZero() {
			first = inc.OpenedAt
		}
		if last.Before(first) {
			last = first
		}
		a, z := int(first.Sub(from)/time.Hour), int(last.Sub(from)/time.Hour)
		if first.Before(from) {
			a = -1 - int(from.Sub(first)/time.Hour)
		}
		n := float64(max(inc.Occurrences, 1))
		for hh := max(a, 0); hh <= min(z, hours-1); hh++ {
			alerts[hh] += n / float64(z-a+1)
		}
	}
	labels := make([]string, hours)
	for i := range labels {
		labels[i] = from.Add(time.Duration(i) * time.Hour).Format("Mon 15h")
	}
	var alertsIn, openedN float64
	for i := range alerts {
		alertsIn += alerts[i]
		openedN += opened[i]
	}
	b.Charts = append(b.Charts, chart{
		Title: "Alerts in and incidents opened per hour",
		SVG: columnChart("chart-dedup", "Alerts in and incidents opened per hour",
			"Bars: incidents opened each hour; line: alerts taken in each hour, over the last 7 days.",
			labels, 24, []series{
				{Name: "incidents opened", Class: "s-incidents", Vals: opened},
				{Name: "alerts in", Class: "s-alerts", Line: true, Vals: alerts},
			}, countAxis),
		Summary: fmt.Sprintf("%d alerts became %d incidents in the last 7 days (dedup ratio %.1f).", week.AlertsIn, week.IncidentsOpened, week.DedupRatio),
	})

	// MTTA and MTTR per day, p50 and p90.
	days := int(to.Sub(from) / (24 * time.Hour))
	dayLabels := make([]string, days)
	mttaP50, mttaP90 := make([]float64, days), make([]float64, days)
	mttrP50, mttrP90 := make([]float64, days), make([]float64, days)
	var mttaText, mttrText string
	// MTTA and MTTR count only incidents opened in the window, so each
	// day's digest needs only that day's incidents.
	byDay := make([][]incident.Incident, days)
	for i := range incs {
		if d := int(incs[i].OpenedAt.Sub(from) / (24 * time.Hour)); !incs[i].OpenedAt.Before(from) && d < days {
			byDay[d] = append(byDay[d], incs[i])
		}
	}
	for d := range days {
		start := from.Add(time.Duration(d) * 24 * time.Hour)
		day := incident.BuildDigest(byDay[d], start, start.Add(24*time.Hour))
		dayLabels[d] = start.Format("Mon 2 Jan")
		mttaP50[d], mttaP90[d] = time.Duration(day.MTTA.P50).Seconds(), time.Duration(day.MTTA.P90).Seconds()
		mttrP50[d], mttrP90[d] = time.Duration(day.MTTR.P50).Seconds(), time.Duration(day.MTTR.P90).Seconds()
		mttaText += fmt.Sprintf(" %s: %s", dayLabels[d], percentText(day.MTTA))
		mttrText += fmt.Sprintf(" %s: %s", dayLabels[d], percentText(day.MTTR))
	}
	b.Charts = append(b.Charts,
		chart{
			Title: "Time to acknowledge per day (p50 and p90)",
			SVG: columnChart("chart-mtta", "Time to acknowledge per day (p50 and p90)",
				"For the incidents opened each day: the median and 90th percentile time from opening to acknowledgement.",
				dayLabels, 1, []series{{Name: "p50", Class: "s-p50", Vals: mttaP50}, {Name: "p90", Class: "s-p90", Vals: mttaP90}}, durationAxis),
			Summary: "MTTA p50/p90 by day:" + mttaText + ".",
		},
		chart{
			Title: "Time to resolve per day (p50 and p90)",
			SVG: columnChart("chart-mttr", "Time to resolve per day (p50 and p90)",
				"For the incidents opened each day: the median and 90th percentile time from opening to resolution.",
				dayLabels, 1, []series{{Name: "p50", Class: "s-p50", Vals: mttrP50}, {Name: "p90", Class: "s-p90", Vals: mttrP90}}, durationAxis),
			Summary: "MTTR p50/p90 by day:" + mttrText + ".",
		})

	// The noisiest rules, by alerts in.
	var names []string
	var vals []float64
	text := ""
	for _, c := range week.NoisiestRules {
		names = append(names, c.Name)
		vals = append(vals, float64(c.Alerts))
		text += fmt.Sprintf(" %s: %d alerts in %d incidents;", c.Name, c.Alerts, c.Incidents)
	}
	if text == "" {
		text = " none."
	}
	b.Charts = append(b.Charts, chart{
		Title:   "Noisiest rules",
		SVG:     barList("chart-rules", "Noisiest rules", "The rules that sent the most alerts in the last 7 days.", names, vals, "s-alerts-bar", count),
		Summary: "Noisiest rules:" + text,
	})

	// Incidents open now, by how long they have been open.
	ages := []struct {
		label string
		upTo  time.Duration
	}{{"< 1h", time.Hour}, {"1–4h", 4 * time.Hour}, {"4–24h", 24 * time.Hour}, {"1–3d", 72 * time.Hour}, {"3–7d", 7 * 24 * time.Hour}, {"> 7d", 1 << 62}}
	ageLabels := make([]string, len(ages))
	ageVals := make([]float64, len(ages))
	for i, a := range ages {
		ageLabels[i] = a.label
	}
	openNow := 0
	for i := range incs {
		inc := &incs[i]
		if inc.Status == incident.StatusResolved || inc.OpenedAt.IsZero() {
			continue
		}
		openNow++
		age := now.Sub(inc.OpenedAt)
		for j, a := range ages {
			if age < a.upTo {
				ageVals[j]++
				break
			}
		}
	}
	ageText := ""
	for i := range ages {
		ageText += fmt.Sprintf(" %s: %d;", ageLabels[i], int(ageVals[i]))
	}
	b.Charts = append(b.Charts, chart{
		Title: "Open incidents by age",
		SVG: columnChart("chart-age", "Open incidents by age",
			"How many incidents are open, acknowledged or snoozed now, by time since they opened.",
			ageLabels, 1, []series{{Name: "open incidents", Class: "s-open", Vals: ageVals}}, countAxis),
		Summary: fmt.Sprintf("%d incidents not resolved, by age:%s", openNow, ageText),
	})
	return b
}

func count(v float64) string {
	if v >= 10 || v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// duration writes seconds as people read them: 45s, 12m, 3.5h, 2d.
func duration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d == 0:
		return "0"
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.0fm", d.Minutes())
	case d < 48*time.Hour:
		return strconv.FormatFloat(math.Round(d.Hours()*10)/10, 'f', -1, 64) + "h"
	}
	return strconv.FormatFloat(math.Round(d.Hours()/24*10)/10, 'f', -1, 64) + "d"
}

func percentText(p incident.Percentiles) string {
	if p.N == 0 {
		return "none"
	}
	return fmt.Sprintf("%s/%s (n=%d)", duration(time.Duration(p.P50).Seconds()), duration(time.Duration(p.P90).Seconds()), p.N)
}
