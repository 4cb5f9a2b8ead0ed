package slack

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// Action IDs of the incident message's buttons. ingress/slackapp dispatches on
// them; every button's value is the incident ID.
const (
	ActionAcknowledge = "irflow_ack"
	ActionResolve     = "irflow_resolve"
	ActionRescan      = "irflow_rescan"
	ActionSnooze1h    = "irflow_snooze_1h"
	// ActionSilence1h silences alerts like this one for an hour (a silence
	// matching its source, rule, env and query key).
	ActionSilence1h = "irflow_silence_1h"
	// ActionResolveAll resolves a correlation parent and its children.
	ActionResolveAll = "irflow_resolve_all"
	// Link buttons still send block_actions; the handler ignores these.
	ActionOpenDashboards = "irflow_link_dashboards"
	ActionOpenTemporal   = "irflow_link_temporal"

	// ActionsBlockID is the block_id of the buttons row.
	ActionsBlockID = "irflow_actions"
)

// Slack's limits for the parts we fill.
const (
	maxHeader     = 150
	maxFieldText  = 2000
	maxSection    = 3000
	maxFields     = 10
	maxButtonURL  = 3000
	discoverSlack = 15 * time.Minute // time around first/last seen shown in Discover
)

// securityCategories get a shield in front of the title.
var securityCategories = map[string]bool{"waf": true, "security": true}

// Header is the incident's title line: severity emoji, a shield for
// security categories, the title.
func Header(inc *incident.Incident) string {
	var b strings.Builder
	b.WriteString(inc.Severity.Emoji())
	b.WriteString(" ")
	if securityCategories[strings.ToLower(inc.Alert.Category)] {
		b.WriteString("🛡️ ")
	}
	b.WriteString(inc.Title())
	return incident.Truncate(b.String(), maxHeader)
}

// FallbackText is the message's plain text, shown in notifications and by
// clients that cannot render blocks.
func FallbackText(inc *incident.Incident) string {
	return fmt.Sprintf("%s [%s, %s] %s", escape(Header(inc)), inc.Severity, inc.Status, inc.ID)
}

// Blocks renders inc as Block Kit: header, facts, correlation, status context,
// and buttons that depend on the status.
func Blocks(cfg *config.Slack, inc *incident.Incident) []slackapi.Block {
	a := inc.Alert
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, Header(inc), true, false)),
	}

	intro := fmt.Sprintf("*Severity:* %s   *Status:* %s", inc.Severity, inc.Status)
	if a.Summary != "" {
		intro += "\n" + escape(a.Summary)
	}
	var fields []*slackapi.TextBlockObject
	add := func(name, value string) {
		if value != "" {
			fields = append(fields, mrkdwn(incident.Truncate(fmt.Sprintf("*%s*\n%s", name, value), maxFieldText)))
		}
	}
	add("Rule", escape(a.Rule))
	add("Environment", escape(a.Env))
	add("Service", escape(a.Service))
	add("Source", escape(a.Source))
	add("Occurrences", strconv.Itoa(max(inc.Occurrences, 1)))
	add("First seen", slackDate(inc.FirstSeen))
	add("Last seen", slackDate(inc.LastSeen))
	add("Source IP", escape(alertField(inc, "client_ip")))
	add("Country", escape(alertField(inc, "geo.country_iso_code")))
	add("Threat tags", escape(alertField(inc, "threat_tags")))
	for len(fields) > 0 {
		n := min(len(fields), maxFields)
		var text *slackapi.TextBlockObject
		if intro != "" {
			text, intro = mrkdwn(incident.Truncate(intro, maxSection)), ""
		}
		blocks = append(blocks, slackapi.NewSectionBlock(text, fields[:n], nil))
		fields = fields[n:]
	}

	if tags := alertField(inc, rules.TagsField); tags != "" {
		// A Sigma rule's tags (ATT&CK tactics and techniques), one compact line.
		blocks = append(blocks, slackapi.NewContextBlock("irflow_tags",
			mrkdwn(incident.Truncate("🏷️ *Tags:* "+escape(strings.ReplaceAll(tags, ", ", " · ")), maxSection))))
	}

	if c := correlation(inc); c != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(incident.Truncate("*Correlation*\n"+escape(c), maxSection)), nil, nil))
	}

	if l := linksText(inc); l != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(incident.Truncate("*Linked incidents*\n"+l, maxSection)), nil, nil))
	}
	if c := contextText(inc); c != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(incident.Truncate("*Context*\n"+c, maxSection)), nil, nil))
	}
	if c := cloudWatchText(inc); c != "" {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(incident.Truncate("*CloudWatch*\n"+c, maxSection)), nil, nil))
	}

	if ctx := statusContext(inc); len(ctx) > 0 {
		elems := make([]slackapi.MixedElement, len(ctx))
		for i, t := range ctx {
			elems[i] = mrkdwn(incident.Truncate(t, maxSection))
		}
		blocks = append(blocks, slackapi.NewContextBlock("irflow_status", elems...))
	}

	if elems := buttons(cfg, inc); len(elems) > 0 {
		blocks = append(blocks, slackapi.NewActionBlock(ActionsBlockID, elems...))
	}
	return blocks
}

