// Package client is the client side of the incident workflow: send alerts,
// list, show, acknowledge, resolve, snooze and re-scan incidents. The operator
// CLI, HTTP ingress and Slack handlers all go through it, and it turns Temporal's
// errors into *incident.Error values people can read.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Client talks to the incident workflows of one namespace.
type Client struct {
	Temporal  temporalclient.Client
	Namespace string
	// Identity is recorded on requests, for the Temporal Web UI.
	Identity string

	closed closedRuns
}

// New returns a client for the namespace ("default" when empty).
func New(c temporalclient.Client, namespace string) *Client {
	if namespace == "" {
		namespace = "default"
	}
	return &Client{Temporal: c, Namespace: namespace, Identity: "irflow"}
}

var dataConverter = converter.GetDefaultDataConverter()

// Send delivers an occurrence to incident-<fingerprint>, starting the workflow if
// it is not running (SignalWithStart). When it returns nil the occurrence is
// durably in Temporal's history.
func (c *Client) Send(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
	if err := occ.Alert.Validate(); err != nil {
		return workflows.SendResult{}, err
	}
	if occ.Count < 1 {
		occ.Count = 1
	}
	id := workflows.IncidentWorkflowID(incident.Fingerprint(occ.Alert))
	input, err := dataConverter.ToPayloads(workflows.IncidentInput{Alert: occ.Alert})
	if err != nil {
		return workflows.SendResult{}, fmt.Errorf("encode incident input: %w", err)
	}
	signal, err := dataConverter.ToPayloads(occ)
	if err != nil {
		return workflows.SendResult{}, fmt.Errorf("encode occurrence: %w", err)
	}
	req := &workflowservice.SignalWithStartWorkflowExecutionRequest{
		Namespace:             c.Namespace,
		WorkflowId:            id,
		WorkflowType:          &commonpb.WorkflowType{Name: workflows.IncidentWorkflowName},
		TaskQueue:             &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                 input,
		SignalName:            workflows.SignalOccurrence,
		SignalInput:           signal,
		Identity:              c.Identity,
		RequestId:             newRequestID(),
		WorkflowIdReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// The workflow's own loop bounds a run; Temporal's task timeout stays default.
		SearchAttributes: startAttributes(occ.Alert),
		// The Web UI's workflow list shows the summary instead of only the ID.
		UserMetadata: userMetadata(occ.Alert),
	}
	var resp *workflowservice.SignalWithStartWorkflowExecutionResponse
	for attempt := 0; ; attempt++ {
		// The raw call, unlike temporalclient.SignalWithStartWorkflow, says whether it started a run.
		resp, err = c.Temporal.WorkflowService().SignalWithStartWorkflowExecution(ctx, req)
		if withoutService(req, err) {
			continue
		}
		// A run that is continuing as new refuses signals for a moment; the next run takes them.
		if err == nil || attempt == 8 || !strings.Contains(err.Error(), "workflow is closing") {
			break
		}
		select {
		case <-ctx.Done():
			return workflows.SendResult{}, c.wrap(id, "send alert", ctx.Err())
		case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		return workflows.SendResult{}, c.wrap(id, "send alert", err)
	}
	return workflows.SendResult{IncidentID: id, WorkflowID: id, RunID: resp.GetRunId(), New: resp.GetStarted()}, nil
}

// startAttributes sets the search attributes at start, so a new incident is
// listable before its first workflow task runs.
func startAttributes(a incident.Alert) *commonpb.SearchAttributes {
	sev := a.Severity
	if !sev.Valid() {
		sev = incident.SeverityMedium
	}
	fields := map[string]string{
		workflows.SearchAttrStatus.GetName():   string(incident.StatusOpen),
		workflows.SearchAttrSeverity.GetName(): sev.String(),
		workflows.SearchAttrRule.GetName():     a.Rule,
	}
	if a.Category != "" {
		fields[workflows.SearchAttrCategory.GetName()] = a.Category
	}
	if a.Env != "" {
		fields[workflows.SearchAttrEnv.GetName()] = a.Env
	}
	if a.Service != "" {
		fields[workflows.SearchAttrService.GetName()] = a.Service
	}
	out := &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
	for k, v := range fields {
		p, err := dataConverter.ToPayload(v)
		if err != nil {
			continue
		}
		p.Metadata["type"] = []byte("Keyword")
		out.IndexedFields[k] = p
	}
	return out
}

// withoutService drops IncidentService from req when the cluster refused it
// as unregistered, so a cluster not yet told about the newest search
// attribute still takes alerts (the console's service filter then finds
// nothing). It reports whether req changed and is worth sending again.
func withoutService(req *workflowservice.SignalWithStartWorkflowExecutionRequest, err error) bool {
	var invalid *serviceerror.InvalidArgument
	name := workflows.SearchAttrService.GetName()
	fields := req.GetSearchAttributes().GetIndexedFields()
	if !errors.As(err, &invalid) || !strings.Contains(invalid.Message, name) || fields[name] == nil {
		return false
	}
	delete(fields, name)
	return true
}

// Clear tells a running incident that its source says the condition is gone.
func (c *Client) Clear(ctx context.Context, fingerprint string, sc workflows.SourceClear) error {
	id := workflows.IncidentWorkflowID(fingerprint)
	if err := c.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalSourceClear, sc); err != nil {
		return c.wrap(id, "clear", err)
	}
	return nil
}

