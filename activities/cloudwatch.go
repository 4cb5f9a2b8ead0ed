package activities

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// CloudWatch pulls the metrics configured for an alert around its time and
// summarises them, and re-scans CloudWatch alarm incidents with
// DescribeAlarms. Clients are made per region from one AWS config.
type CloudWatch struct {
	AWS     aws.Config
	Section config.CloudWatch

	mu      sync.Mutex
	clients map[string]*cloudwatch.Client
}

// Client returns the client for region ("" is the config's own).
func (c *CloudWatch) Client(region string) *cloudwatch.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients == nil {
		c.clients = map[string]*cloudwatch.Client{}
	}
	if cl, ok := c.clients[region]; ok {
		return cl
	}
	cl := cloudwatch.NewFromConfig(c.AWS, func(o *cloudwatch.Options) {
		if region != "" {
			o.Region = region
		}
		if ep := c.Section.Endpoint; ep != "" {
			// Emulators (moto, LocalStack) speak CloudWatch's classic query
			// protocol, not the CBOR one the SDK defaults to; AWS speaks both.
			o.BaseEndpoint = aws.String(ep)
			o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
		}
	})
	c.clients[region] = cl
	return cl
}

// CorrelateInput is the argument of Correlate.
type CorrelateInput struct {
	Alert incident.Alert `json:"alert"`
	// At is the alert time the window ends at.
	At time.Time `json:"at"`
}

// CorrelateResult holds one summary per configured metric the alert selects.
type CorrelateResult struct {
	Metrics []incident.MetricSummary `json:"metrics,omitempty"`
}

// Metrics returns the configured metrics the alert selects.
func (c *CloudWatch) Metrics(a incident.Alert) []config.MetricRule {
	var out []config.MetricRule
	for _, m := range c.Section.Metrics {
		mm := m.Match
		if incident.Glob(mm.Source, a.Source) && incident.Glob(mm.Rule, a.Rule) && incident.Glob(mm.Category, a.Category) &&
			incident.Glob(mm.Service, a.Service) && incident.Glob(mm.Env, a.Env) {
			out = append(out, m)
		}
	}
	return out
}

// Correlate runs one GetMetricData request for the alert's metrics over
// baseline + window ending at in.At, and summarises each.
func (c *CloudWatch) Correlate(ctx context.Context, in CorrelateInput) (CorrelateResult, error) {
	rules := c.Metrics(in.Alert)
	if len(rules) == 0 {
		return CorrelateResult{}, nil
	}
	s := c.Section
	s.SetDefaults()
	period := time.Duration(s.Period)
	end := in.At.UTC().Truncate(period).Add(period) // the period holding the alert counts
	mid := end.Add(-time.Duration(s.Window))
	start := mid.Add(-time.Duration(s.Baseline))
	req := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: cwtypes.ScanByTimestampAscending}
	for i, r := range rules {
		req.MetricDataQueries = append(req.MetricDataQueries, cwtypes.MetricDataQuery{
			Id: aws.String(fmt.Sprintf("m%d", i)),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(r.Namespace), MetricName: aws.String(r.Metric), Dimensions: dimensions(r.Dimensions)},
				Period: aws.Int32(int32(period / time.Second)),
				Stat:   aws.String(r.Stat),
			},
		})
	}
	// Keyed by Unix second: time.Time values of one instant differ by location.
	values := make([]map[int64]float64, len(rules))
	for i := range values {
		values[i] = map[int64]float64{}
	}
	p := cloudwatch.NewGetMetricDataPaginator(c.Client(""), req)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return CorrelateResult{}, fmt.Errorf("cloudwatch GetMetricData: %w", err)
		}
		for _, r := range page.MetricDataResults {
			var i int
			if _, err := fmt.Sscanf(aws.ToString(r.Id), "m%d", &i); err != nil || i >= len(values) {
				continue
			}
			for j, ts := range r.Timestamps {
				if j < len(r.Values) {
					values[i][ts.Unix()] = r.Values[j]
				}
			}
		}
	}
	var out CorrelateResult
	for i, r := range rules {
		out.Metrics = append(out.Metrics, summarize(r, values[i], start, mid, end, period))
	}
	return out, nil
}

