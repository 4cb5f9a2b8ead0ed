package incident

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Digest is what happened in a window of time [From, To): the figures of the
// daily digest. BuildDigest makes it from incidents; it describes the world
// as it was at To, so a digest built later for the same window says the same
// (as far as the records reach).
//
// An incident is "of the window" when From <= OpenedAt < To. Every figure
// except StillOpen counts only incidents of the window.
type Digest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`

	// AlertsIn is the sum of the occurrences of the incidents of the window
	// (at least one each), IncidentsOpened how many there are, and
	// DedupRatio AlertsIn / IncidentsOpened (0 when none opened).
	AlertsIn        int     `json:"alerts_in"`
	IncidentsOpened int     `json:"incidents_opened"`
	DedupRatio      float64 `json:"dedup_ratio"`
	// Announced counts the incidents of the window no silence holds back.
	Announced int `json:"announced"`

	// BySeverity is most urgent first; ByCategory and ByRule most incidents
	// first, then most alerts, then by name. A category "" means none.
	BySeverity []Count `json:"by_severity"`
	ByCategory []Count `json:"by_category"`
	ByRule     []Count `json:"by_rule"`
	// NoisiestRules are the (at most) NoisiestRulesN rules with the most
	// alerts in, ties by name.
	NoisiestRules []Count `json:"noisiest_rules"`

	// MTTA and MTTR are over the announced incidents of the window that
	// were acknowledged (or, for MTTA, resolved without an acknowledgement)
	// and resolved before To: see Incident.MTTA and Incident.MTTR.
	MTTA Percentiles `json:"mtta"`
	MTTR Percentiles `json:"mttr"`

	Correlations Correlations `json:"correlations"`
	// Silenced groups the incidents of the window a silence or maintenance
	// window held back (still holds, or held until it ended), by the
	// silence that held them first: most incidents first, then by ID.
	Silenced []SilenceCount `json:"silenced"`
	// StillOpen lists every incident opened before To and not resolved by
	// then, wherever it opened: most severe first, then oldest first.
	StillOpen []OpenIncident `json:"still_open"`

	// LeftOut counts incident runs whose state could not be read (a
	// terminated or failed workflow, an unreadable record): the figures
	// above do not include them. The collector sets it, not BuildDigest.
	LeftOut int `json:"left_out,omitempty"`
}

// NoisiestRulesN is how many rules Digest.NoisiestRules names.
const NoisiestRulesN = 5

// Count is how many incidents of one severity, category or rule opened in
// the window, and the alerts they took in.
type Count struct {
	Name      string `json:"name"`
	Incidents int    `json:"incidents"`
	Alerts    int    `json:"alerts"`
}

// Percentiles summarise durations by nearest rank: sorted ascending, the
// p-th percentile of N values is the one at rank ceil(p/100 × N), counting
// from 1. So P50 of 4 values is the 2nd, P90 of 10 values the 9th, P90 of
// 5 values the 5th. With N = 0 both are 0.
type Percentiles struct {
	N   int     `json:"n"`
	P50 Seconds `json:"p50_seconds"`
	P90 Seconds `json:"p90_seconds"`
}

// NearestRank returns the p-th percentile (0 < p <= 100) of ds by nearest
// rank, or 0 when ds is empty. ds is not changed.
func NearestRank(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func percentiles(ds []time.Duration) Percentiles {
	return Percentiles{N: len(ds), P50: Seconds(NearestRank(ds, 50)), P90: Seconds(NearestRank(ds, 90))}
}

// Seconds is a duration written in JSON as a number of seconds, for people
// and queries reading archived digests.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', -1, 64), nil
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	*s = Seconds(math.Round(f * float64(time.Second)))
	return nil
}

// Correlations are the links the correlator made among the incidents of the
// window.
type Correlations struct {
	// Parents counts incidents that group others (they have Children), and
	// Children the distinct incidents they group.
	Parents  int `json:"parents"`
	Children int `json:"children"`
	// Pairs counts distinct pairs of incidents linked as related, one of
	// them of the window (each side links the other; the pair counts once).
	Pairs int `json:"pairs"`
}

// SilenceCount is what one silence held back.
type SilenceCount struct {
	Silence   string `json:"silence"`
	Incidents int    `json:"incidents"`
	Alerts    int    `json:"alerts"`
}

// OpenIncident is one incident still open at the end of the window.
type OpenIncident struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Status is the status at the end of the window.
	Status Status `json:"status"`
	// HeldBy is who acknowledged it, or "nobody".
	HeldBy     string    `json:"held_by"`
	SilencedBy string    `json:"silenced_by,omitempty"`
	OpenedAt   time.Time `json:"opened_at"`
	// Age is how long it had been open at the end of the window.
	Age Seconds `json:"age_seconds"`
}

// Nobody is OpenIncident.HeldBy when nobody acknowledged the incident.
const Nobody = "nobody"

// alerts is what an incident took in: its occurrences, at least the one
// that opened it.
func (inc *Incident) alerts() int { return max(inc.Occurrences, 1) }

// BuildDigest computes the digest of the window [from, to) from incidents:
// each incident once (its latest state), opened in the window or not.
func BuildDigest(incidents []Incident, from, to time.Time) Digest {
	d := Digest{From: from, To: to}
	bySev := map[Severity]*Count{}
	byCat := map[string]*Count{}
	byRule := map[string]*Count{}
	silenced := map[string]*SilenceCount{}
	children := map[string]bool{}
	pairs := map[[2]string]bool{}
	var mtta, mttr []time.Duration
	add := func(m map[string]*Count, name string, alerts int) {
		c := m[name]
		if c == nil {
			c = &Count{Name: name}
			m[name] = c
		}
		c.Incidents++
		c.Alerts += alerts
	}
	for i := range incidents {
		inc := &incidents[i]
		if inc.OpenedAt.Before(to) && (inc.ResolvedAt.IsZero() || !inc.ResolvedAt.Before(to)) {
			d.StillOpen = append(d.StillOpen, openAt(inc, to))
		}
		if inc.OpenedAt.Before(from) || !inc.OpenedAt.Before(to) {
			continue
		}
		n := inc.alerts()
		d.IncidentsOpened++
		d.AlertsIn += n
		sev := bySev[inc.Severity]
		if sev == nil {
			sev = &Count{Name: severityName(inc.Severity)}
			bySev[inc.Severity] = sev
		}
		sev.Incidents++
		sev.Alerts += n
		add(byCat, inc.Alert.Category, n)
		add(byRule, inc.Alert.Rule, n)
		if len(inc.Children) > 0 {
			d.Correlations.Parents++
			for _, c := range inc.Children {
				children[c] = true
			}
		}
		for _, r := range inc.Related {
			if r != inc.ID {
				pairs[[2]string{min(inc.ID, r), max(inc.ID, r)}] = true
			}
		}
		if by := heldBy(inc); by != "" {
			s := silenced[by]
			if s == nil {
				s = &SilenceCount{Silence: by}
				silenced[by] = s
			}
			s.Incidents++
			s.Alerts += n
		}
		if inc.SilencedBy != "" {
			// Still held: nobody was told, so nobody could answer, and
			// response times are of announced incidents only.
			continue
		}
		d.Announced++
		if a, ok := inc.MTTA(); ok && inc.OpenedAt.Add(a).Before(to) {
			mtta = append(mtta, a)
		}
		if r, ok := inc.MTTR(); ok && inc.ResolvedAt.Before(to) {
			mttr = append(mttr, r)
		}
	}
	if d.IncidentsOpened > 0 {
		d.DedupRatio = float64(d.AlertsIn) / float64(d.IncidentsOpened)
	}
	d.MTTA, d.MTTR = percentiles(mtta), percentiles(mttr)
	d.Correlations.Children, d.Correlations.Pairs = len(children), len(pairs)

	for _, s := range slices.Backward(append([]Severity{SeverityUnknown}, Severities...)) {
		if c := bySev[s]; c != nil {
			d.BySeverity = append(d.BySeverity, *c)
		}
	}
	d.ByCategory = sortedCounts(byCat, byIncidents)
	d.ByRule = sortedCounts(byRule, byIncidents)
	d.NoisiestRules = sortedCounts(byRule, byAlerts)
	d.NoisiestRules = d.NoisiestRules[:min(len(d.NoisiestRules), NoisiestRulesN)]
	for _, s := range silenced {
		d.Silenced = append(d.Silenced, *s)
	}
	slices.SortFunc(d.Silenced, func(a, b SilenceCount) int {
		return cmp.Or(cmp.Compare(b.Incidents, a.Incidents), cmp.Compare(b.Alerts, a.Alerts), cmp.Compare(a.Silence, b.Silence))
	})
	slices.SortFunc(d.StillOpen, func(a, b OpenIncident) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID))
	})
	return d
}

func severityName(s Severity) string {
	if s == SeverityUnknown {
		return "unknown"
	}
	return s.String()
}

func byIncidents(a, b Count) int {
	return cmp.Or(cmp.Compare(b.Incidents, a.Incidents), cmp.Compare(b.Alerts, a.Alerts), cmp.Compare(a.Name, b.Name))
}

func byAlerts(a, b Count) int {
	return cmp.Or(cmp.Compare(b.Alerts, a.Alerts), cmp.Compare(a.Name, b.Name))
}

func sortedCounts(m map[string]*Count, order func(a, b Count) int) []Count {
	out := make([]Count, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	slices.SortFunc(out, order)
	return out
}

// openAt is inc as it stood at t: an incident resolved after t was still
// open or acknowledged then.
func openAt(inc *Incident, t time.Time) OpenIncident {
	o := OpenIncident{
		ID: inc.ID, Title: inc.Title(), Severity: inc.Severity, Status: inc.Status, HeldBy: Nobody,
		SilencedBy: inc.SilencedBy, OpenedAt: inc.OpenedAt, Age: Seconds(t.Sub(inc.OpenedAt)),
	}
	acked := inc.AcknowledgedBy != "" && !inc.AcknowledgedAt.IsZero() && inc.AcknowledgedAt.Before(t)
	if acked {
		o.HeldBy = inc.AcknowledgedBy
	}
	switch {
	case o.Status == StatusResolved && acked:
		o.Status = StatusAcknowledged
	case o.Status == StatusResolved, o.Status == StatusAcknowledged && !acked:
		o.Status = StatusOpen
	}
	return o
}

// Headline is the digest in one line: "180 alerts → 35 incidents (5.1:1)".
func (d Digest) Headline() string {
	s := fmt.Sprintf("%s → %s", plural(d.AlertsIn, "alert"), plural(d.IncidentsOpened, "incident"))
	if d.IncidentsOpened > 0 {
		s += fmt.Sprintf(" (%.1f:1)", d.DedupRatio)
	}
	return s
}

// Window is the digest's window in UTC: "2025-03-10 08:00 → 2025-03-11 08:00 UTC".
func (d Digest) Window() string {
	const layout = "2006-01-02 15:04"
	return d.From.UTC().Format(layout) + " → " + d.To.UTC().Format(layout) + " UTC"
}

// Markdown renders the digest for people: the headline, then one section
// per figure. The same digest always renders the same text.
func (d Digest) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Security digest %s\n\n", d.Window())
	fmt.Fprintf(&b, "**%s**, %d announced, %d held back by silences.\n", d.Headline(), d.Announced, d.IncidentsOpened-d.Announced)
	if d.LeftOut > 0 {
		fmt.Fprintf(&b, "\n%s left out: their state could not be read (terminated or failed workflows, unreadable records).\n",
			plural(d.LeftOut, "incident run"))
	}
	countTable := func(title, column string, counts []Count, alertsFirst bool) {
		if len(counts) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		if alertsFirst {
			fmt.Fprintf(&b, "| %s | alerts | incidents |\n|---|---:|---:|\n", column)
		} else {
			fmt.Fprintf(&b, "| %s | incidents | alerts |\n|---|---:|---:|\n", column)
		}
		for _, c := range counts {
			name := c.Name
			if name == "" {
				name = "(none)"
			}
			first, second := c.Incidents, c.Alerts
			if alertsFirst {
				first, second = second, first
			}
			fmt.Fprintf(&b, "| %s | %d | %d |\n", cell(name), first, second)
		}
	}
	countTable("Severity", "severity", d.BySeverity, false)
	countTable("Noisiest rules", "rule", d.NoisiestRules, true)

	if d.IncidentsOpened > 0 {
		b.WriteString("\n## Response times\n\n| | incidents | p50 | p90 |\n|---|---:|---:|---:|\n")
		for _, r := range []struct {
			name string
			p    Percentiles
		}{{"MTTA", d.MTTA}, {"MTTR", d.MTTR}} {
			p50, p90 := r.p.P50.String(), r.p.P90.String()
			if r.p.N == 0 {
				p50, p90 = "–", "–"
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", r.name, r.p.N, p50, p90)
		}
		b.WriteString("\nNearest-rank percentiles over the announced incidents of the window acknowledged (MTTA) or resolved (MTTR) by its end.\n")
	}

	if c := d.Correlations; c.Parents > 0 || c.Pairs > 0 {
		fmt.Fprintf(&b, "\n## Correlations\n\n%s grouping %s; %s.\n",
			plural(c.Parents, "parent incident"), plural(c.Children, "incident"), plural(c.Pairs, "related pair"))
	}

	if len(d.Silenced) > 0 {
		b.WriteString("\n## Held back by silences\n\n| silence | incidents | alerts |\n|---|---:|---:|\n")
		for _, s := range d.Silenced {
			fmt.Fprintf(&b, "| %s | %d | %d |\n", cell(s.Silence), s.Incidents, s.Alerts)
		}
	}

	fmt.Fprintf(&b, "\n## Still open (%d)\n\n", len(d.StillOpen))
	if len(d.StillOpen) == 0 {
		b.WriteString("Nothing is open.\n")
	} else {
		b.WriteString("| incident | severity | status | held by | age |\n|---|---|---|---|---:|\n")
		for _, o := range d.StillOpen {
			status := string(o.Status)
			if o.SilencedBy != "" {
				status += ", silenced by " + o.SilencedBy
			}
			fmt.Fprintf(&b, "| %s `%s` | %s | %s | %s | %s |\n", cell(o.Title), o.ID, severityName(o.Severity), cell(status), cell(o.HeldBy), o.Age)
		}
	}

	countTable("Category", "category", d.ByCategory, false)
	countTable("All rules", "rule", d.ByRule, false)
	return b.String()
}

// String writes the duration the way people say it: 45s, 4m30s, 1h05m, 2d3h.
func (s Seconds) String() string {
	d := time.Duration(s).Abs().Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%02ds", int(d.Minutes()), s)
		}
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%02dm", int(d.Hours()), m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	days, hours := int(d.Hours())/24, int(d.Hours())%24
	if hours != 0 {
		return fmt.Sprintf("%dd%dh", days, hours)
	}
	return fmt.Sprintf("%dd", days)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// heldBy is the silence that held inc back first, or "" if none did.
func heldBy(inc *Incident) string {
	if len(inc.HeldBy) > 0 {
		return inc.HeldBy[0]
	}
	return inc.SilencedBy
}
