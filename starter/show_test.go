package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
)

// `incident show` prints the context a person on call reads first.
func TestShowPrintsContext(t *testing.T) {
	pct := 1900.0
	inc := incident.Incident{ID: "incident-x", Severity: incident.SeverityHigh, Status: incident.StatusOpen,
		Alert: incident.Alert{Source: "rules", Rule: "waf sqli burst"},
		Enrichment: &incident.Enrichment{
			Owner:       &incident.Owner{Team: "secops", Channel: "#waf-alerts", Runbook: "https://runbooks.example.com/waf"},
			Geo:         []incident.IPGeo{{IP: "203.0.113.200", Field: "httpRequest.clientIp", Country: "Netherlands", CountryISO: "NL", ASN: 64510, ASOrg: "Demo Bulletproof Hosting"}},
			ThreatIntel: []incident.ThreatHit{{Indicator: "203.0.113.200", Field: "httpRequest.clientIp", Match: "203.0.113.192/27", Tags: []string{"scanner", "sqli"}, Source: "irflow-demo-feed"}},
		},
		CloudWatch: []incident.MetricSummary{{Label: "WAF blocked", Stat: "Sum", Window: 20, Baseline: 1, Peak: 60, ChangePct: &pct, Sparkline: "▁▁█", Anomalous: true}},
		FirstSeen:  time.Now(), LastSeen: time.Now(),
	}
	var out bytes.Buffer
	printIncident(&out, inc)
	for _, want := range []string{
		"owner        secops · #waf-alerts · runbook https://runbooks.example.com/waf",
		"geo          203.0.113.200 (httpRequest.clientIp): Netherlands · AS64510 Demo Bulletproof Hosting",
		"threat intel 203.0.113.200 (httpRequest.clientIp) matches 203.0.113.192/27 in irflow-demo-feed: scanner, sqli",
		"cloudwatch   WAF blocked Sum: 20 vs 1 baseline (+1900%), peak 60  ▁▁█  ANOMALOUS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}
}

// `incident show` says what holds the incident back and what it is linked to.
func TestShowPrintsSilenceAndLinks(t *testing.T) {
	inc := incident.Incident{ID: "incident-p", Severity: incident.SeverityCritical, Status: incident.StatusOpen,
		Alert: incident.Alert{Source: "irflow", Rule: "correlation:related-burst"}, SilencedBy: "maintenance:patching",
		ParentID: "incident-top", Children: []string{"incident-a", "incident-b"}, Related: []string{"incident-waf"}}
	var out bytes.Buffer
	printIncident(&out, inc)
	for _, want := range []string{
		"silenced by  maintenance:patching (not announced, not escalated)",
		"parent       incident-top",
		"children     incident-a, incident-b",
		"related      incident-waf",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}
}
