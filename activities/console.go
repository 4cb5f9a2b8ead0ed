package activities

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/incident"
)

// Console is the notifier used in dev when Slack is not configured: it prints
// one block per announcement and one line per edit or event.
type Console struct {
	W io.Writer
	// Route, when set, names the channel each incident would be posted to
	// (the worker passes the Slack routes), so dev shows where it would go.
	Route func(*incident.Incident) string

	mu     sync.Mutex
	posted map[string]incident.MessageRef // incident run → ref, for Find
	seq    int
	told   map[string]bool // incident runs whose context was printed
}

// NewConsole returns a console notifier writing to w.
func NewConsole(w io.Writer) *Console {
	return &Console{W: w, posted: map[string]incident.MessageRef{}, told: map[string]bool{}}
}

func (c *Console) Name() string { return "console" }

func consoleKey(inc *incident.Incident) string {
	return inc.ID + "/" + inc.OpenedAt.Format(time.RFC3339Nano)
}

func (c *Console) Find(_ context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref, ok := c.posted[consoleKey(inc)]; ok {
		return &ref, nil
	}
	return nil, nil
}

func (c *Console) Post(_ context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	channel := "console"
	if c.Route != nil {
		channel = c.Route(inc)
	}
	ref := incident.MessageRef{Notifier: c.Name(), Channel: channel, ID: fmt.Sprintf("%d", c.seq)}
	c.posted[consoleKey(inc)] = ref
	fmt.Fprintf(c.W, "\n%s %s  [%s] → %s\n   %s · rule %s · env %s · source %s · %d occurrence(s)\n   ack: bin/starter incident ack %s --by $USER\n",
		inc.Severity.Emoji(), inc.Title(), strings.ToUpper(inc.Severity.String()), channel, inc.ID,
		inc.Alert.Rule, orDash(inc.Alert.Env), inc.Alert.Source, inc.Occurrences, inc.ID)
	return &ref, nil
}

func (c *Console) Update(_ context.Context, ref incident.MessageRef, inc *incident.Incident) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.W, "   ↻ %s: %s, %d occurrence(s), last seen %s\n", inc.ID, inc.Status, inc.Occurrences, inc.LastSeen.Format(time.RFC3339))
	// The context arrives after the announcement; print it once, when it does.
	if key := consoleKey(inc); !c.told[key] && (!inc.Enrichment.Empty() || len(inc.CloudWatch) > 0) {
		c.told[key] = true
		for _, line := range contextLines(inc) {
			fmt.Fprintf(c.W, "   ⓘ %s\n", line)
		}
	}
	return nil
}

// contextLines is an incident's enrichment and CloudWatch summary as plain lines.
func contextLines(inc *incident.Incident) []string {
	var out []string
	if e := inc.Enrichment; !e.Empty() {
		if o := e.Owner; o != nil {
			out = append(out, strings.Join(strings.Fields("owner "+o.Team+" "+o.Channel+" "+o.Runbook), " "))
		}
		for _, h := range e.ThreatIntel {
			out = append(out, fmt.Sprintf("threat intel: %s on %s (%s)", h.Indicator, h.Source, strings.Join(h.Tags, ", ")))
		}
		for _, g := range e.Geo {
			out = append(out, fmt.Sprintf("geo: %s in %s AS%d %s", g.IP, orDash(g.CountryISO), g.ASN, g.ASOrg))
		}
	}
	for _, m := range inc.CloudWatch {
		flag := ""
		if m.Anomalous {
			flag = " ANOMALOUS"
		}
		out = append(out, fmt.Sprintf("cloudwatch: %s %g vs %g before, peak %g %s%s", m.Label, m.Window, m.Baseline, m.Peak, m.Sparkline, flag))
	}
	return out
}

func (c *Console) Event(_ context.Context, ref incident.MessageRef, inc *incident.Incident, ev Event) error {
	fmt.Fprintf(c.W, "   ↳ %s: %s\n", inc.ID, ev.Text)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PostDigest prints the digest's Markdown, for dev.
func (c *Console) PostDigest(_ context.Context, channel string, d incident.Digest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.W, "\n📊 digest → %s\n%s", channel, d.Markdown())
	return err
}
