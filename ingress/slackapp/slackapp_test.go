package slackapp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

var now = time.Date(2026, 11, 22, 20, 0, 0, 0, time.UTC)

// fakeIncidents is an in-memory Incidents that records calls and behaves like
// the workflow for a second acknowledge.
type fakeIncidents struct {
	mu    sync.Mutex
	calls []string
	incs  map[string]*incident.Incident
	block chan struct{} // when set, Acknowledge waits for it
}

func newIncidents(ids ...string) *fakeIncidents {
	f := &fakeIncidents{incs: map[string]*incident.Incident{}}
	for _, id := range ids {
		f.incs[id] = &incident.Incident{ID: id, Status: incident.StatusOpen, Severity: incident.SeverityHigh,
			Alert: incident.Alert{Source: "rules", Rule: strings.TrimPrefix(id, "incident-")}}
	}
	return f
}

func (f *fakeIncidents) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeIncidents) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeIncidents) get(id string) (*incident.Incident, error) {
	inc, ok := f.incs[id]
	if !ok {
		return nil, incident.Errorf(incident.ENOTFOUND, "no incident %s", id)
	}
	return inc, nil
}

func (f *fakeIncidents) Acknowledge(_ context.Context, id string, req workflows.AcknowledgeRequest) (incident.Incident, error) {
	if f.block != nil {
		<-f.block
	}
	f.record("ack %s by %s", id, req.By)
	f.mu.Lock()
	defer f.mu.Unlock()
	inc, err := f.get(id)
	if err != nil {
		return incident.Incident{}, err
	}
	if inc.AcknowledgedBy != "" {
		return *inc, incident.Errorf(incident.ECONFLICT, "already acknowledged by %s at %s", inc.AcknowledgedBy, inc.AcknowledgedAt.Format(time.RFC3339))
	}
	inc.Status, inc.AcknowledgedBy, inc.AcknowledgedAt = incident.StatusAcknowledged, req.By, now
	return *inc, nil
}

func (f *fakeIncidents) Resolve(_ context.Context, id string, req workflows.ResolveRequest) (incident.Incident, error) {
	f.record("resolve %s by %s", id, req.By)
	f.mu.Lock()
	defer f.mu.Unlock()
	inc, err := f.get(id)
	if err != nil {
		return incident.Incident{}, err
	}
	if inc.Status == incident.StatusResolved {
		return *inc, incident.Errorf(incident.ECONFLICT, "%s: already resolved by %s", id, inc.ResolvedBy)
	}
	inc.Status, inc.ResolvedBy = incident.StatusResolved, req.By
	return *inc, nil
}

func (f *fakeIncidents) Snooze(_ context.Context, id string, req workflows.SnoozeRequest) (incident.Incident, error) {
	f.record("snooze %s by %s until %s", id, req.By, req.Until.Format(time.RFC3339))
	return incident.Incident{ID: id}, nil
}

func (f *fakeIncidents) Rescan(_ context.Context, id string, req workflows.RescanRequest) (incident.Incident, error) {
	f.record("rescan %s by %s", id, req.By)
	return incident.Incident{ID: id}, nil
}

func (f *fakeIncidents) Get(_ context.Context, id string) (incident.Incident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inc, err := f.get(id)
	if err != nil {
		return incident.Incident{}, err
	}
	return *inc, nil
}

func (f *fakeIncidents) ListIncidents(_ context.Context, lf workflows.ListFilter) ([]incident.Incident, error) {
	f.record("list status=%q limit=%d", lf.Status, lf.Limit)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incident.Incident
	for _, inc := range f.incs {
		if lf.Status == "" || inc.Status == lf.Status {
			out = append(out, *inc)
		}
	}
	slices.SortFunc(out, func(a, b incident.Incident) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeIncidents) AddSilence(_ context.Context, req workflows.AddSilenceRequest) (incident.Silence, error) {
	f.record("silence %s until %s by %s: %s", strings.Join(req.Matchers, " "), req.EndsAt.Format(time.RFC3339), req.By, req.Comment)
	return incident.Silence{ID: "7f3a-1", EndsAt: req.EndsAt}, nil
}

// responseURL is a stand-in for Slack's response_url that records what it receives.
type responseURL struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []map[string]any
}

