// Package workerapp is irflow's worker process: config to clients, registration,
// metrics and health, run until stopped. workers/main.go and `starter dev` both use it.
package workerapp

import (
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/irflow/irflow/activities/enrich"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Deps are the outside systems the activities use.
type Deps struct {
	Policy   incident.Policy
	Notifier activities.Notifier
	// SNS publishes escalation pages; nil when no escalation target has an sns_topic.
	SNS   *sns.Client
	Store activities.Store
	// Checkers re-scan alerts by source; Default for the rest (nil: "unknown").
	Checkers map[string]activities.Checker
	Default  activities.Checker
	// Temporal, when set, lets a re-fired incident find its previous run.
	Temporal client.Client
	// Search runs rule sweep queries (a nil Client fails sweeps, naming search.url).
	Search *activities.Search
	// RuleSweeps wakes rule sweep workflows and raises their alerts.
	RuleSweeps *activities.RuleSweeps
	// Enricher adds owner, GeoIP and threat intel; nil adds nothing.
	Enricher *enrich.Enricher
	// CloudWatch correlates metrics; nil (or no metrics) correlates nothing.
	CloudWatch *activities.CloudWatch
	// Hooks are the Lambda re-scan hooks; nil has none.
	Hooks *activities.LambdaHooks
	// Digest collects, saves and posts the daily digest; nil fails its runs.
	Digest *activities.Digest
	// Silences checks new incidents against silences and maintenance
	// windows; nil queries the silences workflow through Temporal only.
	Silences *activities.Silences
	// Correlation reports incidents to their correlator and opens burst
	// parents; nil has no rules and cannot send.
	Correlation *activities.Correlation
}

// Register registers every workflow and activity on r, once.
func Register(r worker.Registry, d Deps) {
	r.RegisterWorkflowWithOptions(workflows.IncidentWorkflow, workflow.RegisterOptions{Name: workflows.IncidentWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.IncidentArchiveWorkflow, workflow.RegisterOptions{Name: workflows.IncidentArchiveWorkflowName})
	r.RegisterActivityWithOptions((&activities.Policy{Policy: d.Policy, Temporal: d.Temporal}).IncidentPolicy,
		activity.RegisterOptions{Name: workflows.PolicyActivityName})
	r.RegisterActivity(&activities.Notify{Notifier: d.Notifier})
	r.RegisterActivity(&activities.Page{SNS: d.SNS})
	r.RegisterActivity(&activities.Rescan{Checkers: d.Checkers, Default: d.Default, Hooks: d.Hooks})
	// Context activities are registered whatever is configured: an incident
	// asks for context either way, and an empty answer is an answer.
	enricher, cw := d.Enricher, d.CloudWatch
	if enricher == nil {
		enricher = &enrich.Enricher{}
	}
	if cw == nil {
		cw = &activities.CloudWatch{}
	}
	r.RegisterActivity(enricher.Enrich)
	r.RegisterActivity(cw.Correlate)
	r.RegisterActivity(&activities.Archive{Store: d.Store})

	r.RegisterWorkflowWithOptions(workflows.RuleSweepWorkflow, workflow.RegisterOptions{Name: workflows.RuleSweepWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RuleKickWorkflow, workflow.RegisterOptions{Name: workflows.RuleKickWorkflowName})
	search := d.Search
	if search == nil {
		search = &activities.Search{}
	}
	sweeps := d.RuleSweeps
	if sweeps == nil {
		sweeps = &activities.RuleSweeps{Temporal: d.Temporal}
	}
	// Only SweepRule of Search: its exported Sweep serves RuleCheck and is no
	// activity. A method registers under its name, as the workflow calls it.
	r.RegisterActivity(search.SweepRule)
	r.RegisterActivity(sweeps)

	r.RegisterWorkflowWithOptions(workflows.DigestWorkflow, workflow.RegisterOptions{Name: workflows.DigestWorkflowName})
	digest := d.Digest
	if digest == nil {
		digest = &activities.Digest{}
	}
	// Not CollectIncidents: it returns every incident, too big a payload.
	r.RegisterActivity(digest.CollectDigest)
	r.RegisterActivity(digest.PublishDigest)

	r.RegisterWorkflowWithOptions(workflows.SilencesWorkflow, workflow.RegisterOptions{Name: workflows.SilencesWorkflowName})
	silences := d.Silences
	if silences == nil {
		silences = &activities.Silences{Temporal: d.Temporal}
	}
	r.RegisterActivity(silences.CheckSilence)

	r.RegisterWorkflowWithOptions(workflows.CorrelatorWorkflow, workflow.RegisterOptions{Name: workflows.CorrelatorWorkflowName})
	corr := d.Correlation
	if corr == nil {
		corr = &activities.Correlation{Temporal: d.Temporal}
	}
	r.RegisterActivity(corr.ReportIncident)
	r.RegisterActivity(corr.OpenParent)
}
