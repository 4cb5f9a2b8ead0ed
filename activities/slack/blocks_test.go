package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

var t0 = time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)

func sampleIncident() *incident.Incident {
	return &incident.Incident{
		ID:          "incident-abc123",
		Fingerprint: "abc123",
		Alert: incident.Alert{
			Source: "rules", Rule: "waf-sqli", Env: "prod", Service: "checkout", Category: "waf",
			Severity: incident.SeverityHigh, Title: "SQL injection attempts",
			Fields: map[string]any{
				"client_ip":   "203.0.113.7",
				"geo":         map[string]any{"country_iso_code": "NL"},
				"threat_tags": []any{"tor", "scanner"},
				"correlation": map[string]any{"summary": "BlockedRequests 40x baseline"},
				"index":       "waf-logs-*",
				"query":       "client.ip:203.0.113.7",
			},
		},
		Severity:    incident.SeverityHigh,
		Status:      incident.StatusOpen,
		Occurrences: 17,
		FirstSeen:   t0,
		LastSeen:    t0.Add(10 * time.Minute),
		OpenedAt:    t0,
	}
}

// blockJSON is the subset of Block Kit JSON the tests look at.
type blockJSON struct {
	Type    string `json:"type"`
	BlockID string `json:"block_id"`
	Text    *struct {
		Text string `json:"text"`
	} `json:"text"`
	Fields []struct {
		Text string `json:"text"`
	} `json:"fields"`
	Elements []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		URL      string `json:"url"`
		Text     any    `json:"text"`
	} `json:"elements"`
}

func MustRender(tb testing.TB, cfg *config.Slack, inc *incident.Incident) []blockJSON {
	tb.Helper()
	b, err := json.Marshal(Blocks(cfg, inc))
	if err != nil {
		tb.Fatal(err)
	}
	var out []blockJSON
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func actionIDs(blocks []blockJSON) []string {
	var ids []string
	for _, b := range blocks {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				ids = append(ids, e.ActionID)
			}
		}
	}
	return ids
}

func allText(blocks []blockJSON) string {
	var sb strings.Builder
	for _, b := range blocks {
		if b.Text != nil {
			sb.WriteString(b.Text.Text + "\n")
		}
		for _, f := range b.Fields {
			sb.WriteString(f.Text + "\n")
		}
		if b.Type == "context" {
			for _, e := range b.Elements {
				if m, ok := e.Text.(string); ok {
					sb.WriteString(m + "\n")
				}
			}
		}
	}
	return sb.String()
}

var testCfg = &config.Slack{
	DefaultChannel:          "#alerts",
	OpenSearchDashboardsURL: "https://search.example.com/_dashboards/",
	TemporalUIURL:           "https://temporal.example.com",
	Namespace:               "irflow",
}

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		sev      incident.Severity
		category string
		want     string
	}{
		{incident.SeverityCritical, "reliability", "🔥 t"},
		{incident.SeverityHigh, "waf", "🚨 🛡️ t"},
		{incident.SeverityMedium, "Security", "⚠️ 🛡️ t"},
		{incident.SeverityLow, "", "ℹ️ t"},
	} {
		inc := &incident.Incident{Severity: tc.sev, Alert: incident.Alert{Title: "t", Category: tc.category}}
		if got := Header(inc); got != tc.want {
			t.Errorf("Header(%s, %q) = %q, want %q", tc.sev, tc.category, got, tc.want)
		}
	}
	long := &incident.Incident{Severity: incident.SeverityHigh, Alert: incident.Alert{Title: strings.Repeat("é", 200)}}
	if h := Header(long); len(h) > maxHeader || !strings.HasSuffix(h, "…") {
		t.Errorf("long header is %d bytes, want at most %d ending in …", len(h), maxHeader)
	}
}

func TestBlocksOpen(t *testing.T) {
	inc := sampleIncident()
	blocks := MustRender(t, testCfg, inc)
	if blocks[0].Type != "header" || blocks[0].Text.Text != "🚨 🛡️ SQL injection attempts" {
		t.Errorf("first block %+v, want header with emoji and shield", blocks[0])
	}
	text := allText(blocks)
	for _, want := range []string{
		"*Rule*\nwaf-sqli", "*Environment*\nprod", "*Service*\ncheckout", "*Source*\nrules", "*Occurrences*\n17",
		fmt.Sprintf("*First seen*\n<!date^%d^", t0.Unix()),
		fmt.Sprintf("*Last seen*\n<!date^%d^", t0.Add(10*time.Minute).Unix()),
		"*Source IP*\n203.0.113.7", "*Country*\nNL", "*Threat tags*\ntor, scanner",
		"*Correlation*\nBlockedRequests 40x baseline",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("blocks lack %q; text:\n%s", want, text)
		}
	}
	wantIDs := []string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSnooze1h, ActionSilence1h, ActionOpenDashboards, ActionOpenTemporal}
	if got := actionIDs(blocks); !slices.Equal(got, wantIDs) {
		t.Errorf("buttons %v, want %v", got, wantIDs)
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID != "" && e.Value != inc.ID {
				t.Errorf("button %s value %q, want incident ID %q", e.ActionID, e.Value, inc.ID)
			}
		}
	}
}

