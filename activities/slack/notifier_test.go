package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
)

func MustNotifier(tb testing.TB, fake *testenv.Slack, mutate ...func(*config.Slack)) *slack.Notifier {
	tb.Helper()
	cfg := config.Slack{
		Token:          "xoxb-test",
		APIURL:         fake.URL(),
		DefaultChannel: "#alerts",
		Routes: []config.Route{
			{Match: config.RouteMatch{Category: "waf"}, Channel: "#waf-alerts"},
			{Match: config.RouteMatch{Rule: "*5xx*"}, Channel: "#5xx-error-logs"},
		},
		TemporalUIURL: "https://temporal.example.com",
	}
	for _, m := range mutate {
		m(&cfg)
	}
	n, err := slack.New(cfg, slack.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func newFake(t *testing.T) *testenv.Slack {
	f := testenv.NewSlack(t)
	for _, c := range []string{"#alerts", "#waf-alerts", "#5xx-error-logs", "#oncall"} {
		f.AddChannel(c)
	}
	return f
}

func recentIncident(rule, category string) *incident.Incident {
	now := time.Now().UTC()
	inc := &incident.Incident{
		ID: "incident-" + rule, Fingerprint: rule, Status: incident.StatusOpen, Severity: incident.SeverityHigh,
		Alert:    incident.Alert{Source: "rules", Rule: rule, Category: category, Env: "prod"},
		OpenedAt: now, FirstSeen: now, LastSeen: now, Occurrences: 1,
	}
	return inc
}

func TestPostRoutesWithMetadata(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()

	ref, err := n.Post(ctx, recentIncident("alb-5xx-rate", "reliability"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fake.ChannelID("#5xx-error-logs"); ref.Channel != want || ref.Notifier != "slack" || ref.ID == "" {
		t.Fatalf("ref %+v, want slack message in %s", ref, want)
	}
	msgs := fake.Messages("#5xx-error-logs")
	if len(msgs) != 1 || msgs[0].TS != ref.ID {
		t.Fatalf("5xx channel holds %+v, want the one posted message", msgs)
	}
	var md struct {
		EventType    string            `json:"event_type"`
		EventPayload map[string]string `json:"event_payload"`
	}
	if err := json.Unmarshal(msgs[0].Metadata, &md); err != nil {
		t.Fatal(err)
	}
	if md.EventType != "irflow_incident" || md.EventPayload["incident_id"] != "incident-alb-5xx-rate" || md.EventPayload["fingerprint"] != "alb-5xx-rate" {
		t.Errorf("metadata %+v, want irflow_incident with incident_id and fingerprint", md)
	}
	if !strings.Contains(msgs[0].Text, "alb-5xx-rate") || !strings.Contains(string(msgs[0].Blocks), `"irflow_ack"`) {
		t.Errorf("message lacks fallback text or buttons: %s / %s", msgs[0].Text, msgs[0].Blocks)
	}

	if _, err := n.Post(ctx, recentIncident("sqli", "waf")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Post(ctx, recentIncident("disk-full", "")); err != nil {
		t.Fatal(err)
	}
	for ch, want := range map[string]int{"#waf-alerts": 1, "#alerts": 1, "#5xx-error-logs": 1} {
		if got := len(fake.Messages(ch)); got != want {
			t.Errorf("%s holds %d messages, want %d", ch, got, want)
		}
	}
}

func TestNotifyRetryPostsOnce(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	act := &activities.Notify{Notifier: n}
	inc := recentIncident("alb-5xx-rate", "")
	ctx := context.Background()

	// The first attempt posts but the workflow never learns the ref (Message
	// stays nil), so the retry must find the message instead of posting again.
	first, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
	if err != nil {
		t.Fatal(err)
	}
	inc.Occurrences = 5
	second, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fake.OKCalls("chat.postMessage")); n != 1 {
		t.Errorf("%d chat.postMessage calls, want exactly 1", n)
	}
	if !first.Posted || second.Posted || first.Message != second.Message {
		t.Errorf("first %+v, second %+v: want the retry to reuse the posted message", first, second)
	}
	if len(fake.OKCalls("chat.update")) != 1 || !strings.Contains(string(fake.Messages("#5xx-error-logs")[0].Blocks), "*Occurrences*\\n5") {
		t.Errorf("retry did not edit the message to 5 occurrences")
	}
}

func TestFindIgnoresOtherMessages(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()
	if _, err := n.Post(ctx, recentIncident("other-5xx", "")); err != nil {
		t.Fatal(err)
	}
	inc := recentIncident("alb-5xx", "")
	if ref, err := n.Find(ctx, inc); err != nil || ref != nil {
		t.Fatalf("Find = %+v, %v; want nothing for an incident never posted", ref, err)
	}
	posted, err := n.Post(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	// A re-fire keeps the ID but opens anew; the old message is not its announcement.
	refire := *inc
	refire.OpenedAt = inc.OpenedAt.Add(time.Second)
	if ref, err := n.Find(ctx, &refire); err != nil || ref != nil {
		t.Errorf("Find for a re-fire = %+v, %v; want nothing", ref, err)
	}
	if ref, err := n.Find(ctx, inc); err != nil || ref == nil || *ref != *posted {
		t.Errorf("Find = %+v, %v; want %+v", ref, err, posted)
	}
}

func TestUpdateEditsInPlace(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()
	inc := recentIncident("alb-5xx", "")
	ref, err := n.Post(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	inc.Status = incident.StatusAcknowledged
	inc.AcknowledgedBy, inc.AcknowledgedAt = "slack:U42 (alice)", time.Now()
	if err := n.Update(ctx, *ref, inc); err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages("#5xx-error-logs")
	if len(msgs) != 1 || msgs[0].Edited != 1 {
		t.Fatalf("channel holds %d messages (edited %d times), want 1 edited once", len(msgs), msgs[0].Edited)
	}
	if b := string(msgs[0].Blocks); !strings.Contains(b, "Acknowledged by \\u003c@U42\\u003e") && !strings.Contains(b, "Acknowledged by <@U42>") {
		t.Errorf("edited blocks lack the acknowledgement: %s", b)
	}
	if strings.Contains(string(msgs[0].Blocks), `"irflow_ack"`) {
		t.Errorf("acknowledged message still has the Acknowledge button")
	}
}

func TestEscalationEventMentions(t *testing.T) {
	fake := newFake(t)
	oncall := fake.AddUserGroup("sec-oncall", "U1", "U2")
	n := MustNotifier(t, fake, func(c *config.Slack) { c.EscalationChannel = "#oncall" })
	ctx := context.Background()
	inc := recentIncident("sqli", "waf")
	ref, err := n.Post(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	ev := activities.Event{
		Kind: incident.EntryEscalated, Text: "nobody acknowledged in 15m", Level: 0,
		Escalation: &incident.EscalationLevel{After: 15 * time.Minute, Targets: []incident.Target{
			{UserGroup: "@sec-oncall"}, {Users: []string{"U0777ABC"}},
		}},
	}
	if err := n.Event(ctx, *ref, inc, ev); err != nil {
		t.Fatal(err)
	}
	replies := fake.Replies("#waf-alerts", ref.ID)
	if len(replies) != 1 {
		t.Fatalf("thread has %d replies, want 1", len(replies))
	}
	for _, want := range []string{"<!subteam^" + oncall + ">", "<@U0777ABC>", "nobody acknowledged in 15m"} {
		if !strings.Contains(replies[0].Text, want) {
			t.Errorf("thread reply %q lacks %q", replies[0].Text, want)
		}
	}
	notices := fake.Messages("#oncall")
	if len(notices) != 1 || !strings.Contains(notices[0].Text, "https://fake.slack.test/archives/") ||
		!strings.Contains(notices[0].Text, "<!subteam^"+oncall+">") {
		t.Errorf("escalation channel holds %+v, want one notice linking the incident and mentioning the group", notices)
	}

	// Other events are plain thread replies.
	if err := n.Event(ctx, *ref, inc, activities.Event{Kind: incident.EntryAcknowledged, Actor: "slack:U9 (bob)", Text: "acknowledged"}); err != nil {
		t.Fatal(err)
	}
	if r := fake.Replies("#waf-alerts", ref.ID); len(r) != 2 || !strings.Contains(r[1].Text, "<@U9>") {
		t.Errorf("replies %+v, want a second reply naming <@U9>", r)
	}
	if len(fake.Messages("#oncall")) != 1 {
		t.Errorf("a non-escalation event posted to the escalation channel")
	}
}

func TestErrorsClassified(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()
	inc := recentIncident("alb-5xx", "")

	fake.RateLimitNext("chat.postMessage", 7*time.Second)
	_, err := n.Post(ctx, inc)
	var later *activities.RetryAfterError
	if !errors.As(err, &later) || later.After != 7*time.Second {
		t.Fatalf("rate-limited post: %v, want RetryAfterError after 7s", err)
	}

	// In default_channel, where no fallback is left (see TestUnusableRouteFallsBack).
	fake.FailNext("chat.postMessage", "channel_not_found")
	_, err = n.Post(ctx, recentIncident("disk", ""))
	var perm *activities.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("channel_not_found post: %v, want PermanentError", err)
	}

	fake.FailNext("chat.update", "internal_error")
	err = n.Update(ctx, incident.MessageRef{Notifier: "slack", Channel: fake.ChannelID("#alerts"), ID: "1.000001"}, inc)
	if err == nil || errors.As(err, &perm) || errors.As(err, &later) {
		t.Fatalf("internal_error update: %v, want a plain retryable error", err)
	}

	// A route to a channel that does not exist: Find cannot look (it might be
	// private and unlisted), and the post fails permanently.
	n = MustNotifier(t, fake, func(c *config.Slack) { c.DefaultChannel = "#gone" })
	res, err := (&activities.Notify{Notifier: n}).NotifyIncident(ctx, activities.NotifyInput{Incident: *recentIncident("disk", "")})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeNotifyPermanent || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("notify in a missing channel: %+v, %v; want a permanent channel_not_found", res, err)
	}
	if n := len(fake.OKCalls("chat.postMessage")); n != 0 {
		t.Errorf("%d messages posted despite the failures", n)
	}
}

func TestPostText(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()
	ref, err := n.PostText(ctx, "#alerts", "daily digest: 3 incidents")
	if err != nil {
		t.Fatal(err)
	}
	if m := fake.Messages("#alerts"); len(m) != 1 || m[0].TS != ref.ID || m[0].Text != "daily digest: 3 incidents" {
		t.Errorf("#alerts holds %+v, want the digest at %s", m, ref.ID)
	}
	var perm *activities.PermanentError
	if _, err := n.PostText(ctx, "#security-digest", "x"); !errors.As(err, &perm) {
		t.Errorf("post to a missing channel: %v, want PermanentError", err)
	}
}

// Find reads history with its own light decoder; Slack's answers must still
// map onto the retry vocabulary, and it must page past other messages.
func TestFindErrorsAndPaging(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	ctx := context.Background()
	inc := recentIncident("alb-5xx", "")
	posted, err := n.Post(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	// More newer messages than one page holds: the announcement is on page 2.
	for range slack.FindPageSize + 5 {
		if _, err := n.PostText(ctx, "#5xx-error-logs", "chatter"); err != nil {
			t.Fatal(err)
		}
	}
	if ref, err := n.Find(ctx, inc); err != nil || ref == nil || *ref != *posted {
		t.Fatalf("Find behind a full page = %+v, %v; want %+v", ref, err, posted)
	}

	fake.RateLimitNext("conversations.history", 3*time.Second)
	var later *activities.RetryAfterError
	if _, err := n.Find(ctx, inc); !errors.As(err, &later) || later.After != 3*time.Second {
		t.Errorf("rate-limited Find: %v, want RetryAfterError after 3s", err)
	}
	fake.FailNext("conversations.history", "not_in_channel")
	if ref, err := n.Find(ctx, inc); err != nil || ref != nil {
		t.Errorf("Find without channel membership = %+v, %v; want nothing and no error", ref, err)
	}
	fake.FailNext("conversations.history", "invalid_auth")
	var perm *activities.PermanentError
	if _, err := n.Find(ctx, inc); !errors.As(err, &perm) || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("Find with a revoked token: %v, want a permanent invalid_auth error", err)
	}
}

// Posts and edits are not retried inside the local activity: in a storm the
// retry would hold the workflow task open until Temporal fails it. They fail
// at once as NotifyRetryLater (the workflow tries again at its next slot);
// a call that tells an event keeps its retries, since a failed event is lost.
func TestOnlyEventsRetryInPlace(t *testing.T) {
	fake := newFake(t)
	n := MustNotifier(t, fake)
	act := &activities.Notify{Notifier: n}
	ctx := context.Background()
	inc := recentIncident("alb-5xx", "")
	res, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
	if err != nil {
		t.Fatal(err)
	}
	inc.Message = &res.Message

	for _, tc := range []struct {
		name    string
		fault   func()
		event   *activities.Event
		message *incident.MessageRef
		want    string // ApplicationError type
		retry   bool
	}{
		{"edit, 429", func() { fake.RateLimitNext("chat.update", time.Second) }, nil, inc.Message, activities.ErrTypeNotifyRetryLater, false},
		{"edit, lost answer", func() { fake.LoseResponseNext("chat.update") }, nil, inc.Message, activities.ErrTypeNotifyRetryLater, false},
		{"edit, 5xx", func() { fake.FailNext("chat.update", "internal_error") }, nil, inc.Message, activities.ErrTypeNotifyRetryLater, false},
		{"first post, 429", func() { fake.RateLimitNext("chat.postMessage", time.Second) }, nil, nil, activities.ErrTypeNotifyRetryLater, false},
		{"edit, permanent", func() { fake.FailNext("chat.update", "message_not_found") }, nil, inc.Message, activities.ErrTypeNotifyPermanent, false},
		{"edit with an event, 429", func() { fake.RateLimitNext("chat.update", time.Second) },
			&activities.Event{Kind: incident.EntryAcknowledged, Text: "acknowledged"}, inc.Message, "NotifyRateLimited", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault()
			in := *inc
			in.Message = tc.message
			if tc.message == nil {
				in.ID += "-new" // nothing to find
			}
			_, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: in, Event: tc.event})
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != tc.want || appErr.NonRetryable() == tc.retry {
				t.Fatalf("error %v, want %s (retried in place: %v)", err, tc.want, tc.retry)
			}
			if strings.Contains(tc.name, "429") && appErr.NextRetryDelay() != time.Second {
				t.Errorf("next retry delay %s, want Retry-After 1s for the workflow", appErr.NextRetryDelay())
			}
		})
	}
}
