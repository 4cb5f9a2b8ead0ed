// Package workflows holds irflow's Temporal workflows and the names other packages
// use to reach them: task queue, signals, updates, queries and search attributes.
// Code here is deterministic; all I/O happens in activities.
package workflows

import (
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// TaskQueue is the one task queue irflow's worker polls.
const TaskQueue = "irflow"

// Workflow type names, as registered and as shown in the Temporal Web UI.
const (
	IncidentWorkflowName = "IncidentWorkflow"
	// RuleSweepWorkflowName is the long-running per-rule sweep workflow
	// (ID RuleSweepWorkflowID); RuleKickWorkflowName the tiny workflow a rule's
	// Schedule starts each run_every to wake it.
	RuleSweepWorkflowName = "RuleSweepWorkflow"
	RuleKickWorkflowName  = "RuleKickWorkflow"
	// IncidentArchiveWorkflowName writes one resolved incident's record; the
	// incident run starts it as a child (ID IncidentArchiveWorkflowID).
	IncidentArchiveWorkflowName = "IncidentArchiveWorkflow"
)

// Rule sweep signal and query names.
const (
	// SignalRuleSweep carries a SweepRequest: sweep now, with this rule.
	SignalRuleSweep = "sweep"
	// QueryRuleSweep returns a RuleSweepStatus.
	QueryRuleSweep = "rule-sweep"
)

// RuleSweepWorkflowID is the workflow ID of a rule's sweep workflow.
func RuleSweepWorkflowID(rule string) string { return "rulesweep-" + rule }

// RuleKickWorkflowID is the workflow ID a rule's Schedule starts its
// RuleKickWorkflow runs with (Temporal appends each run's time).
func RuleKickWorkflowID(rule string) string { return "rulekick-" + rule }

// RuleScheduleID is the ID of a rule's Temporal Schedule.
func RuleScheduleID(rule string) string { return "rule-" + rule }

// Signals, updates and queries of the incident workflow.
const (
	// SignalOccurrence carries an Occurrence: one or more alerts with the incident's fingerprint.
	SignalOccurrence = "occurrence"
	// SignalSourceClear carries a SourceClear: the source says the condition is gone.
	SignalSourceClear = "source-clear"

	UpdateAcknowledge = "acknowledge"
	UpdateResolve     = "resolve"
	UpdateSnooze      = "snooze"
	UpdateRescan      = "rescan"

	// QueryStatus returns the incident.Incident.
	QueryStatus = "status"
)

// Search attributes the incident workflow upserts, so the Web UI and
// `starter incident list` can filter on them. All are Keyword.
var (
	SearchAttrSeverity = temporal.NewSearchAttributeKeyKeyword("IncidentSeverity")
	SearchAttrStatus   = temporal.NewSearchAttributeKeyKeyword("IncidentStatus")
	SearchAttrRule     = temporal.NewSearchAttributeKeyKeyword("IncidentRule")
	SearchAttrCategory = temporal.NewSearchAttributeKeyKeyword("IncidentCategory")
	SearchAttrEnv      = temporal.NewSearchAttributeKeyKeyword("IncidentEnv")
	// SearchAttrService is set at start only (internal/client), from the
	// alert's service: the workflow does not upsert it, so runs started
	// before it existed have none.
	SearchAttrService = temporal.NewSearchAttributeKeyKeyword("IncidentService")
)

// SearchAttributes lists every search attribute irflow needs registered.
var SearchAttributes = []temporal.SearchAttributeKeyKeyword{
	SearchAttrSeverity, SearchAttrStatus, SearchAttrRule, SearchAttrCategory, SearchAttrEnv, SearchAttrService,
}

// IncidentWorkflowID is the workflow ID of the incident with this fingerprint.
func IncidentWorkflowID(fingerprint string) string { return incident.ID(fingerprint) }

// IncidentArchiveWorkflowID is the workflow ID of the archive of one resolved
// run of an incident: one record per resolution, even across re-fires.
func IncidentArchiveWorkflowID(incidentID, runID string) string {
	return "archive-" + incidentID + "-" + runID
}

// Occurrence is the payload of SignalOccurrence. Ingress may coalesce many
// identical alerts into one signal: Count says how many, Alert is the latest.
type Occurrence struct {
	Count     int            `json:"count"`
	Alert     incident.Alert `json:"alert"`
	FirstSeen time.Time      `json:"first_seen"`
	LastSeen  time.Time      `json:"last_seen"`
}

// SourceClear is the payload of SignalSourceClear: Alertmanager "resolved",
// a CloudWatch alarm back to OK. It counts as one clean re-scan; it never
// force-resolves.
type SourceClear struct {
	Source string    `json:"source"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// AcknowledgeRequest is the argument of UpdateAcknowledge.
type AcknowledgeRequest struct {
	By   string `json:"by"`
	Note string `json:"note,omitempty"`
}

// ResolveRequest is the argument of UpdateResolve.
type ResolveRequest struct {
	By   string `json:"by"`
	Note string `json:"note,omitempty"`
}

// SnoozeRequest is the argument of UpdateSnooze. Until must be in the future.
type SnoozeRequest struct {
	By    string    `json:"by"`
	Until time.Time `json:"until"`
}

// RescanRequest is the argument of UpdateRescan.
type RescanRequest struct {
	By string `json:"by"`
}

// UpdateResult is what every incident update returns: the incident after the change.
type UpdateResult struct {
	Incident incident.Incident `json:"incident"`
}

// Signals the incident workflow takes from the noise-control workflows.
const (
	// SignalCorrelated carries a Correlation from the correlator.
	SignalCorrelated = "correlated"
	// SignalSilenceEnded carries a SilenceEnded from the silences workflow:
	// the silence holding the incident back ended early (expired, or its
	// incidents resolved).
	SignalSilenceEnded = "silence-ended"
)

// Correlation kinds.
const (
	// CorrelationPair: two incidents that together mean more (WAF blocks
	// and 5xx on one service): both are raised and each links the other.
	CorrelationPair = "pair"
	// CorrelationChild: the incident is one of a burst; ParentID is the
	// parent incident opened over it.
	CorrelationChild = "child"
	// CorrelationParent: the incident is a burst's parent; Children are
	// (more of) the incidents it groups.
	CorrelationParent = "parent"
)

// Correlation is the payload of SignalCorrelated: what the correlator found
// about an incident. The incident folds it in: it adds the links, raises
// its severity to at least Severity (unknown: unchanged) and records Reason
// in its timeline.
type Correlation struct {
	Kind     string            `json:"kind"`
	Rule     string            `json:"rule"`
	Severity incident.Severity `json:"severity,omitempty"`
	Related  []string          `json:"related,omitempty"`
	ParentID string            `json:"parent_id,omitempty"`
	Children []string          `json:"children,omitempty"`
	// Reason is the human sentence: "WAF blocks on payments within 4m".
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// SilenceEnded is the payload of SignalSilenceEnded.
type SilenceEnded struct {
	SilenceID string    `json:"silence_id"`
	At        time.Time `json:"at"`
}

// WebUIURL links to a workflow in the Temporal Web UI at base (the Slack
// message's button, the console's link), or "" without a base.
func WebUIURL(base, namespace, workflowID string) string {
	if base == "" {
		return ""
	}
	if namespace == "" {
		namespace = "default"
	}
	return strings.TrimSuffix(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
}
