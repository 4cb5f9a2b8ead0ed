package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// Metrics activities emit through the activity's metrics handler (the worker
// client's, which internal/workerapp feeds into the /metrics registry with the
// labels below; docs/metrics.md). Each counts attempts, not activities: an
// activity that fails twice and then succeeds counts two failures.
const (
	// MetricRuleSweepDuration is the duration of one SweepRule attempt, label rule.
	MetricRuleSweepDuration = "irflow_rule_sweep_duration_seconds"
	// MetricRuleSweepErrors counts failed SweepRule attempts, label rule.
	MetricRuleSweepErrors = "irflow_rule_sweep_errors_total"
	// MetricRuleSweepLag is how far the rule's covered span ends behind
	// now - query_delay after the last sweep attempt, label rule.
	MetricRuleSweepLag = "irflow_rule_sweep_lag_seconds"
	// MetricSlackAPIErrors counts Slack Web API calls that failed, labels method and error.
	MetricSlackAPIErrors = "irflow_slack_api_errors_total"
	// MetricNotifyFailures counts failed NotifyIncident attempts, label notifier.
	MetricNotifyFailures = "irflow_notify_failures_total"
	// MetricArchiveFailures counts failed ArchiveIncident attempts.
	MetricArchiveFailures = "irflow_archive_failures_total"
)

// Metric tag (label) names.
const (
	MetricTagRule     = "rule"
	MetricTagMethod   = "method"
	MetricTagError    = "error"
	MetricTagNotifier = "notifier"
)

// MetricsHandler is the activity's metrics handler, or one that drops
// everything when ctx is not an activity's (a CLI re-using the code).
func MetricsHandler(ctx context.Context) client.MetricsHandler {
	if !activity.IsActivity(ctx) {
		return client.MetricsNopHandler
	}
	return activity.GetMetricsHandler(ctx)
}
