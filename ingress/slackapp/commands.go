package slackapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Usage is the /irflow help text.
const Usage = "Usage: `/irflow list [open|acknowledged|snoozed|resolved]`, `/irflow show ID`, " +
	"`/irflow ack ID [note]`, `/irflow resolve ID [note]`"

// command is one /irflow invocation.
type command struct {
	user, userName, text, responseURL string
}

// commands answers within Slack's 3 s: when the work is not done by then, it
// says so and posts the answer to response_url when it is.
func (h *Handler) commands(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verify(w, r)
	if !ok {
		return
	}
	cmd := command{
		user: form.Get("user_id"), userName: form.Get("user_name"),
		text: strings.TrimSpace(form.Get("text")), responseURL: form.Get("response_url"),
	}
	if cmd.user == "" {
		http.Error(w, "missing user_id", http.StatusBadRequest)
		return
	}
	writeEphemeral(w, h.answer(cmd))
}

// answer runs cmd and returns the reply if it is ready within the budget;
// otherwise it returns a holding reply and posts the real one to response_url.
func (h *Handler) answer(cmd command) string {
	done := make(chan string, 1)
	h.background(func(ctx context.Context) { done <- h.run(ctx, cmd) })
	timer := time.NewTimer(commandBudget)
	defer timer.Stop()
	select {
	case text := <-done:
		return text
	case <-timer.C:
		h.background(func(ctx context.Context) { h.ephemeral(ctx, cmd.responseURL, <-done) })
		return "⏳ Working on it…"
	}
}

func writeEphemeral(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"response_type": "ephemeral", "text": text})
}

func (h *Handler) run(ctx context.Context, cmd command) string {
	args := strings.Fields(cmd.text)
	if len(args) == 0 || args[0] == "help" {
		return Usage
	}
	by := Actor(cmd.user, cmd.userName)
	sub, args := strings.ToLower(args[0]), args[1:]
	if sub == "list" {
		f := workflows.ListFilter{Limit: listLimit}
		if len(args) > 0 {
			st, err := incident.ParseStatus(args[0])
			if err != nil {
				return upperFirst(err.Error())
			}
			f.Status = st
		}
		incs, err := h.inc.ListIncidents(ctx, f)
		if err != nil {
			return failure("list", "incidents", err)
		}
		return listText(incs)
	}
	if sub != "show" && sub != "ack" && sub != "acknowledge" && sub != "resolve" {
		return fmt.Sprintf("Unknown command %q. %s", sub, Usage)
	}
	if len(args) == 0 {
		return "Which incident? " + Usage
	}
	id, err := incident.NormalizeID(args[0])
	if err != nil {
		return upperFirst(incident.ErrorMessage(err))
	}
	note := strings.Join(args[1:], " ")
	var inc incident.Incident
	switch sub {
	case "show":
		if inc, err = h.inc.Get(ctx, id); err != nil {
			return failure("show", id, err)
		}
		return showText(&inc)
	case "ack", "acknowledge":
		if inc, err = h.inc.Acknowledge(ctx, id, workflows.AcknowledgeRequest{By: by, Note: note}); err != nil {
			return failure("acknowledge", id, err)
		}
		return fmt.Sprintf("✅ Acknowledged %s: %s", inc.ID, inc.Title())
	default:
		if !h.allowed(ctx, cmd.user) {
			return "Sorry, you are not allowed to resolve incidents. Ask someone on the incident team."
		}
		if inc, err = h.inc.Resolve(ctx, id, workflows.ResolveRequest{By: by, Note: note}); err != nil {
			return failure("resolve", id, err)
		}
		return fmt.Sprintf("✔️ Resolved %s: %s", inc.ID, inc.Title())
	}
}

func listText(incs []incident.Incident) string {
	if len(incs) == 0 {
		return "No incidents."
	}
	var b strings.Builder
	for _, inc := range incs {
		fmt.Fprintf(&b, "%s `%s` %s — %s, %d×\n", inc.Severity.Emoji(), inc.ID, inc.Title(), inc.Status, max(inc.Occurrences, 1))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func showText(inc *incident.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s*\n`%s` — %s, %s, %d occurrence(s)\n", inc.Severity.Emoji(), inc.Title(), inc.ID,
		inc.Severity, inc.Status, max(inc.Occurrences, 1))
	fmt.Fprintf(&b, "Rule %s, source %s", inc.Alert.Rule, inc.Alert.Source)
	if inc.Alert.Env != "" {
		fmt.Fprintf(&b, ", env %s", inc.Alert.Env)
	}
	if !inc.OpenedAt.IsZero() {
		fmt.Fprintf(&b, "\nOpened %s", inc.OpenedAt.UTC().Format(time.RFC3339))
	}
	if inc.AcknowledgedBy != "" {
		fmt.Fprintf(&b, "\nAcknowledged by %s at %s", inc.AcknowledgedBy, inc.AcknowledgedAt.UTC().Format(time.RFC3339))
	}
	if inc.ResolvedBy != "" {
		fmt.Fprintf(&b, "\nResolved by %s at %s", inc.ResolvedBy, inc.ResolvedAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}
