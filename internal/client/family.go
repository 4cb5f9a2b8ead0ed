package client

import (
	"context"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// ChildOutcome is what happened to one child incident when its parent was
// acknowledged or resolved together with its children.
type ChildOutcome struct {
	ID       string
	Incident incident.Incident
	// Err is the child's refusal: already acknowledged or resolved (an
	// ECONFLICT people can ignore), or a real failure.
	Err error
}

// AcknowledgeWithChildren acknowledges a correlation parent, then each of
// its children. The parent's refusal stops it; a child's is reported.
func (c *Client) AcknowledgeWithChildren(ctx context.Context, id string, req workflows.AcknowledgeRequest) (incident.Incident, []ChildOutcome, error) {
	parent, err := c.Acknowledge(ctx, id, req)
	if err != nil {
		return parent, nil, err
	}
	note := "with parent " + parent.ID
	return parent, c.eachChild(ctx, parent.Children, func(child string) (incident.Incident, error) {
		return c.Acknowledge(ctx, child, workflows.AcknowledgeRequest{By: req.By, Note: note})
	}), nil
}

// ResolveWithChildren resolves a correlation parent, then each of its children.
func (c *Client) ResolveWithChildren(ctx context.Context, id string, req workflows.ResolveRequest) (incident.Incident, []ChildOutcome, error) {
	parent, err := c.Resolve(ctx, id, req)
	if err != nil {
		return parent, nil, err
	}
	note := "resolved with parent " + parent.ID
	if req.Note != "" {
		note += ": " + req.Note
	}
	return parent, c.eachChild(ctx, parent.Children, func(child string) (incident.Incident, error) {
		return c.Resolve(ctx, child, workflows.ResolveRequest{By: req.By, Note: note})
	}), nil
}

func (c *Client) eachChild(ctx context.Context, children []string, do func(string) (incident.Incident, error)) []ChildOutcome {
	out := make([]ChildOutcome, 0, len(children))
	for _, id := range children {
		inc, err := do(id)
		out = append(out, ChildOutcome{ID: id, Incident: inc, Err: err})
	}
	return out
}
