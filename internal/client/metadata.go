package client

import (
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// userMetadata is the start request's static summary and details, as
// temporalclient.StartWorkflowOptions StaticSummary/StaticDetails would set
// them. The workflow keeps the same text as its current details in every run
// (workflows/incident_metadata.go), since a run continued as new has none.
func userMetadata(a incident.Alert) *sdkpb.UserMetadata {
	summary, err1 := dataConverter.ToPayload(workflows.IncidentSummary(a))
	details, err2 := dataConverter.ToPayload(workflows.IncidentDetails(a))
	if err1 != nil || err2 != nil {
		return nil // strings always encode; the list shows the ID then
	}
	return &sdkpb.UserMetadata{Summary: summary, Details: details}
}
