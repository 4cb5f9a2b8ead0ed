package incident

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// digestFixture is a day of incidents with figures worked out by hand (see
// TestBuildDigest): every rule of the window, the percentiles and the
// "as of the window's end" view are exercised.
func digestFixture() (incs []Incident, from, to time.Time) {
	from = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	to = from.Add(24 * time.Hour)
	at := func(d time.Duration) time.Time { return from.Add(d) }
	type spec struct {
		id, rule, category string
		sev                Severity
		occ                int
		opened             time.Duration
		ack                time.Duration // 0: none
		ackBy              string
		resolved           time.Duration // 0: unresolved
		silenced           string
		children, related  []string
	}
	const never = 0
	for _, s := range []spec{
		{id: "a", rule: "waf-sqli", category: "waf", sev: SeverityCritical, occ: 40, opened: time.Hour, ack: time.Hour + 2*time.Minute, ackBy: "alice", resolved: 2 * time.Hour},
		{id: "b", rule: "waf-sqli", category: "waf", sev: SeverityHigh, occ: 20, opened: 3 * time.Hour, ack: 3*time.Hour + 5*time.Minute, ackBy: "bob", resolved: 5 * time.Hour},
		{id: "c", rule: "be-5xx", category: "5xx", sev: SeverityHigh, occ: 30, opened: 4 * time.Hour, ack: 4*time.Hour + 10*time.Minute, ackBy: "bob", resolved: 4*time.Hour + 30*time.Minute, related: []string{"incident-q"}},
		// Auto-resolved without an acknowledgement: MTTA is its MTTR.
		{id: "d", rule: "be-5xx", category: "5xx", sev: SeverityMedium, occ: 10, opened: 6 * time.Hour, resolved: 6*time.Hour + 20*time.Minute},
		{id: "e", rule: "login-fail", category: "security", sev: SeverityMedium, occ: 5, opened: 10 * time.Hour, ack: 10*time.Hour + time.Minute, ackBy: "carol", related: []string{"incident-old"}},
		{id: "f", rule: "fe-4xx", category: "4xx", sev: SeverityLow, occ: 3, opened: 12 * time.Hour},
		// Silenced: counted, not announced, not in the response times.
		{id: "g", rule: "fe-4xx", category: "4xx", sev: SeverityLow, occ: 2, opened: 13 * time.Hour, resolved: 14 * time.Hour, silenced: "maint-42"},
		{id: "h", rule: "fe-4xx", sev: SeverityInfo, occ: 0, opened: 13*time.Hour + 30*time.Minute, silenced: "maint-42"},
		{id: "i", rule: "latency", sev: SeverityHigh, occ: 4, opened: 20 * time.Hour, silenced: "sil-7"},
		// A parent resolved after the window: still open then, held by dave.
		{id: "p", rule: "waf-burst", category: "waf", sev: SeverityCritical, occ: 5, opened: 2*time.Hour + 30*time.Minute, ack: 2*time.Hour + 40*time.Minute, ackBy: "dave", resolved: 25 * time.Hour, children: []string{"incident-a", "incident-b"}},
		{id: "q", rule: "waf-blocks", category: "waf", sev: SeverityHigh, occ: 10, opened: 4*time.Hour + 5*time.Minute, ack: 4*time.Hour + 35*time.Minute, ackBy: "erin", resolved: 5*time.Hour + 5*time.Minute, related: []string{"incident-c"}},
		// Acknowledged only after the window: open and held by nobody then.
		{id: "late-ack", rule: "latency", sev: SeverityMedium, occ: 6, opened: 23 * time.Hour, ack: 24*time.Hour + 5*time.Minute, ackBy: "gina"},
		// Opened before the window: only in the still-open list.
		{id: "old", rule: "old-rule", sev: SeverityHigh, occ: 99, opened: -2 * time.Hour, ack: -time.Hour, ackBy: "frank"},
		{id: "old-resolved", rule: "old-rule", sev: SeverityHigh, occ: 7, opened: -3 * time.Hour, ack: -time.Hour, ackBy: "frank", resolved: time.Hour},
		// Opened at the window's end: the next window's.
		{id: "next", rule: "next-rule", sev: SeverityCritical, occ: 1, opened: 24 * time.Hour},
	} {
		inc := Incident{
			ID: "incident-" + s.id, RunID: "run-" + s.id, Severity: s.sev, Status: StatusOpen, Occurrences: s.occ,
			Alert:    Alert{Source: "rules", Rule: s.rule, Category: s.category, Title: "title " + s.id},
			OpenedAt: at(s.opened), SilencedBy: s.silenced, Children: s.children, Related: s.related,
		}
		if s.ack != never {
			inc.AcknowledgedAt, inc.AcknowledgedBy, inc.Status = at(s.ack), s.ackBy, StatusAcknowledged
		}
		if s.resolved != never {
			inc.ResolvedAt, inc.ResolvedBy, inc.Status = at(s.resolved), "someone", StatusResolved
		}
		incs = append(incs, inc)
	}
	return incs, from, to
}

