// Package slackapp serves Slack's calls into irflow: button presses on incident
// messages (POST /slack/interactions) and the /irflow slash command
// (POST /slack/commands). Every request's v0 signature is verified first.
package slackapp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/irflow/irflow/internal/config"

	slackapi "github.com/slack-go/slack"

	irslack "github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Incidents is what the handlers need from irflow's incident client.
type Incidents interface {
	Acknowledge(ctx context.Context, id string, req workflows.AcknowledgeRequest) (incident.Incident, error)
	Resolve(ctx context.Context, id string, req workflows.ResolveRequest) (incident.Incident, error)
	Snooze(ctx context.Context, id string, req workflows.SnoozeRequest) (incident.Incident, error)
	Rescan(ctx context.Context, id string, req workflows.RescanRequest) (incident.Incident, error)
	Get(ctx context.Context, id string) (incident.Incident, error)
	ListIncidents(ctx context.Context, f workflows.ListFilter) ([]incident.Incident, error)
	AddSilence(ctx context.Context, req workflows.AddSilenceRequest) (incident.Silence, error)
}

// Paths the handler serves.
const (
	InteractionsPath = "/slack/interactions"
	CommandsPath     = "/slack/commands"
)

const (
	maxBody = 1 << 20
	// maxSkew is how old (or far ahead) a signed request may be; Slack's own rule.
	maxSkew = 5 * time.Minute
	// commandBudget leaves room within Slack's 3 s for the reply to travel.
	commandBudget = 2500 * time.Millisecond
	snoozeFor     = time.Hour
	silenceFor    = time.Hour
	listLimit     = 20
)

// Config is the ingress.slack section (config.SlackApp: signing secret,
// allow_resolve) plus what only a running process has. Load validated the
// section; NewHandler fills the defaults here.
type Config struct {
	config.SlackApp
	// GroupMembers lists a user group's members, for S… entries in AllowResolve;
	// UserGroupMembers builds one from a Slack client. Without it, user groups
	// in AllowResolve match nobody.
	GroupMembers func(ctx context.Context, userGroupID string) ([]string, error)
	// Now is the clock (time.Now when nil), for signature ages and snoozes.
	Now func() time.Time
	// ActionTimeout bounds the work a request starts after it was answered (default 25 s).
	ActionTimeout time.Duration
	// HTTPClient posts to response_url (default: 10 s timeout).
	HTTPClient *http.Client
}

// UserGroupMembers returns a Config.GroupMembers backed by usergroups.users.list
// (scope usergroups:read).
func UserGroupMembers(api *slackapi.Client) func(ctx context.Context, id string) ([]string, error) {
	return func(ctx context.Context, id string) ([]string, error) {
		return api.GetUserGroupMembersContext(ctx, id)
	}
}

// Handler serves the Slack endpoints. Work a request starts after it was
// answered runs in the background; Wait waits for it (for shutdown and tests).
type Handler struct {
	cfg Config
	inc Incidents
	log *slog.Logger
	mux *http.ServeMux
	wg  sync.WaitGroup
}

// NewHandler returns the handler for POST /slack/interactions and POST /slack/commands.
// A handler without a signing secret rejects every request.
func NewHandler(cfg Config, inc Incidents, logger *slog.Logger) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = 25 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{cfg: cfg, inc: inc, log: logger.With("component", "slackapp"), mux: http.NewServeMux()}
	h.mux.HandleFunc("POST "+InteractionsPath, h.interactions)
	h.mux.HandleFunc("POST "+CommandsPath, h.commands)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Wait blocks until background work started by requests has finished.
func (h *Handler) Wait() { h.wg.Wait() }

