package activities_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

func TestRuleCheckFiringThenClean(t *testing.T) {
	// 203.0.113.9 fails five logins within two minutes; 198.51.100.7 once.
	var events []rules.Event
	for i := 0; i < 5; i++ {
		events = append(events, rules.Event{"@timestamp": base.Add(time.Duration(i) * 20 * time.Second).Format(time.RFC3339Nano), "ip": "203.0.113.9", "outcome": "failure"})
	}
	events = append(events,
		rules.Event{"@timestamp": base.Add(30 * time.Second).Format(time.RFC3339Nano), "ip": "198.51.100.7", "outcome": "failure"},
		rules.Event{"@timestamp": base.Add(40 * time.Second).Format(time.RFC3339Nano), "ip": "198.51.100.7", "outcome": "success"})
	client, index := mustIndex(t, `{"@timestamp":{"type":"date"},"ip":{"type":"keyword"},"outcome":{"type":"keyword"}}`, events)
	r := mustRule(t, fmt.Sprintf(`name: login-failures
type: frequency
index: %s
num_events: 3
timeframe: {minutes: 5}
query_key: ip
filter:
- term: {outcome: failure}
`, index))
	now := base.Add(2 * time.Minute)
	check := &activities.RuleCheck{
		Search: &activities.Search{Client: client},
		Rule: func(_ context.Context, name string) (*rules.Rule, error) {
			if name != r.Name {
				return nil, fmt.Errorf("no rule %q", name)
			}
			return r, nil
		},
		Now: func() time.Time { return now },
	}
	alert := func(ip string) incident.Alert {
		return incident.Alert{Source: "rules", Rule: "login-failures", QueryKey: map[string]string{"ip": ip}}
	}
	for _, tc := range []struct {
		name  string
		at    time.Duration
		alert incident.Alert
		want  incident.ScanState
	}{
		{"above threshold", 2 * time.Minute, alert("203.0.113.9"), incident.ScanFiring},
		{"other key below threshold", 2 * time.Minute, alert("198.51.100.7"), incident.ScanClean},
		{"events aged out of the timeframe", 6 * time.Minute, alert("203.0.113.9"), incident.ScanClean},
		{"unknown rule", 2 * time.Minute, incident.Alert{Source: "rules", Rule: "gone"}, incident.ScanUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = base.Add(tc.at)
			scan, err := check.Check(context.Background(), tc.alert)
			if err != nil {
				t.Fatal(err)
			}
			if scan.State != tc.want {
				t.Errorf("scan = %+v, want %s", scan, tc.want)
			}
		})
	}
}
