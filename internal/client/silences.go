package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// AddSilence adds a silence and returns it with its ID. The silences
// workflow is started by the first add (update-with-start), so nothing has
// to be set up beforehand.
func (c *Client) AddSilence(ctx context.Context, req workflows.AddSilenceRequest) (incident.Silence, error) {
	updateID := newRequestID() // the same on every attempt, so a retry cannot add twice
	var s incident.Silence
	err := retryTransient(ctx, func() error {
		// An operation serves one request, so each attempt makes its own.
		start := c.Temporal.NewWithStartWorkflowOperation(temporalclient.StartWorkflowOptions{
			ID:                       workflows.SilencesWorkflowID,
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.SilencesWorkflowName, workflows.SilencesInput{})
		h, err := c.Temporal.UpdateWithStartWorkflow(ctx, temporalclient.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: temporalclient.UpdateWorkflowOptions{
				WorkflowID: workflows.SilencesWorkflowID, UpdateID: updateID, UpdateName: workflows.UpdateAddSilence,
				Args: []any{req}, WaitForStage: temporalclient.WorkflowUpdateStageCompleted,
			},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, &s)
	})
	if err != nil {
		return incident.Silence{}, c.silenceErr("", "add silence", err)
	}
	return s, nil
}

// ExpireSilence ends a silence now; the incidents it holds are told.
func (c *Client) ExpireSilence(ctx context.Context, id, by string) (incident.Silence, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return incident.Silence{}, incident.Errorf(incident.EINVALID, "silence id: required")
	}
	updateID := newRequestID()
	var s incident.Silence
	err := retryTransient(ctx, func() error {
		h, err := c.Temporal.UpdateWorkflow(ctx, temporalclient.UpdateWorkflowOptions{
			WorkflowID: workflows.SilencesWorkflowID, UpdateID: updateID, UpdateName: workflows.UpdateExpireSilence,
			Args: []any{workflows.ExpireSilenceRequest{ID: id, By: by}}, WaitForStage: temporalclient.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, &s)
	})
	if err != nil {
		return incident.Silence{}, c.silenceErr(id, "expire silence", err)
	}
	return s, nil
}

// retryTransient retries call while the silences workflow is between two
// runs or its task was refused: Temporal then fails an update that a retry
// (same update ID; the workflow answers a repeat as the first time) lands.
func retryTransient(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || attempt == 8 || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
		}
	}
}

// transient matches the update failures Temporal gives while the workflow
// continues as new ("workflow is closing") or when the task that held the
// update was refused because more signals arrived meanwhile.
func transient(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "workflow is closing") || strings.Contains(msg, "unexpected workflow task failure")
}

// Silences lists the active and pending silences and those that ended in
// the last day, newest first. Before the first add there are none.
func (c *Client) Silences(ctx context.Context) ([]incident.Silence, error) {
	resp, err := c.Temporal.QueryWorkflowWithOptions(ctx, &temporalclient.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflows.SilencesWorkflowID, QueryType: workflows.QuerySilences,
		// A closed run (terminated by hand) holds no silence anyone can expire.
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return []incident.Silence{}, nil
	case err != nil:
		return nil, c.silenceErr("", "list silences", err)
	case resp.QueryRejected != nil:
		return []incident.Silence{}, nil
	}
	list := []incident.Silence{}
	if err := resp.QueryResult.Get(&list); err != nil {
		return nil, fmt.Errorf("decode silences: %w", err)
	}
	return list, nil
}

// silenceErr turns the silences workflow's rejections and Temporal's errors
// into incident errors; id is the silence asked about, if any.
func (c *Client) silenceErr(id, what string, err error) error {
	var (
		appErr   *temporal.ApplicationError
		notFound *serviceerror.NotFound
	)
	switch {
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeNotFound:
		return incident.Errorf(incident.ENOTFOUND, "%s", appErr.Message())
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeConflict:
		return incident.Errorf(incident.ECONFLICT, "%s", appErr.Message())
	case id != "" && (errors.As(err, &notFound) || strings.Contains(err.Error(), "workflow execution already completed")):
		// No silences workflow running: nobody added a silence since it stopped.
		return incident.Errorf(incident.ENOTFOUND, "no silence %s", id)
	}
	return c.wrap(workflows.SilencesWorkflowID, what, err)
}
