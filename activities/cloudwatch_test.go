package activities_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
)

func motoCloudWatch(t *testing.T, metrics ...config.MetricRule) (*activities.CloudWatch, *cloudwatch.Client) {
	t.Helper()
	ep := testenv.Moto(t)
	sec := config.CloudWatch{Enabled: true, Endpoint: ep, Metrics: metrics}
	sec.SetDefaults()
	cw := &activities.CloudWatch{AWS: testenv.AWSConfig(ep), Section: sec}
	return cw, cw.Client("")
}

// The WAF spike the demo's SQLi burst causes: a quiet hour of blocks, then
// a burst in the window. The summary says how much, and that it is anomalous.
func TestCorrelateSummarisesMetricsAroundTheAlert(t *testing.T) {
	acl := fmt.Sprintf("shop-acl-%d", time.Now().UnixNano()) // moto is shared by the test binary
	waf := config.MetricRule{Match: config.MetricMatch{Category: "waf"}, Label: "WAF blocked", Namespace: "AWS/WAFV2",
		Metric: "BlockedRequests", Stat: "Sum", Dimensions: map[string]string{"WebACL": acl, "Rule": "ALL", "Region": "us-east-1"}}
	alb := config.MetricRule{Match: config.MetricMatch{Category: "5xx"}, Namespace: "AWS/ApplicationELB", Metric: "HTTPCode_Target_5XX_Count", Stat: "Sum"}
	cw, raw := motoCloudWatch(t, waf, alb)
	at := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	var data []cwtypes.MetricDatum
	put := func(minutesBefore int, v float64) {
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String("BlockedRequests"), Value: aws.Float64(v),
			Timestamp: aws.Time(at.Add(-time.Duration(minutesBefore) * time.Minute)), Unit: cwtypes.StandardUnitCount,
			Dimensions: []cwtypes.Dimension{{Name: aws.String("Region"), Value: aws.String("us-east-1")},
				{Name: aws.String("Rule"), Value: aws.String("ALL")}, {Name: aws.String("WebACL"), Value: aws.String(acl)}}})
	}
	for m := 16; m < 75; m += 2 { // baseline: 2 blocks every other minute
		put(m, 2)
	}
	for m := 0; m < 5; m++ { // window: the burst
		put(m, 60)
	}
	for i := 0; i < len(data); i += 20 {
		_, err := raw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/WAFV2"), MetricData: data[i:min(i+20, len(data))]})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := cw.Correlate(context.Background(), activities.CorrelateInput{
		// In local time, as workflow.Now gives it: the same instant must find the same points.
		Alert: incident.Alert{Source: "rules", Rule: "waf sqli burst", Category: "waf"}, At: at.Local(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Metrics) != 1 {
		t.Fatalf("metrics = %+v, want only the WAF one (the ALB rule matches category 5xx)", res.Metrics)
	}
	m := res.Metrics[0]
	// Window: 15 one-minute periods ending with the alert's, 5 of them at 60.
	// Baseline: 60 periods, 30 of them at 2 (the rest empty: a counter's 0).
	if m.Label != "WAF blocked" || m.Window != 20 || m.Peak != 60 || m.Baseline != 1 || m.ChangePct == nil || *m.ChangePct != 1900 || !m.Anomalous {
		t.Fatalf("summary = %+v (change %v)", m, m.ChangePct)
	}
	if len([]rune(m.Sparkline)) != 30 || !strings.HasSuffix(m.Sparkline, "▁█████") {
		t.Errorf("sparkline %q", m.Sparkline)
	}
	if len(m.Dimensions) != 3 || m.Dimensions[2] != (incident.Dimension{Name: "WebACL", Value: acl}) {
		t.Errorf("dimensions = %+v", m.Dimensions)
	}

	// A steady metric is not anomalous.
	data = nil
	steady := fmt.Sprintf("steady-acl-%d", time.Now().UnixNano())
	for m := 0; m < 75; m++ {
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String("BlockedRequests"), Value: aws.Float64(float64(10 + m%3)),
			Timestamp: aws.Time(at.Add(-time.Duration(m) * time.Minute)), Dimensions: []cwtypes.Dimension{{Name: aws.String("WebACL"), Value: aws.String(steady)}}})
	}
	for i := 0; i < len(data); i += 20 {
		if _, err := raw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/WAFV2"), MetricData: data[i:min(i+20, len(data))]}); err != nil {
			t.Fatal(err)
		}
	}
	cw.Section.Metrics = []config.MetricRule{{Namespace: "AWS/WAFV2", Metric: "BlockedRequests", Stat: "Sum", Dimensions: map[string]string{"WebACL": steady}}}
	res, err = cw.Correlate(context.Background(), activities.CorrelateInput{Alert: incident.Alert{Source: "x", Rule: "y"}, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Metrics[0]; m.Anomalous || m.Peak != 12 || m.Label != "AWS/WAFV2 BlockedRequests" {
		t.Fatalf("steady metric = %+v", m)
	}
}

// Alarm incidents re-scan with DescribeAlarms: OK is clean, ALARM firing.
func TestCheckAlarmReadsTheAlarmState(t *testing.T) {
	cw, raw := motoCloudWatch(t)
	ctx := context.Background()
	name := fmt.Sprintf("alb-5xx-%d", time.Now().UnixNano())
	_, err := raw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(10),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := incident.Alert{Source: "cloudwatch", Rule: name, Fields: map[string]any{"region": "us-east-1"}}
	for _, tc := range []struct {
		state cwtypes.StateValue
		want  incident.ScanState
	}{{cwtypes.StateValueAlarm, incident.ScanFiring}, {cwtypes.StateValueOk, incident.ScanClean}, {cwtypes.StateValueInsufficientData, incident.ScanUnknown}} {
		if _, err := raw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: tc.state, StateReason: aws.String("test says " + string(tc.state))}); err != nil {
			t.Fatal(err)
		}
		scan, err := cw.CheckAlarm(ctx, a)
		if err != nil || scan.State != tc.want || scan.Detail != fmt.Sprintf("alarm %s is %s: test says %s", name, tc.state, tc.state) {
			t.Errorf("%s: scan = %+v, %v; want %s", tc.state, scan, err, tc.want)
		}
	}
	scan, err := cw.CheckAlarm(ctx, incident.Alert{Source: "cloudwatch", Rule: "no-such-alarm"})
	if err != nil || scan.State != incident.ScanUnknown {
		t.Fatalf("missing alarm: %+v, %v", scan, err)
	}
}
