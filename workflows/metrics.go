package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
)

// Metrics the incident workflow emits. They go through
// workflow.GetMetricsHandler, which drops them while a task replays, so a
// worker restart or a sticky-cache eviction never counts an incident twice, and
// adds no command to history. internal/workerapp turns these names into
// Prometheus metrics with the labels below (docs/metrics.md).
const (
	// MetricIncidentsOpened counts incidents opened (a re-fire opens a new
	// one), labels severity and category.
	MetricIncidentsOpened = "irflow_incidents_opened_total"
	// MetricIncidentsResolved counts resolutions, label how (ResolvedAuto,
	// ResolvedOperator).
	MetricIncidentsResolved = "irflow_incidents_resolved_total"
	// MetricAlertToNotify is the time from the alert's first occurrence to the
	// incident's announcement.
	MetricAlertToNotify = "irflow_alert_to_notify_seconds"
	// MetricMTTA is the time from opening to the first acknowledgement.
	MetricMTTA = "irflow_mtta_seconds"
	// MetricMTTR is the time from opening to resolution.
	MetricMTTR = "irflow_mttr_seconds"
)

// Values of the how label of MetricIncidentsResolved. An acknowledgement does
// not resolve an incident, so there is no "ack": MetricMTTA measures acks.
const (
	// ResolvedAuto: irflow resolved it (clean re-scans, source clears).
	ResolvedAuto = "auto"
	// ResolvedOperator: a person resolved it (Slack, CLI, a parent's Resolve all).
	ResolvedOperator = "operator"
)

// Metric tag (label) names.
const (
	MetricTagSeverity = "severity"
	MetricTagCategory = "category"
	MetricTagHow      = "how"
)

// category is the label value of an alert's category; "none" when it has none.
func category(a incident.Alert) string {
	if a.Category == "" {
		return "none"
	}
	return a.Category
}

func (w *incidentRun) countOpened(ctx workflow.Context) {
	inc := &w.Incident
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		MetricTagSeverity: inc.Severity.String(), MetricTagCategory: category(inc.Alert),
	}).Counter(MetricIncidentsOpened).Inc(1)
}

func (w *incidentRun) countResolved(ctx workflow.Context, by string) {
	how := ResolvedOperator
	if by == incident.SystemActor {
		how = ResolvedAuto
	}
	h := workflow.GetMetricsHandler(ctx)
	h.WithTags(map[string]string{MetricTagHow: how}).Counter(MetricIncidentsResolved).Inc(1)
	h.Timer(MetricMTTR).Record(nonNegative(w.Incident.ResolvedAt.Sub(w.Incident.OpenedAt)))
}

func (w *incidentRun) observeAck(ctx workflow.Context) {
	inc := &w.Incident
	workflow.GetMetricsHandler(ctx).Timer(MetricMTTA).Record(nonNegative(inc.AcknowledgedAt.Sub(inc.OpenedAt)))
}

func (w *incidentRun) observeAnnounced(ctx workflow.Context, at time.Time) {
	workflow.GetMetricsHandler(ctx).Timer(MetricAlertToNotify).Record(nonNegative(at.Sub(w.Incident.FirstSeen)))
}

func nonNegative(d time.Duration) time.Duration { return max(d, 0) }
