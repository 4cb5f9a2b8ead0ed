package slackapp

import (
	"context"
	"errors"
	"strings"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// acker acknowledges Socket Mode requests; *socketmode.Client is one.
type acker interface {
	Ack(req socketmode.Request, payload ...any) error
}

// RunSocketMode serves the same button presses and /irflow commands over a
// Socket Mode connection (no public URL needed) until ctx ends. The client
// needs an app-level token (xapp-, scope connections:write); Slack
// authenticates the connection, so requests carry no signature to check.
func (h *Handler) RunSocketMode(ctx context.Context, client *socketmode.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case evt, ok := <-client.Events:
			if !ok {
				return <-errc
			}
			h.socketEvent(ctx, client, evt)
		}
	}
}

// socketEvent acknowledges evt (within Slack's 3 s) and does its work.
func (h *Handler) socketEvent(ctx context.Context, a acker, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackapi.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		h.ack(ctx, a, evt.Request)
		h.interaction(cb)
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slackapi.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		text := h.answer(command{user: sc.UserID, userName: sc.UserName, text: strings.TrimSpace(sc.Text), responseURL: sc.ResponseURL})
		h.ack(ctx, a, evt.Request, map[string]string{"response_type": "ephemeral", "text": text})
	case socketmode.EventTypeInvalidAuth:
		h.log.ErrorContext(ctx, "Socket Mode: invalid app-level token")
	case socketmode.EventTypeConnected:
		h.log.InfoContext(ctx, "Socket Mode connected")
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			h.ack(ctx, a, evt.Request) // irflow subscribes to no events; ack so Slack does not retry
		}
	}
}

func (h *Handler) ack(ctx context.Context, a acker, req *socketmode.Request, payload ...any) {
	if err := a.Ack(*req, payload...); err != nil {
		h.log.WarnContext(ctx, "Socket Mode ack failed", "envelope", req.EnvelopeID, "err", err)
	}
}