func statusContext(inc *incident.Incident) []string {
	var lines []string
	if inc.AcknowledgedBy != "" {
		lines = append(lines, fmt.Sprintf("✅ Acknowledged by %s at %s", actor(inc.AcknowledgedBy), slackDate(inc.AcknowledgedAt)))
	}
	if inc.Status == incident.StatusSnoozed {
		lines = append(lines, fmt.Sprintf("😴 Snoozed by %s until %s", actor(inc.SnoozedBy), slackDate(inc.SnoozedUntil)))
	}
	if inc.Status == incident.StatusResolved {
		line := fmt.Sprintf("✔️ Resolved by %s at %s", actor(inc.ResolvedBy), slackDate(inc.ResolvedAt))
		if inc.ResolveNote != "" {
			line += ": " + escape(inc.ResolveNote)
		}
		lines = append(lines, line)
	}
	if inc.SilencedBy != "" && inc.Status.Active() {
		lines = append(lines, fmt.Sprintf("🔕 Silenced by %s: escalation is held", escape(inc.SilencedBy)))
	}
	if inc.Status.Active() && inc.EscalationLevel > 0 {
		lines = append(lines, fmt.Sprintf("📣 Escalated to level %d", inc.EscalationLevel))
	}
	if s := inc.LastScan; s != nil {
		line := fmt.Sprintf("🔎 Last re-scan: %s at %s", s.State, slackDate(s.At))
		if s.Detail != "" {
			line += " (" + escape(s.Detail) + ")"
		}
		lines = append(lines, line)
	}
	var links []string
	for _, l := range inc.Alert.Links {
		links = append(links, fmt.Sprintf("<%s|%s>", l.URL, escape(l.Title)))
	}
	if len(links) > 0 {
		lines = append(lines, strings.Join(links, " · "))
	}
	return lines
}

