package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
)

// RuleSweeps holds the activities of the rule sweep workflows that talk to
// Temporal: waking a rule's sweep workflow and raising its alerts.
type RuleSweeps struct {
	Temporal client.Client
	// Send delivers one alert to its incident (SignalWithStart on
	// incident-<fingerprint>); workerapp wires it to client.Client.Send.
	Send func(ctx context.Context, a incident.Alert) error
}

// KickInput is the argument of KickRuleSweep: a SignalWithStart, spelled out
// because this package cannot import the workflow names.
type KickInput struct {
	WorkflowID   string `json:"workflow_id"`
	WorkflowType string `json:"workflow_type"`
	TaskQueue    string `json:"task_queue"`
	Signal       string `json:"signal"`
	SignalArg    any    `json:"signal_arg"`
	StartArg     any    `json:"start_arg"`
}

// KickRuleSweep signals a rule's long-running sweep workflow, starting it when
// it is not running.
func (k *RuleSweeps) KickRuleSweep(ctx context.Context, in KickInput) error {
	if k.Temporal == nil {
		return errors.New("kick rule sweep: no Temporal client")
	}
	_, err := k.Temporal.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, in.SignalArg,
		client.StartWorkflowOptions{ID: in.WorkflowID, TaskQueue: in.TaskQueue}, in.WorkflowType, in.StartArg)
	if err != nil {
		return fmt.Errorf("signal-with-start %s: %w", in.WorkflowID, err)
	}
	return nil
}

// RaiseInput is the argument of RaiseRuleAlerts: one sweep's alerts.
type RaiseInput struct {
	Alerts []incident.Alert `json:"alerts"`
}

// UnmarshalJSON also reads the bare array of alerts that released workflows
// scheduled the activity with, so their pending activities still run.
func (in *RaiseInput) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &in.Alerts)
	}
	type plain RaiseInput
	return json.Unmarshal(b, (*plain)(in))
}

// RaiseResult is what RaiseRuleAlerts returns.
type RaiseResult struct {
	// Raised counts the alerts handled, those dropped as invalid included.
	Raised int `json:"raised"`
}

// UnmarshalJSON also reads the bare count that released code returned, so
// recorded histories still replay.
func (r *RaiseResult) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		return json.Unmarshal(b, &r.Raised)
	}
	type plain RaiseResult
	return json.Unmarshal(b, (*plain)(r))
}

// RaiseRuleAlerts sends each alert to its incident. Progress is kept in the
// heartbeat, so a retry resumes after the last alert sent instead of counting
// the first ones twice.
func (k *RuleSweeps) RaiseRuleAlerts(ctx context.Context, in RaiseInput) (RaiseResult, error) {
	alerts := in.Alerts
	if k.Send == nil {
		return RaiseResult{}, errors.New("raise rule alerts: no incident sender")
	}
	done := 0
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &done)
	}
	for i := done; i < len(alerts); i++ {
		if err := alerts[i].Validate(); err != nil {
			// A rule that yields an invalid alert (say, a query_key value
			// too long) will not fix itself on retry; skip it, loudly.
			activity.GetLogger(ctx).Error("rule alert dropped", "rule", alerts[i].Rule, "error", err)
			continue
		}
		if err := k.Send(ctx, alerts[i]); err != nil {
			return RaiseResult{Raised: i}, fmt.Errorf("raise alert %d/%d of rule %s: %w", i+1, len(alerts), alerts[i].Rule, err)
		}
		activity.RecordHeartbeat(ctx, i+1)
	}
	return RaiseResult{Raised: len(alerts)}, nil
}