func TestBlocksLifecycle(t *testing.T) {
	acked := sampleIncident()
	acked.Status = incident.StatusAcknowledged
	acked.AcknowledgedBy, acked.AcknowledgedAt = "slack:U123 (alice)", t0.Add(time.Minute)

	snoozed := sampleIncident()
	snoozed.Status = incident.StatusSnoozed
	snoozed.SnoozedBy, snoozed.SnoozedUntil = "cli:bob", t0.Add(time.Hour)

	resolved := sampleIncident()
	resolved.Status = incident.StatusResolved
	resolved.AcknowledgedBy, resolved.AcknowledgedAt = "slack:U123 (alice)", t0.Add(time.Minute)
	resolved.ResolvedBy, resolved.ResolvedAt = incident.SystemActor, t0.Add(time.Hour)

	silenced := sampleIncident()
	silenced.SilencedBy = "silence-7f3a"

	parent := sampleIncident()
	parent.Children = []string{"incident-c1", "incident-c2", "incident-c3"}
	child := sampleIncident()
	child.ParentID = "incident-p1"
	child.Related = []string{"incident-waf"}

	links := []string{ActionOpenDashboards, ActionOpenTemporal}
	for _, tc := range []struct {
		name    string
		inc     *incident.Incident
		context []string
		buttons []string
	}{
		{"acknowledged", acked,
			[]string{fmt.Sprintf("Acknowledged by <@U123> at <!date^%d^", t0.Add(time.Minute).Unix())},
			append([]string{ActionResolve, ActionRescan, ActionSnooze1h, ActionSilence1h}, links...)},
		{"snoozed", snoozed,
			[]string{fmt.Sprintf("Snoozed by cli:bob until <!date^%d^", t0.Add(time.Hour).Unix())},
			append([]string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSilence1h}, links...)},
		{"silenced", silenced,
			[]string{"Silenced by silence-7f3a: escalation is held"},
			append([]string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSnooze1h}, links...)},
		{"parent", parent,
			[]string{"*Linked incidents*", "Groups 3: incident-c1, incident-c2, incident-c3"},
			append([]string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSnooze1h, ActionSilence1h, ActionResolveAll}, links...)},
		{"child", child,
			[]string{"Part of incident-p1", "Related: incident-waf"},
			append([]string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSnooze1h, ActionSilence1h}, links...)},
		{"resolved", resolved,
			[]string{"Acknowledged by <@U123>", fmt.Sprintf("Resolved by irflow at <!date^%d^", t0.Add(time.Hour).Unix())},
			links},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks := MustRender(t, testCfg, tc.inc)
			text := allText(blocks)
			for _, want := range tc.context {
				if !strings.Contains(text, want) {
					t.Errorf("blocks lack %q; text:\n%s", want, text)
				}
			}
			if got := actionIDs(blocks); !slices.Equal(got, tc.buttons) {
				t.Errorf("buttons %v, want %v", got, tc.buttons)
			}
		})
	}
}

func TestBlocksWithoutLinkBases(t *testing.T) {
	inc := sampleIncident()
	inc.Alert.Fields = nil
	blocks := MustRender(t, &config.Slack{DefaultChannel: "#alerts"}, inc)
	want := []string{ActionAcknowledge, ActionResolve, ActionRescan, ActionSnooze1h, ActionSilence1h}
	if got := actionIDs(blocks); !slices.Equal(got, want) {
		t.Errorf("buttons %v, want %v (no link buttons without base URLs)", got, want)
	}
	if text := allText(blocks); strings.Contains(text, "Source IP") || strings.Contains(text, "Correlation") {
		t.Errorf("empty fields rendered:\n%s", text)
	}
}