// verify reads the body and checks Slack's v0 signature:
// hex HMAC-SHA256 of "v0:<timestamp>:<body>" keyed with the signing secret.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	reject := func(why string) (url.Values, bool) {
		h.log.WarnContext(r.Context(), "rejected Slack request", "path", r.URL.Path, "reason", why, "remote", r.RemoteAddr)
		http.Error(w, "invalid Slack signature: "+why, http.StatusUnauthorized)
		return nil, false
	}
	if h.cfg.SigningSecret == "" {
		return reject("signing secret not configured")
	}
	tsHeader, sig := r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature")
	if tsHeader == "" || sig == "" {
		return reject("missing X-Slack-Request-Timestamp or X-Slack-Signature")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return reject("bad timestamp")
	}
	if skew := h.cfg.Now().Sub(time.Unix(ts, 0)); skew > maxSkew || skew < -maxSkew {
		return reject("timestamp more than 5 minutes from now")
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(h.cfg.SigningSecret, tsHeader, body))) {
		return reject("signature mismatch")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

// Sign returns the X-Slack-Signature Slack sends for body at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// interactions answers at once and does the work in the background: Slack
// shows an error if the answer takes more than 3 s, and a workflow update may.
func (h *Handler) interactions(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verify(w, r)
	if !ok {
		return
	}
	payload := form.Get("payload")
	if payload == "" {
		http.Error(w, "missing payload", http.StatusBadRequest)
		return
	}
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	h.interaction(cb)
}

// interaction starts the work for a button press on an incident message;
// other interactions (link buttons, shortcuts) need none.
func (h *Handler) interaction(cb slackapi.InteractionCallback) {
	if cb.Type != slackapi.InteractionTypeBlockActions {
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if _, ok := verbs[a.ActionID]; ok {
			h.background(func(ctx context.Context) { h.press(ctx, cb, a.ActionID, a.Value) })
			return
		}
	}
}

func (h *Handler) background(f func(ctx context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ActionTimeout)
		defer cancel()
		f(ctx)
	}()
}

// Actor names a Slack user in timelines: "slack:U123 (alice)".
func Actor(userID, name string) string {
	if name == "" || name == userID {
		return "slack:" + userID
	}
	return fmt.Sprintf("slack:%s (%s)", userID, name)
}

// verbs names what each button does, for refusals and failures.
var verbs = map[string]string{
	irslack.ActionAcknowledge: "acknowledge", irslack.ActionResolve: "resolve", irslack.ActionSnooze1h: "snooze",
	irslack.ActionResolveAll: "resolve", irslack.ActionSilence1h: "silence", irslack.ActionRescan: "re-scan",
}

// press performs one button press. The message itself is edited by the
// workflow's notify activity; only refusals and failures are told here.
func (h *Handler) press(ctx context.Context, cb slackapi.InteractionCallback, action, value string) {
	name := cb.User.Name
	if name == "" {
		name = cb.User.Username
	}
	by := Actor(cb.User.ID, name)
	log := h.log.With("action", action, "incident", value, "user", by)
	id, err := incident.NormalizeID(value)
	if err != nil {
		h.ephemeral(ctx, cb.ResponseURL, "This button has no incident ID.")
		return
	}
	verb := verbs[action]
	// Everything but acknowledge and re-scan changes what others are told:
	// only allow_resolve may.
	if action != irslack.ActionAcknowledge && action != irslack.ActionRescan && !h.allowed(ctx, cb.User.ID) {
		log.InfoContext(ctx, "refused: user not in allow_resolve")
		h.ephemeral(ctx, cb.ResponseURL, fmt.Sprintf("Sorry, you are not allowed to %s incidents. Ask someone on the incident team.", verb))
		return
	}
	switch action {
	case irslack.ActionAcknowledge:
		_, err = h.inc.Acknowledge(ctx, id, workflows.AcknowledgeRequest{By: by})
	case irslack.ActionResolve:
		_, err = h.inc.Resolve(ctx, id, workflows.ResolveRequest{By: by, Note: "resolved from Slack"})
	case irslack.ActionSnooze1h:
		_, err = h.inc.Snooze(ctx, id, workflows.SnoozeRequest{By: by, Until: h.cfg.Now().Add(snoozeFor)})
	case irslack.ActionResolveAll:
		err = h.resolveAll(ctx, cb.ResponseURL, id, by)
	case irslack.ActionSilence1h:
		err = h.silence(ctx, cb.ResponseURL, id, by)
	case irslack.ActionRescan:
		if _, err = h.inc.Rescan(ctx, id, workflows.RescanRequest{By: by}); err == nil {
			h.ephemeral(ctx, cb.ResponseURL, "🔎 Re-scan started; the result will appear in the thread.")
		}
	}
	if err != nil {
		log.InfoContext(ctx, "Slack action failed", "err", err)
		h.ephemeral(ctx, cb.ResponseURL, failure(verb, id, err))
		return
	}
	log.InfoContext(ctx, "Slack action done")
}

