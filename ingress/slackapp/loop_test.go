package slackapp_test

// The full Slack loop on the real Temporal dev server: client.Client.Send →
// the real worker (IncidentWorkflow, local notify activity) → the real Slack
// notifier → the Slack fake (testenv.Slack); a signed button press → the real handler → the
// workflow's acknowledge update → the message edited in the fake.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	temporalclient "go.temporal.io/sdk/client"

	irslack "github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress/slackapp"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

func TestMain(m *testing.M) { testenv.Run(m) }

const (
	loopSecret   = "loop-signing-secret-0123456789ab"
	routedChan   = "#5xx-error-logs"
	exampleSlack = "../../deploy/config/slack.example.yaml"
)

// loop is one worker with the real Slack notifier pointed at a fake Slack.
// Tests using it run one at a time: every worker polls the same task queue.
type loop struct {
	fake *testenv.Slack
	c    temporalclient.Client
	ic   *client.Client
}

// MustLoop starts a fake Slack with the example config's channels and a real
// worker whose notifier posts there, with the given storm edit interval.
func MustLoop(tb testing.TB, notifyInterval time.Duration) *loop {
	tb.Helper()
	fake := testenv.NewSlack(tb)
	for _, ch := range []string{"#alerts", "#incident-escalations", "#waf-alerts", routedChan, "#4xx-error-logs"} {
		fake.AddChannel(ch)
	}
	env := map[string]string{config.EnvSlackToken: "xoxb-loop-test", config.EnvSlackAPIURL: fake.URL()}
	cfg, err := config.Load(exampleSlack, func(k string) string { return env[k] })
	if err != nil {
		tb.Fatalf("load %s: %v", exampleSlack, err)
	}
	n, err := irslack.New(cfg.Slack, irslack.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatalf("slack notifier: %v", err)
	}
	c := testenv.Client(tb)
	testenv.Worker(tb, c, func(m *workerapp.Main) {
		m.Config.Slack = cfg.Slack
		m.Config.Incident.NotifyInterval = config.Duration(notifyInterval)
		m.Notifier = n
	})
	return &loop{fake: fake, c: c, ic: client.New(c, "default")}
}

// send opens (or adds to) this test's incident and ends it when the test ends,
// before the worker stops, so no later test's worker picks up its timers.
func (l *loop) send(tb testing.TB, count int) workflows.SendResult {
	tb.Helper()
	res, err := l.ic.Send(context.Background(), workflows.Occurrence{Count: count, Alert: l.alert(tb)})
	if err != nil {
		tb.Fatalf("send alert: %v", err)
	}
	if res.New {
		tb.Cleanup(func() {
			_ = l.c.TerminateWorkflow(context.Background(), res.WorkflowID, "", "test over")
		})
	}
	return res
}

var nonce = strconv.FormatInt(time.Now().UnixNano(), 36)

func (l *loop) alert(tb testing.TB) incident.Alert {
	return incident.Alert{
		Source: "rules", Rule: "api 5xx spike", Env: "prod", Service: "api", Severity: incident.SeverityHigh,
		QueryKey: map[string]string{"test": tb.Name() + "-" + nonce},
	}
}

// posts are the top-level chat.postMessage calls to the routed channel that
// carry this incident's metadata, failed ones included.
func (l *loop) posts(tb testing.TB, incidentID string) []testenv.SlackCall {
	tb.Helper()
	var out []testenv.SlackCall
	for _, c := range l.fake.Calls("chat.postMessage") {
		if c.ThreadTS != "" || len(c.Metadata) == 0 || (c.Channel != routedChan && c.Channel != l.fake.ChannelID(routedChan)) {
			continue
		}
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal(c.Metadata, &md); err != nil {
			tb.Fatalf("post without readable metadata %q: %v", c.Metadata, err)
		}
		if md.EventType == irslack.MetadataEventType && md.EventPayload["incident_id"] == incidentID {
			out = append(out, c)
		}
	}
	return out
}

func okCalls(calls []testenv.SlackCall) (ok []testenv.SlackCall) {
	for _, c := range calls {
		if c.Error == "" || c.Error == "response_lost" {
			ok = append(ok, c)
		}
	}
	return ok
}

