package slack_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// An alert from a listed attacker, through the real worker on the dev
// server: its threat-intel tags reach `incident show --json` and the Slack
// message, edited in after the announcement.
func TestKnownBadIPShowsItsTags(t *testing.T) {
	dir := t.TempDir()
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
		t.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(list); err != nil {
		t.Fatal(err)
	}
	fake := testenv.NewSlack(t)
	fake.AddChannel("#alerts")
	fake.AddChannel("#waf-alerts")
	c, ic := slackWorker(t, fake, func(m *workerapp.Main) {
		m.Config.Enrich.GeoIPDB, m.Config.Enrich.ThreatIntel = db, []string{list}
		m.Config.Incident.NotifyInterval = config.Duration(time.Second)
	})
	res, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: incident.Alert{
		Source: "rules", Rule: "waf-sqli-burst", Env: "prod", Category: "waf", Severity: incident.SeverityHigh,
		QueryKey: map[string]string{"client_ip": "203.0.113.211", "test": strconv.FormatInt(time.Now().UnixNano(), 36)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), res.WorkflowID, "", "test over") })

	var inc incident.Incident
	testenv.Eventually(t, 30*time.Second, "the incident's enrichment", func() bool {
		inc, err = ic.Get(context.Background(), res.IncidentID)
		return err == nil && inc.Enrichment != nil
	})
	shown, _ := json.Marshal(inc) // what `incident show --json` prints
	if !strings.Contains(string(shown), `"threat_intel":[{"indicator":"203.0.113.211","field":"client_ip","match":"203.0.113.192/27","tags":["scanner","sqli","bruteforce"],"source":"irflow-demo-feed"}]`) {
		t.Fatalf("incident show --json lacks the hit:\n%s", shown)
	}
	testenv.Eventually(t, 30*time.Second, "the Slack message to show the tags", func() bool {
		msgs := fake.Messages("#waf-alerts")
		return len(msgs) == 1 && strings.Contains(blocksText(msgs[0]), "is on *irflow-demo-feed* (scanner, sqli, bruteforce)")
	})
}

// blocksText is a message's Block Kit JSON, as text to search.
func blocksText(m testenv.SlackMessage) string { return string(m.Blocks) }