func newResponseURL(t *testing.T) *responseURL {
	r := &responseURL{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(req.Body).Decode(&m)
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *responseURL) Messages() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func MustHandler(tb testing.TB, inc Incidents, mutate ...func(*Config)) *Handler {
	tb.Helper()
	cfg := Config{SlackApp: config.SlackApp{SigningSecret: secret}, Now: func() time.Time { return now }}
	for _, m := range mutate {
		m(&cfg)
	}
	return NewHandler(cfg, inc, slog.New(slog.DiscardHandler))
}

// send posts a form signed at ts with key.
func send(h http.Handler, path string, form url.Values, ts time.Time, key string) *httptest.ResponseRecorder {
	body := form.Encode()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", Sign(key, stamp, []byte(body)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func buttonForm(action, incidentID, user, name, responseURL string) url.Values {
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": user, "username": name, "name": name},
		"response_url": responseURL,
		"channel":      map[string]string{"id": "C1"},
		"actions": []map[string]string{
			{"type": "button", "action_id": action, "block_id": "irflow_actions", "value": incidentID},
		},
	})
	return url.Values{"payload": {string(payload)}}
}

func TestAcknowledgeButton(t *testing.T) {
	inc := newIncidents("incident-abc")
	h := MustHandler(t, inc)
	resp := newResponseURL(t)
	rec := send(h, InteractionsPath, buttonForm("irflow_ack", "incident-abc", "U123", "alice", resp.URL), now, secret)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	h.Wait()
	if got, want := inc.Calls(), []string{"ack incident-abc by slack:U123 (alice)"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if m := resp.Messages(); len(m) != 0 {
		t.Errorf("ephemeral messages %v after a successful ack, want none (the workflow edits the message)", m)
	}

	// A second press, by someone else, is told who was first.
	rec = send(h, InteractionsPath, buttonForm("irflow_ack", "incident-abc", "U999", "bob", resp.URL), now, secret)
	h.Wait()
	msgs := resp.Messages()
	if rec.Code != http.StatusOK || len(msgs) != 1 {
		t.Fatalf("second ack: status %d, %d ephemeral messages; want 200 and 1", rec.Code, len(msgs))
	}
	if msgs[0]["response_type"] != "ephemeral" || msgs[0]["replace_original"] != false ||
		!strings.HasPrefix(msgs[0]["text"].(string), "Already acknowledged by slack:U123 (alice) at 2026-11-22T20:00:00Z") {
		t.Errorf("ephemeral %v, want 'Already acknowledged by …' not replacing the message", msgs[0])
	}
}

func TestInteractionAnsweredBeforeWorkFinishes(t *testing.T) {
	inc := newIncidents("incident-abc")
	inc.block = make(chan struct{})
	h := MustHandler(t, inc)
	start := time.Now()
	rec := send(h, InteractionsPath, buttonForm("irflow_ack", "incident-abc", "U1", "a", ""), now, secret)
	if took := time.Since(start); rec.Code != http.StatusOK || took > time.Second {
		t.Errorf("answered %d after %s while the update was still running, want 200 at once", rec.Code, took)
	}
	if len(inc.Calls()) != 0 {
		t.Fatal("update finished before it was unblocked")
	}
	close(inc.block)
	h.Wait()
	if len(inc.Calls()) != 1 {
		t.Errorf("calls %v, want the ack to complete in the background", inc.Calls())
	}
}

func TestRejectsBadRequests(t *testing.T) {
	form := buttonForm("irflow_ack", "incident-abc", "U1", "a", "")
	for _, tc := range []struct {
		name string
		form url.Values
		ts   time.Time
		key  string
		want int
	}{
		{"forged signature", form, now, "not-the-secret", http.StatusUnauthorized},
		{"stale timestamp", form, now.Add(-6 * time.Minute), secret, http.StatusUnauthorized},
		{"future timestamp", form, now.Add(6 * time.Minute), secret, http.StatusUnauthorized},
		{"missing payload", url.Values{"other": {"x"}}, now, secret, http.StatusBadRequest},
		{"malformed payload", url.Values{"payload": {"{not json"}}, now, secret, http.StatusBadRequest},
		{"4 minutes old is fine", form, now.Add(-4 * time.Minute), secret, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := newIncidents("incident-abc")
			h := MustHandler(t, inc)
			rec := send(h, InteractionsPath, tc.form, tc.ts, tc.key)
			h.Wait()
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if tc.want != http.StatusOK && len(inc.Calls()) != 0 {
				t.Errorf("rejected request still reached incidents: %v", inc.Calls())
			}
		})
	}

	h := MustHandler(t, newIncidents())
	req := httptest.NewRequest(http.MethodPost, InteractionsPath, strings.NewReader(form.Encode()))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("unsigned request: status %d, want 401", rec.Code)
	}
}