func TestBuildDigest(t *testing.T) {
	incs, from, to := digestFixture()
	got := BuildDigest(incs, from, to)
	open := func(id string, sev Severity, st Status, heldBy, silenced string, opened, age time.Duration) OpenIncident {
		return OpenIncident{ID: "incident-" + id, Title: "title " + id, Severity: sev, Status: st, HeldBy: heldBy,
			SilencedBy: silenced, OpenedAt: from.Add(opened), Age: Seconds(age)}
	}
	want := Digest{
		From: from, To: to,
		AlertsIn: 136, IncidentsOpened: 12, DedupRatio: 136.0 / 12, Announced: 9,
		BySeverity: []Count{{"critical", 2, 45}, {"high", 4, 64}, {"medium", 3, 21}, {"low", 2, 5}, {"info", 1, 1}},
		ByCategory: []Count{{"waf", 4, 75}, {"", 3, 11}, {"5xx", 2, 40}, {"4xx", 2, 5}, {"security", 1, 5}},
		ByRule: []Count{{"fe-4xx", 3, 6}, {"waf-sqli", 2, 60}, {"be-5xx", 2, 40}, {"latency", 2, 10},
			{"waf-blocks", 1, 10}, {"login-fail", 1, 5}, {"waf-burst", 1, 5}},
		// latency and waf-blocks tie on 10 alerts: by name. login-fail and
		// waf-burst (5) fall off the top five.
		NoisiestRules: []Count{{"waf-sqli", 2, 60}, {"be-5xx", 2, 40}, {"latency", 2, 10}, {"waf-blocks", 1, 10}, {"fe-4xx", 3, 6}},
		// MTTA of a b c d e p q = 2m 5m 10m 20m 1m 10m 30m; sorted
		// 1 2 5 10 10 20 30: p50 is rank ceil(3.5) = 4, p90 rank ceil(6.3) = 7.
		MTTA: Percentiles{N: 7, P50: Seconds(10 * time.Minute), P90: Seconds(30 * time.Minute)},
		// MTTR of a b c d q = 1h 2h 30m 20m 1h; sorted 20m 30m 1h 1h 2h:
		// p50 rank 3, p90 rank ceil(4.5) = 5. p resolved after the window.
		MTTR:         Percentiles{N: 5, P50: Seconds(time.Hour), P90: Seconds(2 * time.Hour)},
		Correlations: Correlations{Parents: 1, Children: 2, Pairs: 2},
		Silenced:     []SilenceCount{{"maint-42", 2, 3}, {"sil-7", 1, 4}},
		StillOpen: []OpenIncident{
			open("p", SeverityCritical, StatusAcknowledged, "dave", "", 2*time.Hour+30*time.Minute, 21*time.Hour+30*time.Minute),
			open("old", SeverityHigh, StatusAcknowledged, "frank", "", -2*time.Hour, 26*time.Hour),
			open("i", SeverityHigh, StatusOpen, Nobody, "sil-7", 20*time.Hour, 4*time.Hour),
			open("e", SeverityMedium, StatusAcknowledged, "carol", "", 10*time.Hour, 14*time.Hour),
			open("late-ack", SeverityMedium, StatusOpen, Nobody, "", 23*time.Hour, time.Hour),
			open("f", SeverityLow, StatusOpen, Nobody, "", 12*time.Hour, 12*time.Hour),
			open("h", SeverityInfo, StatusOpen, Nobody, "maint-42", 13*time.Hour+30*time.Minute, 10*time.Hour+30*time.Minute),
		},
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("digest =\n%s\nwant\n%s", gj, wj)
	}
	if h := got.Headline(); h != "136 alerts → 12 incidents (11.3:1)" {
		t.Errorf("headline = %q", h)
	}

	// The digest travels between activities and the workflow as JSON.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"mtta":{"n":7,"p50_seconds":600,"p90_seconds":1800}`) {
		t.Errorf("JSON writes durations as seconds: %s", b)
	}
	var back Digest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Errorf("JSON round trip changed the digest:\n%+v\n%+v", back, got)
	}

	// Input order does not matter.
	rev := make([]Incident, len(incs))
	for i := range incs {
		rev[len(incs)-1-i] = incs[i]
	}
	if again := BuildDigest(rev, from, to); again.Markdown() != got.Markdown() {
		t.Errorf("markdown depends on the input order")
	}
}

