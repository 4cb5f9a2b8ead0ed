package activities_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/testenv"
)

var raiseAlerts = []incident.Alert{
	{Source: "rules", Rule: "burst", Title: "burst 10.0.0.1", Severity: incident.SeverityHigh, QueryKey: map[string]string{"ip": "10.0.0.1"}},
	{Source: "rules", Rule: "burst", Title: "burst 10.0.0.2", Severity: incident.SeverityHigh, QueryKey: map[string]string{"ip": "10.0.0.2"}},
}

// Released workflows scheduled RaiseRuleAlerts with a bare array of alerts and
// recorded a bare count as its result; both must still decode.
func TestRaiseShapesReadReleasedPayloads(t *testing.T) {
	legacyIn, err := json.Marshal(raiseAlerts)
	if err != nil {
		t.Fatal(err)
	}
	currentIn, err := json.Marshal(activities.RaiseInput{Alerts: raiseAlerts})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data string
		want []incident.Alert
	}{
		{"released array", string(legacyIn), raiseAlerts},
		{"released array, spaced", " \n" + string(legacyIn), raiseAlerts},
		{"released empty array", `[]`, []incident.Alert{}},
		{"object", string(currentIn), raiseAlerts},
		{"object without alerts", `{}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in activities.RaiseInput
			if err := json.Unmarshal([]byte(tc.data), &in); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in.Alerts, tc.want) {
				t.Errorf("alerts = %+v, want %+v", in.Alerts, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		data string
		want int
	}{
		{`2`, 2}, {` 7`, 7}, {`0`, 0}, {`{"raised":3}`, 3}, {`{}`, 0},
	} {
		var res activities.RaiseResult
		if err := json.Unmarshal([]byte(tc.data), &res); err != nil {
			t.Fatalf("%s: %v", tc.data, err)
		}
		if res.Raised != tc.want {
			t.Errorf("%s: raised %d, want %d", tc.data, res.Raised, tc.want)
		}
	}
	for _, bad := range []string{`"x"`, `[1]`, `[{"source":1}]`} {
		var in activities.RaiseInput
		if err := json.Unmarshal([]byte(bad), &in); err == nil {
			t.Errorf("RaiseInput from %s: no error", bad)
		}
	}
	for _, bad := range []string{`"2"`, `[2]`, `{"raised":"x"}`, `2.5`} {
		var res activities.RaiseResult
		if err := json.Unmarshal([]byte(bad), &res); err == nil {
			t.Errorf("RaiseResult from %s: no error", bad)
		}
	}
}

// The same through Temporal's data converter, which is what reads history.
func TestRaiseResultFromReleasedHistoryPayload(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	p, err := dc.ToPayload(2) // what the released activity returned
	if err != nil {
		t.Fatal(err)
	}
	var res activities.RaiseResult
	if err := dc.FromPayload(p, &res); err != nil {
		t.Fatal(err)
	}
	if res.Raised != 2 {
		t.Errorf("raised %d, want 2", res.Raised)
	}
}

// An activity a released workflow scheduled with a bare array still runs.
func TestRaiseRuleAlertsTakesReleasedInput(t *testing.T) {
	for _, arg := range []any{raiseAlerts, activities.RaiseInput{Alerts: raiseAlerts}} {
		var mu sync.Mutex
		var sent []incident.Alert
		k := &activities.RuleSweeps{Send: func(_ context.Context, a incident.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, a)
			return nil
		}}
		var s testsuite.WorkflowTestSuite
		s.SetLogger(testenv.QuietLogger())
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(k)
		// By name, as a released workflow scheduled it: a method value
		// would make the SDK check the argument's Go type first.
		v, err := env.ExecuteActivity("RaiseRuleAlerts", arg)
		if err != nil {
			t.Fatalf("%T: %v", arg, err)
		}
		var res activities.RaiseResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		if res.Raised != 2 || len(sent) != 2 || sent[1].QueryKey["ip"] != "10.0.0.2" {
			t.Errorf("%T: raised %d, sent %+v", arg, res.Raised, sent)
		}
	}
}