func buttons(cfg *config.Slack, inc *incident.Incident) []slackapi.BlockElement {
	var elems []slackapi.BlockElement
	button := func(id, label string, style slackapi.Style) *slackapi.ButtonBlockElement {
		b := slackapi.NewButtonBlockElement(id, inc.ID, slackapi.NewTextBlockObject(slackapi.PlainTextType, label, true, false))
		b.Style = style
		elems = append(elems, b)
		return b
	}
	if inc.Status.Active() {
		if inc.AcknowledgedBy == "" {
			button(ActionAcknowledge, "Acknowledge", slackapi.StylePrimary)
		}
		resolve := button(ActionResolve, "Resolve", slackapi.StyleDefault)
		resolve.Confirm = slackapi.NewConfirmationBlockObject(
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "Resolve incident?", false, false),
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "It stays resolved until the rule fires again.", false, false),
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "Resolve", false, false),
			slackapi.NewTextBlockObject(slackapi.PlainTextType, "Cancel", false, false))
		button(ActionRescan, "Re-scan now", slackapi.StyleDefault)
		if inc.Status != incident.StatusSnoozed {
			button(ActionSnooze1h, "Snooze 1h", slackapi.StyleDefault)
		}
		if inc.SilencedBy == "" {
			button(ActionSilence1h, "Silence 1h", slackapi.StyleDefault)
		}
		if len(inc.Children) > 0 {
			all := button(ActionResolveAll, fmt.Sprintf("Resolve all (%d)", len(inc.Children)+1), slackapi.StyleDanger)
			all.Confirm = slackapi.NewConfirmationBlockObject(
				slackapi.NewTextBlockObject(slackapi.PlainTextType, "Resolve parent and children?", false, false),
				slackapi.NewTextBlockObject(slackapi.PlainTextType, fmt.Sprintf("Resolves this incident and the %d incidents it groups.", len(inc.Children)), false, false),
				slackapi.NewTextBlockObject(slackapi.PlainTextType, "Resolve all", false, false),
				slackapi.NewTextBlockObject(slackapi.PlainTextType, "Cancel", false, false))
		}
	}
	link := func(id, label, u string) {
		if u == "" || len(u) > maxButtonURL {
			return
		}
		b := slackapi.NewButtonBlockElement(id, inc.ID, slackapi.NewTextBlockObject(slackapi.PlainTextType, label, true, false))
		b.URL = u
		elems = append(elems, b)
	}
	link(ActionOpenDashboards, "Open in OpenSearch Dashboards", DiscoverURL(cfg.OpenSearchDashboardsURL, inc))
	link(ActionOpenTemporal, "Open in Temporal UI", workflows.WebUIURL(cfg.TemporalUIURL, cfg.Namespace, inc.ID))
	return elems
}

// DiscoverURL opens OpenSearch Dashboards Discover on the alert's index pattern
// (Fields["index"], which must be the index pattern's saved-object ID) with its
// query (Fields["query"], else a search for the rule name) around the time it
// fired. It returns "" without a base.
func DiscoverURL(base string, inc *incident.Incident) string {
	if base == "" {
		return ""
	}
	from, to := inc.FirstSeen, inc.LastSeen
	if from.IsZero() {
		from = inc.OpenedAt
	}
	if to.Before(from) {
		to = from
	}
	g := "(time:(from:now-1h,to:now))"
	if !from.IsZero() {
		g = fmt.Sprintf("(time:(from:%s,to:%s))",
			rison(from.Add(-discoverSlack).UTC().Format(time.RFC3339)), rison(to.Add(discoverSlack).UTC().Format(time.RFC3339)))
	}
	query := alertField(inc, "query")
	if query == "" {
		query = strconv.Quote(inc.Alert.Rule)
	}
	lang := "kuery"
	if alertField(inc, "query_language") == "lucene" {
		lang = "lucene"
	}
	var a strings.Builder
	a.WriteString("(")
	if idx := alertField(inc, "index"); idx != "" {
		fmt.Fprintf(&a, "index:%s,", rison(idx))
	}
	fmt.Fprintf(&a, "query:(language:%s,query:%s))", lang, rison(query))
	return strings.TrimSuffix(base, "/") + "/app/discover#/?_g=" + url.QueryEscape(g) + "&_a=" + url.QueryEscape(a.String())
}

// rison quotes s as a Rison string, the encoding Dashboards uses in URLs.
func rison(s string) string {
	return "'" + strings.NewReplacer("!", "!!", "'", "!'").Replace(s) + "'"
}

// correlation is the human summary of Fields["correlation"]: a string as is,
// an object's "summary", or else compact JSON.
func correlation(inc *incident.Incident) string {
	for _, a := range alerts(inc) {
		v, ok := a.Fields["correlation"]
		if !ok || v == nil {
			continue
		}
		switch c := v.(type) {
		case string:
			return c
		case map[string]any:
			if s, ok := c["summary"].(string); ok {
				return s
			}
		}
		b, _ := json.Marshal(v)
		return incident.Truncate(string(b), 500)
	}
	return ""
}