func dimensions(m map[string]string) []cwtypes.Dimension {
	var out []cwtypes.Dimension
	for _, n := range slices.Sorted(maps.Keys(m)) {
		out = append(out, cwtypes.Dimension{Name: aws.String(n), Value: aws.String(m[n])})
	}
	return out
}

// summarize compares the window [mid, end) with the baseline [start, mid).
// A period with no datapoint counts as 0 for Sum and SampleCount (CloudWatch
// omits empty periods of counters) and is skipped for other statistics.
func summarize(r config.MetricRule, values map[int64]float64, start, mid, end time.Time, period time.Duration) incident.MetricSummary {
	zeroFill := r.Stat == "Sum" || r.Stat == "SampleCount"
	var base, win, series []float64
	for t := start; t.Before(end); t = t.Add(period) {
		v, ok := values[t.Unix()]
		if !ok && !zeroFill {
			continue
		}
		series = append(series, v)
		if t.Before(mid) {
			base = append(base, v)
		} else {
			win = append(win, v)
		}
	}
	sum := incident.MetricSummary{
		Label: r.Label, Namespace: r.Namespace, Metric: r.Metric, Stat: r.Stat,
		Baseline: mean(base), Window: mean(win), From: mid, To: end,
	}
	if sum.Label == "" {
		sum.Label = r.Namespace + " " + r.Metric
	}
	for _, d := range dimensions(r.Dimensions) {
		sum.Dimensions = append(sum.Dimensions, incident.Dimension{Name: aws.ToString(d.Name), Value: aws.ToString(d.Value)})
	}
	if len(win) > 0 {
		sum.Peak = slices.Max(win)
	}
	if sum.Baseline != 0 {
		pct := round2((sum.Window - sum.Baseline) / math.Abs(sum.Baseline) * 100)
		sum.ChangePct = &pct
	}
	med, mad := medianMAD(base)
	margin := math.Max(3*1.4826*mad, 0.5*math.Abs(med))
	sum.Anomalous = len(win) > 0 && sum.Peak > med+margin && sum.Peak > 0
	sum.Baseline, sum.Window, sum.Peak = round2(sum.Baseline), round2(sum.Window), round2(sum.Peak)
	sum.Sparkline = sparkline(series, 30)
	return sum
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func medianMAD(xs []float64) (median, mad float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	median = medianOf(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - median)
	}
	return median, medianOf(dev)
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last n values scaled between their min and max.
func sparkline(xs []float64, n int) string {
	if len(xs) > n {
		xs = xs[len(xs)-n:]
	}
	if len(xs) == 0 {
		return ""
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	var b strings.Builder
	for _, x := range xs {
		i := 0
		if hi > lo {
			i = int((x - lo) / (hi - lo) * float64(len(sparks)-1))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// CheckAlarm re-scans a CloudWatch alarm incident: the alarm (the alert's
// rule, in the region its SNS message named) back in OK is clean, ALARM is
// firing, INSUFFICIENT_DATA is unknown. It is the Checker for source
// "cloudwatch".
func (c *CloudWatch) CheckAlarm(ctx context.Context, a incident.Alert) (incident.Scan, error) {
	region, _ := a.Fields["region"].(string)
	out, err := c.Client(region).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{a.Rule},
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
	})
	if err != nil {
		return incident.Scan{}, fmt.Errorf("cloudwatch DescribeAlarms %s: %w", a.Rule, err)
	}
	var state cwtypes.StateValue
	var reason string
	switch {
	case len(out.MetricAlarms) > 0:
		state, reason = out.MetricAlarms[0].StateValue, aws.ToString(out.MetricAlarms[0].StateReason)
	case len(out.CompositeAlarms) > 0:
		state, reason = out.CompositeAlarms[0].StateValue, aws.ToString(out.CompositeAlarms[0].StateReason)
	default:
		return incident.Scan{State: incident.ScanUnknown, Detail: fmt.Sprintf("alarm %s not found in %s", a.Rule, orDefault(region, "the default region"))}, nil
	}
	detail := fmt.Sprintf("alarm %s is %s: %s", a.Rule, state, reason)
	switch state {
	case cwtypes.StateValueOk:
		return incident.Scan{State: incident.ScanClean, Detail: detail}, nil
	case cwtypes.StateValueAlarm:
		return incident.Scan{State: incident.ScanFiring, Detail: detail}, nil
	}
	return incident.Scan{State: incident.ScanUnknown, Detail: detail}, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
