package console

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/workflows"
)

// maxFieldsJSON caps the alert and sample fields shown, so one incident
// with a large payload keeps the page small (the archive has them all).
const maxFieldsJSON = 16 << 10

type incidentBody struct {
	Inc         incident.Incident
	Title       string
	Href        string
	Live        string
	Flash       string
	FlashErr    bool
	AlertJSON   string
	SampleJSON  string
	MTTA, MTTR  string
	SlackURL    string
	TemporalURL string
	Links       []relation
	Closed      bool
}

type relation struct{ Kind, ID, Href string }

func (h *Handler) incidentData(r *http.Request) (incidentBody, error) {
	id, err := incident.NormalizeID(r.PathValue("id"))
	if err != nil {
		return incidentBody{}, err
	}
	inc, err := h.inc.Get(r.Context(), id)
	if err != nil {
		return incidentBody{}, err
	}
	b := incidentBody{
		Inc: inc, Title: inc.Title(), Href: IncidentHref(inc.ID), Live: IncidentHref(inc.ID) + "/live",
		AlertJSON: fieldsJSON(inc.Alert.Fields), Closed: inc.Status == incident.StatusResolved,
		SlackURL: slackURL(inc.Message), TemporalURL: workflows.WebUIURL(h.cfg.TemporalUIURL, h.cfg.Namespace, inc.ID),
	}
	if inc.Sample != nil {
		b.SampleJSON = fieldsJSON(inc.Sample.Fields)
	}
	if d, ok := inc.MTTA(); ok {
		b.MTTA = d.Round(time.Second).String()
	}
	if d, ok := inc.MTTR(); ok {
		b.MTTR = d.Round(time.Second).String()
	}
	if inc.ParentID != "" {
		b.Links = append(b.Links, relation{"parent", inc.ParentID, IncidentHref(inc.ParentID)})
	}
	for _, c := range inc.Children {
		b.Links = append(b.Links, relation{"child", c, IncidentHref(c)})
	}
	for _, c := range inc.Related {
		b.Links = append(b.Links, relation{"related", c, IncidentHref(c)})
	}
	return b, nil
}

func fieldsJSON(fields map[string]any) string {
	if len(fields) == 0 {
		return ""
	}
	out, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return fmt.Sprintf("(fields not shown: %v)", err)
	}
	if len(out) > maxFieldsJSON {
		return string(out[:maxFieldsJSON]) + "\n… (cut; the archived record has every field)"
	}
	return string(out)
}

// slackURL is the announcement's permalink: Slack resolves
// /archives/<channel>/p<ts without the dot> for a channel ID.
func slackURL(m *incident.MessageRef) string {
	if m == nil || m.Notifier != "slack" || m.Channel == "" || m.ID == "" {
		return ""
	}
	return "https://slack.com/archives/" + url.PathEscape(m.Channel) + "/p" + strings.ReplaceAll(m.ID, ".", "")
}

func (h *Handler) incidentPage(w http.ResponseWriter, r *http.Request) {
	b, err := h.incidentData(r)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	b.Flash, b.FlashErr = takeFlash(w, r)
	h.render(w, http.StatusOK, "incident.html", h.newPage(r, b.Title, "", b))
}

// incidentFragment is what the incident page polls: status, details, timeline.
func (h *Handler) incidentFragment(w http.ResponseWriter, r *http.Request) {
	b, err := h.incidentData(r)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "incident-live", h.newPage(r, "", "", b))
}

// act runs a button: the answer goes back to the incident page as a
// flash, in the CLI's words (a second acknowledge is told who was first).
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	id, err := incident.NormalizeID(r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	who := identity(r)
	by := who.Actor()
	action := r.PathValue("action")
	ctx := r.Context()
	switch action {
	case workflows.UpdateAcknowledge, workflows.UpdateRescan:
	case workflows.UpdateResolve, workflows.UpdateSnooze:
		ok, err := h.auth.MayResolve(ctx, who)
		if err != nil {
			h.log.Error("console: may resolve", "actor", by, "error", err)
			h.fail(w, r, http.StatusServiceUnavailable, "Could not check who may act", "The allow-list could not be checked right now; try again.")
			return
		}
		if !ok {
			h.fail(w, r, http.StatusForbidden, "Not allowed",
				fmt.Sprintf("%s may not %s incidents: only %s (ingress.slack.allow_resolve) may resolve and snooze. Anyone may acknowledge and re-scan.",
					by, action, strings.Join(h.cfg.AllowResolve, ", ")))
			return
		}
	default:
		h.fail(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("No action %q: acknowledge, snooze, rescan or resolve.", action))
		return
	}
	var inc incident.Incident
	var done string
	switch action {
	case workflows.UpdateAcknowledge:
		inc, err = h.inc.Acknowledge(ctx, id, workflows.AcknowledgeRequest{By: by, Note: strings.TrimSpace(r.PostFormValue("note"))})
		done = "acknowledged"
	case workflows.UpdateSnooze:
		until := h.cfg.Now().Add(SnoozeFor).UTC()
		inc, err = h.inc.Snooze(ctx, id, workflows.SnoozeRequest{By: by, Until: until})
		done = "snoozed until " + until.Format("2006-01-02 15:04 UTC")
	case workflows.UpdateRescan:
		inc, err = h.inc.Rescan(ctx, id, workflows.RescanRequest{By: by})
		done = "re-scanned"
	case workflows.UpdateResolve:
		inc, err = h.inc.Resolve(ctx, id, workflows.ResolveRequest{By: by, Note: strings.TrimSpace(r.PostFormValue("note"))})
		done = "resolved"
	}
	h.log.Info("console: action", "incident", id, "action", action, "actor", by, "error", err)
	if err != nil {
		if ingress.ErrorStatus(err) == http.StatusInternalServerError {
			h.log.Error("console: action failed", "incident", id, "action", action, "error", err)
		}
		setFlash(w, id, incident.ErrorMessage(err), true)
	} else {
		setFlash(w, id, fmt.Sprintf("%s %s: %s", inc.ID, done, inc.Status), false)
	}
	http.Redirect(w, r, IncidentHref(id), http.StatusSeeOther)
}

// The flash rides in a short-lived cookie for the incident's page, so a
// link cannot put words in the console's mouth the way a query string could.
const flashCookie = "irflow_flash"

func setFlash(w http.ResponseWriter, id, msg string, isErr bool) {
	kind := "ok"
	if isErr {
		kind = "err"
	}
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: kind + "." + base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: IncidentHref(id), MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func takeFlash(w http.ResponseWriter, r *http.Request) (msg string, isErr bool) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", false
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: r.URL.EscapedPath(), MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	kind, enc, _ := strings.Cut(c.Value, ".")
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), kind == "err"
}
