package slackapp

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

type fakeAcker struct {
	mu   sync.Mutex
	acks []string
	data []any
}

func (a *fakeAcker) Ack(req socketmode.Request, payload ...any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acks = append(a.acks, req.EnvelopeID)
	a.data = append(a.data, payload...)
	return nil
}

func TestSocketModeEvents(t *testing.T) {
	inc := newIncidents("incident-abc")
	h := MustHandler(t, inc)
	a := &fakeAcker{}
	ctx := context.Background()

	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(buttonForm("irflow_ack", "incident-abc", "U123", "alice", "").Get("payload")), &cb); err != nil {
		t.Fatal(err)
	}
	h.socketEvent(ctx, a, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb, Request: &socketmode.Request{EnvelopeID: "e1"}})
	h.Wait()
	h.socketEvent(ctx, a, socketmode.Event{Type: socketmode.EventTypeSlashCommand,
		Data:    slackapi.SlashCommand{UserID: "U1", UserName: "bob", Text: "show abc"},
		Request: &socketmode.Request{EnvelopeID: "e2"}})
	h.Wait()

	if !slices.Equal(a.acks, []string{"e1", "e2"}) {
		t.Errorf("acked %v, want e1 and e2", a.acks)
	}
	if got, want := inc.Calls(), []string{"ack incident-abc by slack:U123 (alice)"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if len(a.data) != 1 {
		t.Fatalf("ack payloads %v, want the command's reply", a.data)
	}
	reply := a.data[0].(map[string]string)
	if reply["response_type"] != "ephemeral" || !strings.Contains(reply["text"], "`incident-abc` — high, acknowledged") {
		t.Errorf("command reply %v, want an ephemeral show of the acknowledged incident", reply)
	}
}