func TestDigestMarkdown(t *testing.T) {
	incs, from, to := digestFixture()
	d := BuildDigest(incs, from, to)
	d.LeftOut = 1
	want := `# Security digest 2025-03-10 08:00 → 2025-03-11 08:00 UTC

**136 alerts → 12 incidents (11.3:1)**, 9 announced, 3 held back by silences.

1 incident run left out: their state could not be read (terminated or failed workflows, unreadable records).

## Severity

| severity | incidents | alerts |
|---|---:|---:|
| critical | 2 | 45 |
| high | 4 | 64 |
| medium | 3 | 21 |
| low | 2 | 5 |
| info | 1 | 1 |

## Noisiest rules

| rule | alerts | incidents |
|---|---:|---:|
| waf-sqli | 60 | 2 |
| be-5xx | 40 | 2 |
| latency | 10 | 2 |
| waf-blocks | 10 | 1 |
| fe-4xx | 6 | 3 |

## Response times

| | incidents | p50 | p90 |
|---|---:|---:|---:|
| MTTA | 7 | 10m | 30m |
| MTTR | 5 | 1h | 2h |

Nearest-rank percentiles over the announced incidents of the window acknowledged (MTTA) or resolved (MTTR) by its end.

## Correlations

1 parent incident grouping 2 incidents; 2 related pairs.

## Held back by silences

| silence | incidents | alerts |
|---|---:|---:|
| maint-42 | 2 | 3 |
| sil-7 | 1 | 4 |

## Still open (7)

| incident | severity | status | held by | age |
|---|---|---|---|---:|
| title p ` + "`incident-p`" + ` | critical | acknowledged | dave | 21h30m |
| title old ` + "`incident-old`" + ` | high | acknowledged | frank | 1d2h |
| title i ` + "`incident-i`" + ` | high | open, silenced by sil-7 | nobody | 4h |
| title e ` + "`incident-e`" + ` | medium | acknowledged | carol | 14h |
| title late-ack ` + "`incident-late-ack`" + ` | medium | open | nobody | 1h |
| title f ` + "`incident-f`" + ` | low | open | nobody | 12h |
| title h ` + "`incident-h`" + ` | info | open, silenced by maint-42 | nobody | 10h30m |

## Category

| category | incidents | alerts |
|---|---:|---:|
| waf | 4 | 75 |
| (none) | 3 | 11 |
| 5xx | 2 | 40 |
| 4xx | 2 | 5 |
| security | 1 | 5 |

## All rules

| rule | incidents | alerts |
|---|---:|---:|
| fe-4xx | 3 | 6 |
| waf-sqli | 2 | 60 |
| be-5xx | 2 | 40 |
| latency | 2 | 10 |
| waf-blocks | 1 | 10 |
| login-fail | 1 | 5 |
| waf-burst | 1 | 5 |
`
	if got := d.Markdown(); got != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", got, want)
	}
}

