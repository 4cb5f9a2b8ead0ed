package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// In dev the console is the message: the context is printed once, when it
// arrives after the announcement.
func TestConsolePrintsContextOnce(t *testing.T) {
	var out strings.Builder
	c := activities.NewConsole(&out)
	inc := &incident.Incident{ID: "incident-x", Alert: incident.Alert{Source: "rules", Rule: "waf"}, Status: incident.StatusOpen, Occurrences: 1}
	ref, err := c.Post(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(context.Background(), *ref, inc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "ⓘ") {
		t.Fatalf("context printed before there was any:\n%s", out.String())
	}
	inc.Enrichment = &incident.Enrichment{Owner: &incident.Owner{Team: "secops", Runbook: "https://runbooks.example.com/waf"},
		ThreatIntel: []incident.ThreatHit{{Indicator: "203.0.113.200", Source: "irflow-demo-feed", Tags: []string{"scanner"}}}}
	for range 2 {
		if err := c.Update(context.Background(), *ref, inc); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"   ⓘ owner secops https://runbooks.example.com/waf\n", "   ⓘ threat intel: 203.0.113.200 on irflow-demo-feed (scanner)\n"} {
		if strings.Count(out.String(), want) != 1 {
			t.Errorf("want %q exactly once:\n%s", want, out.String())
		}
	}
}