// updates are the successful chat.update calls of the message ts.
func (l *loop) updates(ts string) []testenv.SlackCall {
	var out []testenv.SlackCall
	for _, c := range l.fake.OKCalls("chat.update") {
		if c.TS == ts {
			out = append(out, c)
		}
	}
	return out
}

// onePost waits for the incident's announcement and checks there is exactly one.
func (l *loop) onePost(tb testing.TB, incidentID string) testenv.SlackCall {
	tb.Helper()
	testenv.Eventually(tb, 20*time.Second, "the incident posted to "+routedChan, func() bool {
		return len(okCalls(l.posts(tb, incidentID))) > 0
	})
	ok := okCalls(l.posts(tb, incidentID))
	if len(ok) != 1 {
		tb.Fatalf("%d chat.postMessage calls announced %s, want exactly 1", len(ok), incidentID)
	}
	return ok[0]
}

func (l *loop) get(tb testing.TB, id string) incident.Incident {
	tb.Helper()
	inc, err := l.ic.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("query %s: %v", id, err)
	}
	return inc
}

// responseURL records what the handler posts to an interaction's response_url.
type responseURL struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []map[string]any
}

func newResponseURL(tb testing.TB) *responseURL {
	r := &responseURL{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(req.Body).Decode(&m)
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *responseURL) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		s, _ := m["text"].(string)
		out = append(out, s)
	}
	return out
}

// click posts a block_actions payload, as Slack does, signed at ts with key.
func click(tb testing.TB, base, action, incidentID, user, name, respURL string, ts time.Time, key string) int {
	tb.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": user, "username": name, "name": name},
		"response_url": respURL,
		"channel":      map[string]string{"id": "C1"},
		"actions": []map[string]string{
			{"type": "button", "action_id": action, "block_id": "irflow_actions", "value": incidentID},
		},
	})
	return post(tb, base, url.Values{"payload": {string(payload)}}.Encode(), ts, key)
}