func TestResolveAndSnoozeNeedPermission(t *testing.T) {
	inc := newIncidents("incident-abc")
	groups := func(_ context.Context, id string) ([]string, error) {
		if id == "S0SECOPS" {
			return []string{"U777"}, nil
		}
		return nil, fmt.Errorf("no group %s", id)
	}
	h := MustHandler(t, inc, func(c *Config) {
		c.AllowResolve = []string{"U123", "S0SECOPS"}
		c.GroupMembers = groups
	})
	resp := newResponseURL(t)

	for _, action := range []string{"irflow_resolve", "irflow_snooze_1h"} {
		send(h, InteractionsPath, buttonForm(action, "incident-abc", "U999", "mallory", resp.URL), now, secret)
		h.Wait()
	}
	if c := inc.Calls(); len(c) != 0 {
		t.Fatalf("calls %v from a user not in allow_resolve, want none", c)
	}
	msgs := resp.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[0]["text"].(string), "not allowed to resolve") ||
		!strings.Contains(msgs[1]["text"].(string), "not allowed to snooze") || msgs[0]["response_type"] != "ephemeral" {
		t.Errorf("ephemeral refusals %v", msgs)
	}

	send(h, InteractionsPath, buttonForm("irflow_snooze_1h", "incident-abc", "U123", "alice", resp.URL), now, secret)
	send(h, InteractionsPath, buttonForm("irflow_resolve", "abc", "U777", "carol", resp.URL), now, secret)
	h.Wait()
	want := []string{
		"snooze incident-abc by slack:U123 (alice) until 2026-11-22T21:00:00Z",
		"resolve incident-abc by slack:U777 (carol)",
	}
	got := inc.Calls()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// Resolve all on a correlation parent resolves it and every child; a child
// already resolved is told, and the others still resolve.
func TestResolveAllButton(t *testing.T) {
	inc := newIncidents("incident-parent", "incident-c1", "incident-c2", "incident-c3")
	inc.incs["incident-parent"].Children = []string{"incident-c1", "incident-c2", "incident-c3"}
	inc.incs["incident-c2"].Status, inc.incs["incident-c2"].ResolvedBy = incident.StatusResolved, "cli:bob"
	h := MustHandler(t, inc, func(c *Config) { c.AllowResolve = []string{"U123"} })
	resp := newResponseURL(t)

	send(h, InteractionsPath, buttonForm("irflow_resolve_all", "incident-parent", "U999", "mallory", resp.URL), now, secret)
	h.Wait()
	if c := inc.Calls(); len(c) != 0 {
		t.Fatalf("calls %v from a user not in allow_resolve, want none", c)
	}

	send(h, InteractionsPath, buttonForm("irflow_resolve_all", "incident-parent", "U123", "alice", resp.URL), now, secret)
	h.Wait()
	by := "slack:U123 (alice)"
	want := []string{"resolve incident-parent by " + by, "resolve incident-c1 by " + by, "resolve incident-c2 by " + by, "resolve incident-c3 by " + by}
	if got := inc.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	for _, id := range []string{"incident-parent", "incident-c1", "incident-c3"} {
		if got := inc.incs[id]; got.Status != incident.StatusResolved || got.ResolvedBy != by {
			t.Errorf("%s: %s by %q, want resolved by %s", id, got.Status, got.ResolvedBy, by)
		}
	}
	msgs := resp.Messages()
	if len(msgs) != 2 {
		t.Fatalf("ephemeral messages %v, want the refusal and the summary", msgs)
	}
	text := msgs[1]["text"].(string)
	if !strings.Contains(text, "Resolved incident-parent and 2 of its 3 children") ||
		!strings.Contains(text, "Not resolved: incident-c2: already resolved by cli:bob") {
		t.Errorf("summary %q", text)
	}
}

// Silence 1h silences alerts like the incident's for an hour, for the
// people allowed to resolve.
func TestSilenceButton(t *testing.T) {
	inc := newIncidents("incident-abc")
	inc.incs["incident-abc"].Alert = incident.Alert{Source: "rules", Rule: "login failures", Env: "prod", QueryKey: map[string]string{"client.ip": "203.0.113.9"}}
	h := MustHandler(t, inc, func(c *Config) { c.AllowResolve = []string{"U123"} })
	resp := newResponseURL(t)
	send(h, InteractionsPath, buttonForm("irflow_silence_1h", "incident-abc", "U999", "mallory", resp.URL), now, secret)
	h.Wait()
	if c := inc.Calls(); len(c) != 0 {
		t.Fatalf("calls %v from a user not in allow_resolve, want none", c)
	}
	send(h, InteractionsPath, buttonForm("irflow_silence_1h", "incident-abc", "U123", "alice", resp.URL), now, secret)
	h.Wait()
	want := []string{`silence source="rules" rule="login failures" env="prod" client.ip="203.0.113.9" until 2026-11-22T21:00:00Z by slack:U123 (alice): from Slack on incident-abc`}
	if got := inc.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	msgs := resp.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[0]["text"].(string), "not allowed to silence") ||
		!strings.Contains(msgs[1]["text"].(string), "Silenced for 1h (silence 7f3a-1)") {
		t.Errorf("ephemeral messages %v", msgs)
	}
}

