package client

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/irflow/irflow/incident"
)

// Summary is the incident's one line in the Temporal Web UI's workflow list:
// "🚨 high · <title>". Temporal shows at most 400 bytes of it.
func Summary(a incident.Alert) string {
	sev := a.Severity
	if !sev.Valid() {
		sev = incident.SeverityMedium
	}
	inc := incident.Incident{Alert: a}
	return incident.Truncate(fmt.Sprintf("%s %s · %s", sev.Emoji(), sev, inc.Title()), 400)
}

// Details is the markdown the Web UI shows on the incident's page: what fired, where.
func Details(a incident.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", Summary(a))
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

// userMetadata is the start request's static summary and details, as
// temporalclient.StartWorkflowOptions StaticSummary/StaticDetails would set them.
func userMetadata(a incident.Alert) *sdkpb.UserMetadata {
	summary, err1 := dataConverter.ToPayload(Summary(a))
	details, err2 := dataConverter.ToPayload(Details(a))
	if err1 != nil || err2 != nil {
		return nil // strings always encode; the list shows the ID then
	}
	return &sdkpb.UserMetadata{Summary: summary, Details: details}
}