func TestDigestOfAQuietDay(t *testing.T) {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	d := BuildDigest(nil, from, from.Add(24*time.Hour))
	if d.Headline() != "0 alerts → 0 incidents" || d.DedupRatio != 0 || d.MTTA != (Percentiles{}) {
		t.Errorf("empty digest = %+v, headline %q", d, d.Headline())
	}
	md := d.Markdown()
	for _, want := range []string{"**0 alerts → 0 incidents**, 0 announced, 0 held back by silences.", "## Still open (0)\n\nNothing is open.\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Response times") || strings.Contains(md, "Noisiest") {
		t.Errorf("empty sections rendered:\n%s", md)
	}
	// One alert, one incident: singular words.
	inc := Incident{ID: "incident-x", Alert: Alert{Rule: "r", Title: "a | b"}, OpenedAt: from, Occurrences: 1, Status: StatusOpen}
	one := BuildDigest([]Incident{inc}, from, from.Add(time.Hour))
	if h := one.Headline(); h != "1 alert → 1 incident (1.0:1)" {
		t.Errorf("headline = %q", h)
	}
	if !strings.Contains(one.Markdown(), "| a \\| b `incident-x` | unknown | open | nobody | 1h |") || !strings.Contains(one.Markdown(), "| MTTA | 0 | – | – |") {
		t.Errorf("a pipe in a title breaks the table:\n%s", one.Markdown())
	}
}

func TestNearestRank(t *testing.T) {
	mins := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Minute)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", mins(7), 50, 7 * time.Minute},
		{"one value p90", mins(7), 90, 7 * time.Minute},
		{"p50 of 4 is the 2nd", mins(40, 10, 30, 20), 50, 20 * time.Minute},
		{"p50 of 5 is the 3rd", mins(5, 4, 3, 2, 1), 50, 3 * time.Minute},
		{"p90 of 10 is the 9th", mins(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Minute},
		{"p90 of 11 is the 10th", mins(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 90, 10 * time.Minute},
		{"p90 of 5 is the 5th", mins(1, 2, 3, 4, 5), 90, 5 * time.Minute},
		{"p100 is the largest", mins(3, 9, 1), 100, 9 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tc.ds...)
			if got := NearestRank(tc.ds, tc.p); got != tc.want {
				t.Errorf("NearestRank(%v, %g) = %s, want %s", tc.ds, tc.p, got, tc.want)
			}
			if !reflect.DeepEqual(before, tc.ds) {
				t.Errorf("input reordered: %v", tc.ds)
			}
		})
	}
}

func TestSecondsString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 4*time.Minute + 30*time.Second: "4m30s", 4 * time.Minute: "4m",
		time.Hour + 5*time.Minute: "1h05m", 3 * time.Hour: "3h", 26 * time.Hour: "1d2h", 48 * time.Hour: "2d",
		1500 * time.Millisecond: "2s",
	} {
		if got := Seconds(d).String(); got != want {
			t.Errorf("Seconds(%s) = %q, want %q", d, got, want)
		}
	}
}

// An incident a silence held back until it ended is counted under that
// silence and, announced since, in the response times; one still held is
// only counted.
func TestDigestCountsSilencesThatEnded(t *testing.T) {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	released := Incident{ID: "incident-r", Occurrences: 4, OpenedAt: from.Add(time.Hour), HeldBy: []string{"sil-9"},
		AcknowledgedAt: from.Add(time.Hour + 3*time.Minute), AcknowledgedBy: "alice", Status: StatusAcknowledged}
	held := Incident{ID: "incident-h", Occurrences: 2, OpenedAt: from.Add(2 * time.Hour), HeldBy: []string{"sil-9"}, SilencedBy: "sil-9", Status: StatusOpen}
	d := BuildDigest([]Incident{released, held}, from, to)
	if want := []SilenceCount{{"sil-9", 2, 6}}; !reflect.DeepEqual(d.Silenced, want) {
		t.Errorf("silenced %+v, want %+v", d.Silenced, want)
	}
	if d.Announced != 1 || d.MTTA.N != 1 || d.MTTA.P50 != Seconds(3*time.Minute) {
		t.Errorf("announced %d, MTTA %+v; want 1 announced with MTTA 3m", d.Announced, d.MTTA)
	}
}