// Get returns the current state of an incident (its latest run).
func (c *Client) Get(ctx context.Context, id string) (incident.Incident, error) {
	id, err := incident.NormalizeID(id)
	if err != nil {
		return incident.Incident{}, err
	}
	v, err := c.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return incident.Incident{}, c.wrap(id, "query", err)
	}
	var inc incident.Incident
	if err := v.Get(&inc); err != nil {
		return inc, fmt.Errorf("decode %s status: %w", id, err)
	}
	return inc, nil
}

// List returns incidents from visibility, newest first. Continued runs of one
// incident are folded into its latest run.
func (c *Client) List(ctx context.Context, f workflows.ListFilter) ([]workflows.Summary, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []workflows.Summary
	seen := map[string]bool{}
	var token []byte
	for len(out) < limit {
		resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, PageSize: int32(min(limit, 1000)), NextPageToken: token, Query: f.Query(),
		})
		if err != nil {
			return nil, c.wrap("", "list incidents", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			running := e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			if seen[id] && !running {
				continue
			}
			seen[id] = true
			s := summaryOf(e)
			out = append(out, s)
			if len(out) == limit {
				break
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
	return out, nil
}

// Acknowledge acknowledges an incident. A second acknowledge is an ECONFLICT error
// that says who acknowledged first, and when.
func (c *Client) Acknowledge(ctx context.Context, id string, req workflows.AcknowledgeRequest) (incident.Incident, error) {
	return c.update(ctx, id, workflows.UpdateAcknowledge, req)
}

// Resolve resolves an incident; it archives and closes.
func (c *Client) Resolve(ctx context.Context, id string, req workflows.ResolveRequest) (incident.Incident, error) {
	return c.update(ctx, id, workflows.UpdateResolve, req)
}

// Snooze holds escalation until req.Until.
func (c *Client) Snooze(ctx context.Context, id string, req workflows.SnoozeRequest) (incident.Incident, error) {
	return c.update(ctx, id, workflows.UpdateSnooze, req)
}

// Rescan runs the incident's source check now and returns the incident after it.
func (c *Client) Rescan(ctx context.Context, id string, req workflows.RescanRequest) (incident.Incident, error) {
	return c.update(ctx, id, workflows.UpdateRescan, req)
}

func (c *Client) update(ctx context.Context, id, name string, arg any) (incident.Incident, error) {
	id, err := incident.NormalizeID(id)
	if err != nil {
		return incident.Incident{}, err
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, temporalclient.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: temporalclient.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return incident.Incident{}, c.wrap(id, name, err)
	}
	var res workflows.UpdateResult
	if err := h.Get(ctx, &res); err != nil {
		return incident.Incident{}, c.wrap(id, name, err)
	}
	return res.Incident, nil
}

// Ready returns nil when Temporal answers.
func (c *Client) Ready(ctx context.Context) error {
	if _, err := c.Temporal.CheckHealth(ctx, &temporalclient.CheckHealthRequest{}); err != nil {
		return incident.Errorf(incident.EUNAVAILABLE, "temporal unreachable: %v", err)
	}
	return nil
}

// wrap turns Temporal's errors into incident errors with a message for people.
func (c *Client) wrap(id, what string, err error) error {
	var (
		appErr      *temporal.ApplicationError
		notFound    *serviceerror.NotFound
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		invalidArg  *serviceerror.InvalidArgument
	)
	switch {
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeConflict:
		return incident.Errorf(incident.ECONFLICT, "%s: %s", id, appErr.Message())
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeInvalid:
		return incident.Errorf(incident.EINVALID, "%s", appErr.Message())
	case strings.Contains(err.Error(), "workflow execution already completed"):
		return incident.Errorf(incident.ECONFLICT, "%s is closed (resolved); see `starter incident show %s`", id, id)
	case errors.As(err, &notFound):
		if id == "" {
			return incident.Errorf(incident.ENOTFOUND, "not found: %s", notFound.Message)
		}
		return incident.Errorf(incident.ENOTFOUND, "no incident %s", id)
	case errors.As(err, &unavailable), errors.As(err, &deadline), errors.Is(err, context.DeadlineExceeded):
		return incident.Errorf(incident.EUNAVAILABLE, "temporal unavailable: %s failed: %v", what, err)
	case errors.As(err, &invalidArg):
		return incident.Errorf(incident.EINVALID, "%s: %s", what, invalidArg.Message)
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ListIncidents returns the full state of up to f.Limit (at most 20) incidents,
// newest first: List, then Get for each. For the Slack slash command.
func (c *Client) ListIncidents(ctx context.Context, f workflows.ListFilter) ([]incident.Incident, error) {
	if f.Limit <= 0 || f.Limit > 20 {
		f.Limit = 20
	}
	rows, err := c.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]incident.Incident, 0, len(rows))
	for _, r := range rows {
		inc, err := c.Get(ctx, r.ID)
		if err != nil {
			continue // closed between list and get; the list is a snapshot anyway
		}
		out = append(out, inc)
	}
	return out, nil
}
