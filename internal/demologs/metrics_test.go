package demologs

import (
	"slices"
	"testing"
	"time"
)

// The metrics agree with the logs: a 5xx spike scenario shows as 5xx in the
// load balancer's metric for the same minutes, and the WAF burst as blocks.
func TestMetricsFollowTheLogs(t *testing.T) {
	from := t0
	to := from.Add(30 * time.Minute)
	points := Metrics(5, from, to, Options{})
	sum := map[string]map[time.Time]float64{}
	for _, p := range points {
		if sum[p.Metric] == nil {
			sum[p.Metric] = map[time.Time]float64{}
		}
		sum[p.Metric][p.Time] += p.Value
	}
	if n := len(sum["BlockedRequests"]); n != 30 {
		t.Fatalf("%d minutes of BlockedRequests, want 30 (zeros included)", n)
	}
	var saw5xx, sawBurst bool
	for _, s := range Scenarios(5, from, to, Options{}) {
		minute := s.Start.Truncate(time.Minute)
		switch s.Kind {
		case Scenario5xxSpike:
			saw5xx = true
			if v, base := sum["HTTPCode_Target_5XX_Count"][minute], median(sum["HTTPCode_Target_5XX_Count"]); v < 10*base+50 {
				t.Errorf("5xx spike at %s: %v 5xx, a usual minute has %v", minute, v, base)
			}
		case ScenarioWAFSQLiBurst:
			sawBurst = true
			if v, base := sum["BlockedRequests"][minute], median(sum["BlockedRequests"]); v < 10*base+50 {
				t.Errorf("SQLi burst at %s: %v blocks, a usual minute has %v", minute, v, base)
			}
		}
	}
	if !saw5xx || !sawBurst {
		t.Fatalf("30 minutes held no 5xx spike (%v) or WAF burst (%v); pick another window", saw5xx, sawBurst)
	}
}

func median(m map[time.Time]float64) float64 {
	var xs []float64
	for _, v := range m {
		xs = append(xs, v)
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}