// silence adds a one-hour silence for alerts like the incident's: new
// incidents that match are counted, not announced, and this one does not
// escalate while it lasts.
func (h *Handler) silence(ctx context.Context, responseURL, id, by string) error {
	inc, err := h.inc.Get(ctx, id)
	if err != nil {
		return err
	}
	s, err := h.inc.AddSilence(ctx, workflows.AddSilenceRequest{
		Matchers: incident.MatchersFor(inc.Alert), EndsAt: h.cfg.Now().Add(silenceFor),
		Comment: "from Slack on " + id, By: by,
	})
	if err != nil {
		return err
	}
	h.ephemeral(ctx, responseURL, fmt.Sprintf("🔕 Silenced for 1h (silence %s): alerts like this are counted but not announced, and this incident will not escalate. `starter silence expire %s` ends it early.", s.ID, s.ID))
	return nil
}

// resolveAll resolves a correlation parent, then each child it groups; a
// child that cannot be resolved (already resolved, gone) is told, not fatal.
func (h *Handler) resolveAll(ctx context.Context, responseURL, id, by string) error {
	parent, err := h.inc.Resolve(ctx, id, workflows.ResolveRequest{By: by, Note: "resolved from Slack with its children"})
	if err != nil {
		return err
	}
	var failed []string
	for _, child := range parent.Children {
		if _, err := h.inc.Resolve(ctx, child, workflows.ResolveRequest{By: by, Note: "resolved from Slack with parent " + parent.ID}); err != nil {
			// The client names the incident already ("incident-…: already resolved …").
			failed = append(failed, child+": "+strings.TrimPrefix(incident.ErrorMessage(err), child+": "))
		}
	}
	text := fmt.Sprintf("✔️ Resolved %s and %d of its %d children.", parent.ID, len(parent.Children)-len(failed), len(parent.Children))
	if len(failed) > 0 {
		text += "\nNot resolved: " + strings.Join(failed, "; ")
	}
	h.ephemeral(ctx, responseURL, text)
	return nil
}

// failure is what a user reads when an action fails: the incident's own
// message for errors they can act on ("Already acknowledged by alice at …").
func failure(verb, id string, err error) string {
	switch incident.ErrorCode(err) {
	case incident.ECONFLICT, incident.ENOTFOUND, incident.EINVALID:
		// The incidents client names the incident ("incident-…: already
		// acknowledged by …"); the presser is looking at it already.
		return upperFirst(strings.TrimPrefix(incident.ErrorMessage(err), id+": "))
	}
	return fmt.Sprintf("Could not %s %s: %s. Try again in a moment.", verb, id, incident.ErrorMessage(err))
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func (h *Handler) allowed(ctx context.Context, user string) bool {
	if len(h.cfg.AllowResolve) == 0 || slices.Contains(h.cfg.AllowResolve, user) {
		return true
	}
	for _, id := range h.cfg.AllowResolve {
		if id[0] != 'S' || h.cfg.GroupMembers == nil {
			continue
		}
		members, err := h.cfg.GroupMembers(ctx, id)
		if err != nil {
			h.log.WarnContext(ctx, "cannot list user group members", "user_group", id, "err", err)
			continue
		}
		if slices.Contains(members, user) {
			return true
		}
	}
	return false
}

// ephemeral tells only the clicking user, through the interaction's response_url.
func (h *Handler) ephemeral(ctx context.Context, responseURL, text string) {
	if responseURL == "" {
		h.log.WarnContext(ctx, "no response_url to answer on", "text", text)
		return
	}
	body, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		h.log.WarnContext(ctx, "bad response_url", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		h.log.WarnContext(ctx, "post to response_url failed", "err", err)
		return
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.log.WarnContext(ctx, "response_url refused the answer", "status", resp.StatusCode)
	}
}