func TestLinkURLs(t *testing.T) {
	inc := sampleIncident()
	if got, want := workflows.WebUIURL(testCfg.TemporalUIURL, testCfg.Namespace, inc.ID),
		"https://temporal.example.com/namespaces/irflow/workflows/incident-abc123"; got != want {
		t.Errorf("WebUIURL = %s, want %s", got, want)
	}

	u, err := url.Parse(DiscoverURL(testCfg.OpenSearchDashboardsURL, inc))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/_dashboards/app/discover" {
		t.Errorf("path %s, want /_dashboards/app/discover", u.Path)
	}
	q, err := url.ParseQuery(strings.TrimPrefix(u.Fragment, "/?"))
	if err != nil {
		t.Fatal(err)
	}
	if g, want := q.Get("_g"), "(time:(from:'2026-11-22T19:45:00Z',to:'2026-11-22T20:25:00Z'))"; g != want {
		t.Errorf("_g = %s, want %s", g, want)
	}
	if a, want := q.Get("_a"), "(index:'waf-logs-*',query:(language:kuery,query:'client.ip:203.0.113.7'))"; a != want {
		t.Errorf("_a = %s, want %s", a, want)
	}

	inc.Alert.Fields = nil
	inc.Alert.Rule = "it's 5xx!"
	u, _ = url.Parse(DiscoverURL(testCfg.OpenSearchDashboardsURL, inc))
	q, _ = url.ParseQuery(strings.TrimPrefix(u.Fragment, "/?"))
	if a, want := q.Get("_a"), `(query:(language:kuery,query:'"it!'s 5xx!!"'))`; a != want {
		t.Errorf("rule-name search _a = %s, want %s", a, want)
	}
}

func TestFallbackTextEscapes(t *testing.T) {
	inc := sampleIncident()
	inc.Alert.Title = "<!channel> & friends"
	got := FallbackText(inc)
	if want := "🚨 🛡️ &lt;!channel&gt; &amp; friends [high, open] incident-abc123"; got != want {
		t.Errorf("FallbackText = %q, want %q (no accidental @channel)", got, want)
	}
}

// The context a person on call reads first: owner and runbook, threat intel,
// where the IP is, and what CloudWatch saw.
func TestBlocksShowContext(t *testing.T) {
	inc := sampleIncident()
	pct := 1900.0
	inc.Enrichment = &incident.Enrichment{
		Owner:       &incident.Owner{Team: "secops", Channel: "#waf-alerts", Runbook: "https://runbooks.example.com/waf"},
		Geo:         []incident.IPGeo{{IP: "203.0.113.200", Country: "Netherlands", CountryISO: "NL", ASN: 64510, ASOrg: "Demo Bulletproof Hosting"}},
		ThreatIntel: []incident.ThreatHit{{Indicator: "203.0.113.200", Match: "203.0.113.192/27", Tags: []string{"scanner", "sqli"}, Source: "irflow-demo-feed"}},
	}
	inc.CloudWatch = []incident.MetricSummary{
		{Label: "WAF blocked requests", Stat: "Sum", Window: 20, Baseline: 1, Peak: 60, ChangePct: &pct, Sparkline: "▁▁█", Anomalous: true},
		{Label: "ALB 5xx", Stat: "Sum"},
	}
	text := allText(MustRender(t, &config.Slack{DefaultChannel: "#alerts"}, inc))
	for _, want := range []string{
		"*Context*\nOwner: *secops* · #waf-alerts · <https://runbooks.example.com/waf|runbook>",
		":rotating_light: `203.0.113.200` is on *irflow-demo-feed* (scanner, sqli) as 203.0.113.192/27",
		"`203.0.113.200`: Netherlands · AS64510 Demo Bulletproof Hosting",
		"*CloudWatch*\n:warning: WAF blocked requests: 20 (Sum) vs 1 before, peak 60 `▁▁█` +1900% *anomalous*",
		"ALB 5xx: 0 (Sum) vs 0 before, peak 0 `` quiet",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("blocks lack %q:\n%s", want, text)
		}
	}
	// Without context there is no empty section.
	if text := allText(MustRender(t, &config.Slack{DefaultChannel: "#alerts"}, sampleIncident())); strings.Contains(text, "*Context*") || strings.Contains(text, "*CloudWatch*") {
		t.Errorf("empty context rendered:\n%s", text)
	}
}

// TestBlocksShowRuleTags: a Sigma rule's tags (rules.TagsField, a list of
// strings in process and []any after the workflow's JSON) become one compact
// context line; an alert without tags has none.
func TestBlocksShowRuleTags(t *testing.T) {
	for _, tags := range []any{
		[]string{"attack.initial-access", "attack.t1190"},
		[]any{"attack.initial-access", "attack.t1190"},
	} {
		inc := sampleIncident()
		inc.Alert.Fields[rules.TagsField] = tags
		var got []string
		for _, b := range MustRender(t, testCfg, inc) {
			if b.BlockID == "irflow_tags" {
				for _, e := range b.Elements {
					got = append(got, fmt.Sprint(e.Text))
				}
			}
		}
		if want := "🏷️ *Tags:* attack.initial-access · attack.t1190"; !slices.Equal(got, []string{want}) {
			t.Errorf("%T: tags block %q, want %q", tags, got, want)
		}
	}
	for _, b := range MustRender(t, testCfg, sampleIncident()) {
		if b.BlockID == "irflow_tags" {
			t.Errorf("a tags block without tags: %+v", b)
		}
	}
}
