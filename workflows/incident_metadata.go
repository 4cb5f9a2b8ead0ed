package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/incident"
)

// What the Temporal Web UI shows of an incident. The static summary and
// details are the start request's user metadata (internal/client.Send sets
// them); Temporal does not carry them over on continue-as-new and SDK v1.50's
// ContinueAsNewErrorOptions cannot set them, so a storm's later runs and a
// re-fire would show only an ID. Every run therefore also keeps its current
// details (workflow.SetCurrentDetails, read by the Web UI and
// `temporal workflow describe` through the __temporal_workflow_metadata query).

// IncidentSummary is the incident's one line in the Web UI's workflow list:
// "🚨 high · <title>". Temporal shows at most 400 bytes of it.
func IncidentSummary(a incident.Alert) string {
	sev := a.Severity
	if !sev.Valid() {
		sev = incident.SeverityMedium
	}
	inc := incident.Incident{Alert: a}
	return incident.Truncate(fmt.Sprintf("%s %s · %s", sev.Emoji(), sev, inc.Title()), 400)
}

// IncidentDetails is the markdown the Web UI shows on the incident's page:
// what fired, where.
func IncidentDetails(a incident.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", IncidentSummary(a))
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "- **%s**: %s\n", k, v)
		}
	}
	row("source", a.Source)
	row("rule", a.Rule)
	row("category", a.Category)
	row("env", a.Env)
	row("service", a.Service)
	for _, k := range slices.Sorted(maps.Keys(a.QueryKey)) {
		row(k, a.QueryKey[k])
	}
	if !a.Time.IsZero() {
		row("first alert", a.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if a.Summary != "" {
		fmt.Fprintf(&b, "\n%s\n", incident.Truncate(a.Summary, 2000))
	}
	return incident.Truncate(b.String(), 20000)
}

// versionCurrentDetails: every run keeps its current details (the incident's
// title, live severity and status) for the Web UI; released code set none.
const versionCurrentDetails = "current-details"

// currentDetails is the markdown of the run's current details: the live line
// first, then what fired as IncidentDetails says it.
func (w *incidentRun) currentDetails() string {
	inc := &w.Incident
	var b strings.Builder
	fmt.Fprintf(&b, "**%s %s · %s** · %s", inc.Severity.Emoji(), inc.Severity, inc.Title(), inc.Status)
	if inc.SilencedBy != "" {
		fmt.Fprintf(&b, " (silenced by %s)", inc.SilencedBy)
	}
	fmt.Fprintf(&b, "\n\n- **occurrences**: %d, last %s\n", inc.Occurrences, inc.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"))
	if inc.Previous != nil {
		fmt.Fprintf(&b, "- **re-fire of**: run %s\n", inc.Previous.RunID)
	}
	b.WriteString("\n---\n\n")
	b.WriteString(IncidentDetails(inc.Alert))
	return incident.Truncate(b.String(), 20000)
}

// showDetails refreshes the current details when they changed. It records
// nothing in history: the value lives in the worker and answers the metadata
// query.
func (w *incidentRun) showDetails(ctx workflow.Context) {
	if !w.currentDetailsOn {
		return
	}
	if d := w.currentDetails(); d != w.details {
		workflow.SetCurrentDetails(ctx, d)
		w.details = d
	}
}
