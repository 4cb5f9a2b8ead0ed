package workflows_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// demoEnricher is the enrichment `make run` uses: demo GeoIP and threat list.
func (s *incidentSuite) demoEnricher() *enrich.Enricher {
	dir := s.T().TempDir()
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	s.Require().NoError(demologs.WriteGeoIP(db, demologs.DemoGeoIP()))
	s.Require().NoError(demologs.WriteThreatIntel(list))
	e, err := enrich.New(config.Enrich{GeoIPDB: db, ThreatIntel: []string{list}}, nil)
	s.Require().NoError(err)
	s.T().Cleanup(func() { e.Close() })
	return e
}

var wafAlert = incident.Alert{Source: "rules", Rule: "waf sqli burst", Env: "prod", Category: "waf", Severity: incident.SeverityHigh,
	QueryKey: map[string]string{"httpRequest.clientIp": "203.0.113.200"}}

// The announcement goes out first; the context arrives after it and is
// edited in, recorded in the timeline and carried in the incident.
func (s *incidentSuite) TestContextIsEditedInAfterTheAnnouncement() {
	s.policy.Escalation.Levels = nil
	s.env = s.NewTestWorkflowEnvironment()
	cw := &activities.CloudWatch{} // no metrics configured: an empty answer
	workerapp.Register(s.env, workerapp.Deps{Policy: s.policy, Notifier: s.notifier, Store: s.store, Default: s.scans,
		Enricher: s.demoEnricher(), CloudWatch: cw})
	pct := 1900.0
	s.env.OnActivity(cw.Correlate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CorrelateInput) (activities.CorrelateResult, error) {
		time.Sleep(50 * time.Millisecond) // the announcement does not wait for this
		return activities.CorrelateResult{Metrics: []incident.MetricSummary{{Label: "WAF blocked requests", Stat: "Sum", Window: 20, Baseline: 1, ChangePct: &pct, Anomalous: true}}}, nil
	})
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: wafAlert})
	}, 0)
	s.resolveAt(10 * time.Minute)
	s.runWith(workflows.IncidentInput{Alert: wafAlert})

	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	inc := res.Incident
	s.Require().NotNil(inc.Enrichment)
	s.Require().Len(inc.Enrichment.ThreatIntel, 1)
	s.Equal("203.0.113.192/27", inc.Enrichment.ThreatIntel[0].Match)
	s.Require().Len(inc.Enrichment.Geo, 1)
	s.Equal("NL", inc.Enrichment.Geo[0].CountryISO)
	s.Require().Len(inc.CloudWatch, 1)
	s.True(inc.CloudWatch[0].Anomalous)
	var lines []string
	for _, e := range inc.Timeline {
		if e.Kind == incident.EntryContext {
			lines = append(lines, e.Text)
		}
	}
	s.Equal([]string{
		"context: 203.0.113.200 in NL AS64510; 203.0.113.200 on irflow-demo-feed (scanner, sqli, bruteforce)",
		"CloudWatch: WAF blocked requests +1900% (anomalous)",
	}, lines)

	posts := s.notifier.Calls("Post")
	s.Require().Len(posts, 1)
	s.False(posts[0].Enriched, "the announcement went out before the context")
	edited := false
	for _, u := range s.notifier.Calls("Update") {
		edited = edited || u.Enriched && u.Metrics == 1
	}
	s.True(edited, "an edit carried the context into the message")
}

// A failed enrichment is recorded, never blocks the incident, and is asked
// for again at the next occurrence.
func (s *incidentSuite) TestContextFailureIsRecordedAndRetried() {
	s.policy.Escalation.Levels = nil
	s.env = s.NewTestWorkflowEnvironment()
	e := s.demoEnricher()
	workerapp.Register(s.env, workerapp.Deps{Policy: s.policy, Notifier: s.notifier, Store: s.store, Default: s.scans, Enricher: e})
	calls := 0
	s.env.OnActivity(e.Enrich, mock.Anything, mock.Anything).Return(func(ctx context.Context, in enrich.EnrichInput) (enrich.EnrichResult, error) {
		calls++
		if calls <= 3 { // every attempt of the first try
			return enrich.EnrichResult{}, errors.New("geoip database unreadable")
		}
		return e.Enrich(ctx, in)
	})
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: wafAlert})
	}, 0)
	var before incident.Incident
	s.env.RegisterDelayedCallback(func() { before = s.status() }, 2*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(workflows.SignalOccurrence, workflows.Occurrence{Count: 1, Alert: wafAlert})
	}, 3*time.Minute)
	s.resolveAt(10 * time.Minute)
	s.runWith(workflows.IncidentInput{Alert: wafAlert})

	s.Nil(before.Enrichment)
	s.Equal(1, len(s.notifier.Calls("Post")), "announced despite the failure")
	failed := false
	for _, e := range before.Timeline {
		failed = failed || e.Kind == incident.EntryContext && strings.Contains(e.Text, "enrichment failed (asked again at the next occurrence): geoip database unreadable")
	}
	s.True(failed, "the failure is in the timeline: %+v", before.Timeline)
	var res workflows.IncidentResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Require().NotNil(res.Incident.Enrichment, "the next occurrence asked again")
	s.Len(res.Incident.Enrichment.ThreatIntel, 1)
	s.Equal(4, calls)
}
