package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/irflow/irflow/incident"
)

// Checker re-runs the check behind an alert: the rule query, the alarm state.
type Checker interface {
	Check(ctx context.Context, a incident.Alert) (incident.Scan, error)
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context, a incident.Alert) (incident.Scan, error)

func (f CheckerFunc) Check(ctx context.Context, a incident.Alert) (incident.Scan, error) {
	return f(ctx, a)
}

// UnknownChecker answers "unknown" for every alert: the stand-in until a source
// has a real check. Unknown scans neither count as clean nor reset the count.
var UnknownChecker = CheckerFunc(func(_ context.Context, a incident.Alert) (incident.Scan, error) {
	return incident.Scan{State: incident.ScanUnknown, Detail: fmt.Sprintf("no re-scan check for source %q", a.Source)}, nil
})

// RescanInput is the argument of Rescan.RescanIncident.
type RescanInput struct {
	IncidentID string         `json:"incident_id"`
	Alert      incident.Alert `json:"alert"`
}

// Rescan is the re-scan activity.
type Rescan struct {
	// Checkers by alert source; Default for any other source.
	Checkers map[string]Checker
	Default  Checker
	// Hooks, when one matches the alert, run instead of the source's checker.
	Hooks *LambdaHooks
}

// RescanIncident re-runs the source check for the incident's alert.
func (r *Rescan) RescanIncident(ctx context.Context, in RescanInput) (incident.Scan, error) {
	var c Checker = r.Default
	if sc, ok := r.Checkers[in.Alert.Source]; ok {
		c = sc
	}
	if hook, ok := r.Hooks.For(in.Alert); ok {
		c = CheckerFunc(func(ctx context.Context, a incident.Alert) (incident.Scan, error) {
			return r.Hooks.Run(ctx, hook, LambdaRescanRequest{IncidentID: in.IncidentID, Alert: a})
		})
	}
	if c == nil {
		c = UnknownChecker
	}
	scan, err := c.Check(ctx, in.Alert)
	if err != nil {
		return scan, fmt.Errorf("rescan %s: %w", in.IncidentID, err)
	}
	if scan.At.IsZero() {
		scan.At = activity.GetInfo(ctx).StartedTime
	}
	return scan, nil
}