// linksText lists the incidents the correlator linked to this one.
func linksText(inc *incident.Incident) string {
	var lines []string
	if inc.ParentID != "" {
		lines = append(lines, "Part of "+escape(inc.ParentID))
	}
	if n := len(inc.Children); n > 0 {
		lines = append(lines, fmt.Sprintf("Groups %d: %s", n, escape(strings.Join(inc.Children, ", "))))
	}
	if len(inc.Related) > 0 {
		lines = append(lines, "Related: "+escape(strings.Join(inc.Related, ", ")))
	}
	return strings.Join(lines, "\n")
}

// alerts lists the latest sample first, then the first alert.
func alerts(inc *incident.Incident) []*incident.Alert {
	if inc.Sample != nil {
		return []*incident.Alert{inc.Sample, &inc.Alert}
	}
	return []*incident.Alert{&inc.Alert}
}

// alertField finds a field by its flat key ("geo.country_iso_code") or by
// walking nested objects, in the latest sample first. Lists join with ", ".
func alertField(inc *incident.Incident, key string) string {
	for _, a := range alerts(inc) {
		v, ok := a.Field(key)
		if !ok || v == nil {
			continue
		}
		switch t := v.(type) {
		case string:
			if t != "" {
				return t
			}
		case []any:
			parts := make([]string, 0, len(t))
			for _, e := range t {
				parts = append(parts, fmt.Sprint(e))
			}
			return strings.Join(parts, ", ")
		case []string:
			return strings.Join(t, ", ")
		default:
			return fmt.Sprint(t)
		}
	}
	return ""
}

// slackDate renders t in each reader's time zone, falling back to UTC text.
func slackDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04:05 UTC"))
}

var slackUser = regexp.MustCompile(`^slack:([UW][A-Z0-9]+)\b`)

// actor shows a Slack actor ("slack:U123 (alice)") as a mention, anyone else as text.
func actor(s string) string {
	if m := slackUser.FindStringSubmatch(s); m != nil {
		return "<@" + m[1] + ">"
	}
	if s == "" {
		return "someone"
	}
	return escape(s)
}

// escape makes text safe for mrkdwn: Slack gives &, < and > control meaning.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

// contextText is the enrichment, one line per fact, in mrkdwn.
func contextText(inc *incident.Incident) string {
	e := inc.Enrichment
	if e.Empty() {
		return ""
	}
	var lines []string
	if o := e.Owner; o != nil {
		line := "Owner: *" + escape(o.Team) + "*"
		if o.Channel != "" {
			line += " · " + escape(o.Channel)
		}
		if o.Runbook != "" {
			line += " · <" + o.Runbook + "|runbook>"
		}
		lines = append(lines, line)
	}
	for _, h := range e.ThreatIntel {
		lines = append(lines, fmt.Sprintf(":rotating_light: `%s` is on *%s* (%s) as %s", escape(h.Indicator), escape(h.Source),
			escape(strings.Join(h.Tags, ", ")), escape(h.Match)))
	}
	for _, g := range e.Geo {
		where := g.CountryISO
		if g.Country != "" {
			where = g.Country
		}
		if g.City != "" {
			where = g.City + ", " + where
		}
		if g.ASN != 0 {
			where += fmt.Sprintf(" · AS%d %s", g.ASN, g.ASOrg)
		}
		lines = append(lines, fmt.Sprintf("`%s`: %s", escape(g.IP), escape(where)))
	}
	return strings.Join(lines, "\n")
}

// cloudWatchText is one line per metric: window against baseline, the
// change, the peak and a sparkline, flagged when anomalous.
func cloudWatchText(inc *incident.Incident) string {
	var lines []string
	for _, m := range inc.CloudWatch {
		change := "new activity"
		if m.ChangePct != nil {
			change = fmt.Sprintf("%+.0f%%", *m.ChangePct)
		} else if m.Window == 0 {
			change = "quiet"
		}
		line := fmt.Sprintf("%s: %g (%s) vs %g before, peak %g `%s`", escape(m.Label), m.Window, escape(m.Stat), m.Baseline, m.Peak, m.Sparkline)
		line += " " + change
		if m.Anomalous {
			line = ":warning: " + line + " *anomalous*"
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