func TestRescanAndUnknownIncident(t *testing.T) {
	inc := newIncidents("incident-abc")
	h := MustHandler(t, inc)
	resp := newResponseURL(t)
	send(h, InteractionsPath, buttonForm("irflow_rescan", "incident-abc", "U1", "a", resp.URL), now, secret)
	h.Wait()
	send(h, InteractionsPath, buttonForm("irflow_ack", "incident-gone", "U1", "a", resp.URL), now, secret)
	h.Wait()
	// Link buttons also send block_actions; they change nothing.
	send(h, InteractionsPath, buttonForm("irflow_link_temporal", "incident-abc", "U1", "a", resp.URL), now, secret)
	h.Wait()
	msgs := resp.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[0]["text"].(string), "Re-scan started") || msgs[1]["text"] != "No incident incident-gone" {
		t.Errorf("ephemerals %v, want re-scan confirmation then 'No incident incident-gone'", msgs)
	}
	if c := inc.Calls(); len(c) != 2 {
		t.Errorf("calls %v, want rescan and ack only", c)
	}
}

func commandForm(text, user string, responseURL string) url.Values {
	return url.Values{"command": {"/irflow"}, "text": {text}, "user_id": {user}, "user_name": {"alice"}, "response_url": {responseURL}}
}

func commandReply(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var m map[string]string
	if err := json.NewDecoder(rec.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m["response_type"] != "ephemeral" {
		t.Errorf("response_type %q, want ephemeral", m["response_type"])
	}
	return m["text"]
}

func TestSlashCommand(t *testing.T) {
	inc := newIncidents("incident-aaa", "incident-bbb")
	inc.incs["incident-bbb"].Status = incident.StatusResolved
	h := MustHandler(t, inc, func(c *Config) { c.AllowResolve = []string{"U123"} })

	for _, tc := range []struct {
		text, user string
		want       []string
		calls      []string
	}{
		{"list", "U1", []string{"`incident-aaa` aaa — open", "`incident-bbb` bbb — resolved"}, []string{`list status="" limit=20`}},
		{"list open", "U1", []string{"incident-aaa"}, []string{`list status="open" limit=20`}},
		{"ack aaa", "U1", []string{"Acknowledged incident-aaa"}, []string{"ack incident-aaa by slack:U1 (alice)"}},
		{"ack incident-aaa", "U2", []string{"Already acknowledged by slack:U1 (alice)"}, []string{"ack incident-aaa by slack:U2 (alice)"}},
		{"resolve aaa fixed it", "U1", []string{"not allowed to resolve"}, nil},
		{"resolve aaa fixed it", "U123", []string{"Resolved incident-aaa"}, []string{"resolve incident-aaa by slack:U123 (alice)"}},
		{"show bbb", "U1", []string{"`incident-bbb` — high, resolved"}, nil},
		{"show nope", "U1", []string{"No incident incident-nope"}, nil},
		{"", "U1", []string{"Usage: `/irflow list"}, nil},
		{"frobnicate", "U1", []string{`Unknown command "frobnicate"`}, nil},
	} {
		t.Run(tc.text, func(t *testing.T) {
			before := len(inc.Calls())
			text := commandReply(t, send(h, CommandsPath, commandForm(tc.text, tc.user, ""), now, secret))
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("reply %q lacks %q", text, w)
				}
			}
			if got := inc.Calls()[before:]; !slices.Equal(got, tc.calls) {
				t.Errorf("calls %q, want %q", got, tc.calls)
			}
		})
	}
	if rec := send(h, CommandsPath, commandForm("list", "U1", ""), now, "forged"); rec.Code != http.StatusUnauthorized {
		t.Errorf("forged command: status %d, want 401", rec.Code)
	}
}

func TestSlowCommandAnswersLater(t *testing.T) {
	inc := newIncidents("incident-aaa")
	inc.block = make(chan struct{})
	h := MustHandler(t, inc)
	resp := newResponseURL(t)
	go func() { time.Sleep(commandBudget + 200*time.Millisecond); close(inc.block) }()
	start := time.Now()
	text := commandReply(t, send(h, CommandsPath, commandForm("ack aaa", "U1", resp.URL), now, secret))
	if took := time.Since(start); took > 3*time.Second || !strings.Contains(text, "Working on it") {
		t.Errorf("reply %q after %s, want 'Working on it' within 3 s", text, took)
	}
	h.Wait()
	if m := resp.Messages(); len(m) != 1 || !strings.Contains(m[0]["text"].(string), "Acknowledged incident-aaa") {
		t.Errorf("response_url got %v, want the late answer", m)
	}
}
