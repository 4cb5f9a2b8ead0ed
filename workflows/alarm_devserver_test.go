package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// A CloudWatch alarm incident, on the real worker with cloudwatch enabled
// against moto: it stays open while the alarm fires and resolves after two
// clean DescribeAlarms re-scans once the alarm is back in OK.
func TestDevServerAlarmRescanResolves(t *testing.T) {
	ep := testenv.Moto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	sec := config.CloudWatch{Enabled: true, Region: "us-east-1", Endpoint: ep}
	sec.SetDefaults()
	cw := (&activities.CloudWatch{AWS: testenv.AWSConfig(ep), Section: sec}).Client("")
	ctx := context.Background()
	name := fmt.Sprintf("irflow-alb-5xx-%d", time.Now().UnixNano())
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String(name), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(10),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
	}); err != nil {
		t.Fatal(err)
	}
	setState := func(s cwtypes.StateValue) {
		t.Helper()
		if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: s, StateReason: aws.String("test")}); err != nil {
			t.Fatal(err)
		}
	}
	setState(cwtypes.StateValueAlarm)

	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{}
		m.Config.CloudWatch = sec
		m.Config.Incident.RescanInterval = config.Duration(time.Second)
		m.Config.Incident.CleanScansToResolve = 2
		m.Config.Incident.Escalation.Levels = nil
	})
	ic := client.New(c, "default")
	res, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: incident.Alert{Source: incident.SourceCloudWatch, Rule: name,
		ExternalID: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + name, Fields: map[string]any{"region": "us-east-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), res.WorkflowID, "", "test over") })

	var inc incident.Incident
	testenv.Eventually(t, 20*time.Second, "three firing re-scans", func() bool {
		inc, err = ic.Get(ctx, res.IncidentID)
		n := 0
		for _, e := range inc.Timeline {
			if e.Kind == incident.EntryRescan {
				n++
			}
		}
		return err == nil && n >= 3
	})
	if inc.Status != incident.StatusOpen || inc.LastScan == nil || inc.LastScan.State != incident.ScanFiring {
		t.Fatalf("while the alarm fires: status %s, last scan %+v", inc.Status, inc.LastScan)
	}
	setState(cwtypes.StateValueOk)
	var run workflows.IncidentResult
	testenv.Eventually(t, 30*time.Second, "auto-resolve after two clean scans", func() bool {
		return c.GetWorkflow(ctx, res.WorkflowID, res.RunID).Get(ctx, &run) == nil
	})
	if run.Incident.Status != incident.StatusResolved || run.Incident.ResolvedBy != incident.SystemActor || run.Incident.CleanScans != 2 {
		t.Fatalf("after OK: status %s by %q, %d clean scans", run.Incident.Status, run.Incident.ResolvedBy, run.Incident.CleanScans)
	}
}