func post(tb testing.TB, base, body string, ts time.Time, key string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+slackapp.InteractionsPath, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", slackapp.Sign(key, stamp, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", slackapp.InteractionsPath, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestAcknowledgeLoop(t *testing.T) {
	l := MustLoop(t, time.Second)
	h := slackapp.NewHandler(slackapp.Config{SlackApp: config.SlackApp{SigningSecret: loopSecret}}, l.ic, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Wait) // runs before srv.Close and the worker stop

	res := l.send(t, 1)
	msg := l.onePost(t, res.IncidentID)
	if !strings.Contains(string(msg.Blocks), irslack.ActionAcknowledge) {
		t.Fatalf("announcement blocks lack the Acknowledge button: %s", msg.Blocks)
	}

	// Requests Slack did not sign, or signed too long ago, change nothing.
	now := time.Now()
	for _, tc := range []struct {
		name string
		body string
		ts   time.Time
		key  string
		want int
	}{
		{"forged signature", "", now, "not-the-secret", http.StatusUnauthorized},
		{"stale timestamp", "", now.Add(-6 * time.Minute), loopSecret, http.StatusUnauthorized},
		{"missing payload", "other=x", now, loopSecret, http.StatusBadRequest},
		{"invalid payload", url.Values{"payload": {"{not json"}}.Encode(), now, loopSecret, http.StatusBadRequest},
	} {
		var code int
		if tc.body == "" {
			code = click(t, srv.URL, irslack.ActionAcknowledge, res.IncidentID, "U0EVIL", "mallory", "", tc.ts, tc.key)
		} else {
			code = post(t, srv.URL, tc.body, tc.ts, tc.key)
		}
		if code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
	h.Wait()
	if inc := l.get(t, res.IncidentID); inc.Status != incident.StatusOpen {
		t.Fatalf("after rejected requests the incident is %s, want open", inc.Status)
	}

	if code := click(t, srv.URL, irslack.ActionAcknowledge, res.IncidentID, "U0ALICE1", "alice", "", time.Now(), loopSecret); code != http.StatusOK {
		t.Fatalf("signed Acknowledge click: status %d, want 200", code)
	}
	testenv.Eventually(t, 20*time.Second, "the workflow to be acknowledged", func() bool {
		return l.get(t, res.IncidentID).Status == incident.StatusAcknowledged
	})
	if by := l.get(t, res.IncidentID).AcknowledgedBy; by != "slack:U0ALICE1 (alice)" {
		t.Errorf("acknowledged by %q, want the clicking Slack user", by)
	}
	testenv.Eventually(t, 20*time.Second, "the message edited to show the acknowledgement", func() bool {
		for _, u := range l.updates(msg.TS) {
			b := string(u.Blocks)
			if strings.Contains(b, "Acknowledged by") && !strings.Contains(b, irslack.ActionAcknowledge) {
				return true
			}
		}
		return false
	})
	testenv.Eventually(t, 20*time.Second, "a thread reply telling the acknowledgement", func() bool {
		for _, r := range l.fake.Replies(routedChan, msg.TS) {
			if strings.Contains(r.Text, "acknowledged by") {
				return true
			}
		}
		return false
	})

	// A second press, by someone else, is told privately who was first.
	resp := newResponseURL(t)
	if code := click(t, srv.URL, irslack.ActionAcknowledge, res.IncidentID, "U0BOB999", "bob", resp.URL, time.Now(), loopSecret); code != http.StatusOK {
		t.Fatalf("second click: status %d, want 200", code)
	}
	h.Wait()
	texts := resp.texts()
	if len(texts) != 1 || !strings.HasPrefix(texts[0], "Already acknowledged by slack:U0ALICE1 (alice)") {
		t.Errorf("ephemeral answers %q, want one 'Already acknowledged by slack:U0ALICE1 (alice) …'", texts)
	}
	if by := l.get(t, res.IncidentID).AcknowledgedBy; by != "slack:U0ALICE1 (alice)" {
		t.Errorf("after the second click acknowledged by %q, want still alice", by)
	}
	if n := len(okCalls(l.posts(t, res.IncidentID))); n != 1 {
		t.Errorf("%d announcements after the loop, want still 1", n)
	}
}

// A storm of occurrences edits the one message at most once per notify
// interval, and the last edit shows the total.
func TestStormEditsThrottled(t *testing.T) {
	const total, perSend, senders = 5000, 5, 25
	const interval = time.Second
	l := MustLoop(t, interval)

	first := l.send(t, perSend)
	var next atomic.Int64
	next.Store(1)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total/perSend {
				if _, err := l.ic.Send(context.Background(), workflows.Occurrence{Count: perSend, Alert: l.alert(t)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	t.Logf("%d occurrences in %d signals sent in %s", total, total/perSend, time.Since(start).Round(time.Millisecond))

	msg := l.onePost(t, first.IncidentID)
	want := fmt.Sprintf(`*Occurrences*\n%d`, total)
	testenv.Eventually(t, 30*time.Second, "the message to show "+strconv.Itoa(total)+" occurrences", func() bool {
		for _, m := range l.fake.Messages(routedChan) {
			if m.TS == msg.TS {
				return strings.Contains(string(m.Blocks), want)
			}
		}
		return false
	})
	if n := l.get(t, first.IncidentID).Occurrences; n != total {
		t.Errorf("workflow counted %d occurrences, want %d", n, total)
	}
	time.Sleep(interval + 500*time.Millisecond) // no edits trail after the total is shown
	ups := l.updates(msg.TS)
	if len(ups) == 0 {
		t.Fatal("no chat.update during the storm")
	}
	elapsed := ups[len(ups)-1].At.Sub(msg.At)
	limit := int(elapsed/interval) + 1
	t.Logf("1 post, %d updates over %s (limit %d)", len(ups), elapsed.Round(time.Millisecond), limit)
	if len(ups) > limit {
		t.Errorf("%d chat.update calls in %s with notify_interval %s, want at most %d", len(ups), elapsed, interval, limit)
	}
	if n := len(okCalls(l.posts(t, first.IncidentID))); n != 1 {
		t.Errorf("%d chat.postMessage announcements, want 1", n)
	}
}

// A post that reached Slack but whose answer was lost is found by the retry
// (message metadata) and edited, not posted again.
func TestLostPostAnswerIsNotPostedTwice(t *testing.T) {
	l := MustLoop(t, time.Second)
	l.fake.LoseResponseNext("chat.postMessage")

	res := l.send(t, 1)
	testenv.Eventually(t, 30*time.Second, "the workflow to record its message", func() bool {
		return l.get(t, res.IncidentID).Message != nil
	})
	posts := l.posts(t, res.IncidentID)
	if len(posts) != 1 || posts[0].Error != "response_lost" {
		t.Fatalf("posts %+v, want exactly the one whose answer was lost", posts)
	}
	ref := l.get(t, res.IncidentID).Message
	if ref.ID != posts[0].TS {
		t.Errorf("workflow recorded message %s, want the lost-answer post %s", ref.ID, posts[0].TS)
	}
	if n := len(l.fake.OKCalls("conversations.history")); n < 2 {
		t.Errorf("%d conversations.history calls, want a second one by the retry's Find", n)
	}
	if len(l.updates(posts[0].TS)) == 0 {
		t.Error("the retry did not edit the message it found")
	}
	var top int
	for _, m := range l.fake.Messages(routedChan) {
		if m.ThreadTS == "" && strings.Contains(string(m.Metadata), res.IncidentID) {
			top++
		}
	}
	if top != 1 {
		t.Errorf("%d messages for the incident in %s, want 1", top, routedChan)
	}
}

// A 429 on the post is retried after Retry-After, and the message arrives once.
func TestRateLimitedPostArrivesOnce(t *testing.T) {
	l := MustLoop(t, time.Second)
	l.fake.RateLimitNext("chat.postMessage", time.Second)

	res := l.send(t, 1)
	ok := l.onePost(t, res.IncidentID)
	posts := l.posts(t, res.IncidentID)
	if len(posts) != 2 || posts[0].Error != "ratelimited" {
		t.Fatalf("posts %+v, want one rate-limited and then one ok", posts)
	}
	if wait := ok.At.Sub(posts[0].At); wait < time.Second {
		t.Errorf("retried %s after the 429, want at least Retry-After 1s", wait)
	} else {
		t.Logf("posted %s after the 429", wait.Round(time.Millisecond))
	}
}

// TestFaultSlack429Then500 survives Slack answering 429 (Retry-After 1s) and
// then an HTTP 500 from its edge: the notifier waits out the 429, backs off
// after the 500, and the incident's message is posted exactly once.
func TestFaultSlack429Then500(t *testing.T) {
	l := MustLoop(t, time.Second)
	l.fake.RateLimitNext("chat.postMessage", time.Second)
	// The queued 429 answers first; the next post (the retry) gets one 500.
	var served bool
	l.fake.InjectFaults(func(method string) *testenv.SlackFault {
		if method != "chat.postMessage" || served {
			return nil
		}
		served = true
		return &testenv.SlackFault{HTTPStatus: http.StatusInternalServerError}
	})

	res := l.send(t, 1)
	ok := l.onePost(t, res.IncidentID)
	posts := l.posts(t, res.IncidentID)
	if len(posts) != 3 || posts[0].Error != "ratelimited" || posts[1].Error != http.StatusText(http.StatusInternalServerError) || posts[2].Error != "" {
		errs := make([]string, len(posts))
		for i, p := range posts {
			errs[i] = p.Error
		}
		t.Fatalf("posts with errors %q, want ratelimited, then %q, then one ok", errs, http.StatusText(http.StatusInternalServerError))
	}
	if wait := posts[1].At.Sub(posts[0].At); wait < time.Second {
		t.Errorf("retried %s after the 429, want at least Retry-After 1s", wait)
	}
	if wait := ok.At.Sub(posts[1].At); wait <= 0 {
		t.Errorf("posted %s after the 500, want a backoff", wait)
	} else {
		t.Logf("429 → %s → 500 → %s → posted", posts[1].At.Sub(posts[0].At).Round(time.Millisecond), wait.Round(time.Millisecond))
	}
	// One message in the channel, not one per attempt.
	var top int
	for _, m := range l.fake.Messages(routedChan) {
		if m.ThreadTS == "" && strings.Contains(string(m.Metadata), res.IncidentID) {
			top++
		}
	}
	if top != 1 {
		t.Errorf("%d messages for the incident in %s, want 1", top, routedChan)
	}
}
