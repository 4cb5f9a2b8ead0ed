package demologs

import (
	"time"

	"github.com/irflow/irflow/internal/config"
)

// MetricPoint is one CloudWatch datapoint the demo logs imply.
type MetricPoint struct {
	Namespace, Metric string
	Dimensions        map[string]string
	// Time is the start of the minute the value covers.
	Time  time.Time
	Value float64
	Unit  string
}

// The demo's AWS resources, as CloudWatch names them.
const (
	DemoWebACLName   = "irflow-demo"
	DemoRegion       = "us-east-1"
	DemoLoadBalancer = "app/irflow-demo-shop/4b1c6c7e8f0a4d55"
)

var (
	wafDims = map[string]string{"WebACL": DemoWebACLName, "Rule": "ALL", "Region": DemoRegion}
	albDims = map[string]string{"LoadBalancer": DemoLoadBalancer}
)

// DemoMetricRules are the cloudwatch.metrics `starter dev` configures: the
// WAF's blocks and counts for WAF incidents, the load balancer's 5xx and
// latency for the rest.
func DemoMetricRules() []config.MetricRule {
	return []config.MetricRule{
		{Match: config.MetricMatch{Category: "waf"}, Label: "WAF blocked requests", Namespace: "AWS/WAFV2", Metric: "BlockedRequests", Stat: "Sum", Dimensions: wafDims},
		{Match: config.MetricMatch{Category: "waf"}, Label: "WAF counted requests", Namespace: "AWS/WAFV2", Metric: "CountedRequests", Stat: "Sum", Dimensions: wafDims},
		{Match: config.MetricMatch{Category: "reliability"}, Label: "ALB target 5xx", Namespace: "AWS/ApplicationELB", Metric: "HTTPCode_Target_5XX_Count", Stat: "Sum", Dimensions: albDims},
		{Match: config.MetricMatch{Category: "reliability"}, Label: "ALB target response time (s)", Namespace: "AWS/ApplicationELB", Metric: "TargetResponseTime", Stat: "Average", Dimensions: albDims},
	}
}

// Metrics sums the demo logs of [from, to) into one point per minute and
// metric: the WAF's BLOCK and COUNT actions, the app's 5xx answers and its
// mean response time. They agree with what the feeder indexes for the same
// seed, so a demo 5xx spike shows in both the logs and the metrics.
func Metrics(seed int64, from, to time.Time, opts Options) []MetricPoint {
	type minute struct {
		blocked, counted, fiveXX, latencySum, requests float64
	}
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	byMinute := map[time.Time]*minute{}
	for d := range Generate(seed, from, to, opts) {
		m := byMinute[d.Time.Truncate(time.Minute)]
		if m == nil {
			m = &minute{}
			byMinute[d.Time.Truncate(time.Minute)] = m
		}
		switch {
		case len(d.Index) >= len(WAFIndexPrefix) && d.Index[:len(WAFIndexPrefix)] == WAFIndexPrefix:
			switch d.Source["action"] {
			case "BLOCK":
				m.blocked++
			case "COUNT":
				m.counted++
			}
		case len(d.Index) >= len(AppIndexPrefix) && d.Index[:len(AppIndexPrefix)] == AppIndexPrefix:
			st, _ := d.Source["status"].(int)
			if st == 0 {
				continue // an app log line without an HTTP answer
			}
			m.requests++
			if st >= 500 {
				m.fiveXX++
			}
			if ms, ok := d.Source["response_time_ms"].(int); ok {
				m.latencySum += float64(ms) / 1000
			}
		}
	}
	var out []MetricPoint
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		m := byMinute[t]
		if m == nil {
			m = &minute{}
		}
		out = append(out,
			MetricPoint{Namespace: "AWS/WAFV2", Metric: "BlockedRequests", Dimensions: wafDims, Time: t, Value: m.blocked, Unit: "Count"},
			MetricPoint{Namespace: "AWS/WAFV2", Metric: "CountedRequests", Dimensions: wafDims, Time: t, Value: m.counted, Unit: "Count"},
			MetricPoint{Namespace: "AWS/ApplicationELB", Metric: "HTTPCode_Target_5XX_Count", Dimensions: albDims, Time: t, Value: m.fiveXX, Unit: "Count"},
		)
		if m.requests > 0 {
			out = append(out, MetricPoint{Namespace: "AWS/ApplicationELB", Metric: "TargetResponseTime", Dimensions: albDims, Time: t, Value: m.latencySum / m.requests, Unit: "Seconds"})
		}
	}
	return out
}
