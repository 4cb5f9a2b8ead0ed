package slack_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
)

// loggedNotifier is MustNotifier with its log kept for the test to read.
func loggedNotifier(tb testing.TB, fake *testenv.Slack, mutate ...func(*config.Slack)) (*slack.Notifier, *testenv.Buffer) {
	tb.Helper()
	cfg := config.Slack{
		Token: "xoxb-test", APIURL: fake.URL(), DefaultChannel: "#alerts",
		Routes: []config.Route{
			{Match: config.RouteMatch{Category: "waf"}, Channel: "#waf-alerts"},
			{Match: config.RouteMatch{Rule: "*5xx*"}, Channel: "#5xx-error-logs"},
			{Match: config.RouteMatch{Category: "auth"}, Channel: "#sec-private"},
		},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	var log testenv.Buffer
	n, err := slack.New(cfg, slack.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		tb.Fatal(err)
	}
	return n, &log
}

// The announcement never waits on the duplicate check: when Find cannot look,
// the incident is posted by channel name, the timeline is told why (through
// NotifyResult.Warnings) and so is the log. Once a post has answered with the
// channel's ID, a retried notify finds the message again.
func TestPostWhenFindCannotLook(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(*testenv.Slack)
		rule     string
		category string
		channel  string
		why      string // in the warning
		// dedup: a second notify without the ref finds the first post.
		dedup bool
	}{
		{
			name:  "listing forbidden (no channels:read)",
			setup: func(f *testenv.Slack) { f.Forbid("conversations.list", "missing_scope") },
			rule:  "alb-5xx", channel: "#5xx-error-logs", why: "missing_scope", dedup: true,
		},
		{
			name:  "private channel absent from the list",
			setup: func(f *testenv.Slack) { f.AddUnlistedChannel("#sec-private") },
			rule:  "login-failures", category: "auth", channel: "#sec-private", why: "not in conversations.list", dedup: true,
		},
		{
			name: "listing fails",
			setup: func(f *testenv.Slack) {
				f.InjectFaults(func(method string) *testenv.SlackFault {
					if method == "conversations.list" {
						return &testenv.SlackFault{HTTPStatus: http.StatusServiceUnavailable}
					}
					return nil
				})
			},
			rule: "alb-5xx", channel: "#5xx-error-logs", why: "503", dedup: true,
		},
		{
			name:  "history forbidden (no channels:history)",
			setup: func(f *testenv.Slack) { f.Forbid("conversations.history", "missing_scope") },
			rule:  "alb-5xx", channel: "#5xx-error-logs", why: "missing_scope",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t)
			tc.setup(fake)
			n, log := loggedNotifier(t, fake)
			act := &activities.Notify{Notifier: n}
			inc := recentIncident(tc.rule, tc.category)
			ctx := context.Background()

			res, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
			if err != nil {
				t.Fatalf("notify: %v; want the incident announced anyway", err)
			}
			msgs := fake.Messages(tc.channel)
			if !res.Posted || len(msgs) != 1 || msgs[0].TS != res.Message.ID {
				t.Fatalf("result %+v, %s holds %d messages; want one post there", res, tc.channel, len(msgs))
			}
			if want := fake.ChannelID(tc.channel); res.Message.Channel != want {
				t.Errorf("message ref channel %q, want the ID %s from the post's answer (updates and replies need it)", res.Message.Channel, want)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.channel) || !strings.Contains(res.Warnings[0], tc.why) ||
				!strings.Contains(res.Warnings[0], "duplicate check") {
				t.Errorf("warnings %q, want one naming %s, %q and the missing duplicate check", res.Warnings, tc.channel, tc.why)
			}
			if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, tc.channel) {
				t.Errorf("log %q, want a warning naming %s", l, tc.channel)
			}

			// The retry of a notify whose answer was lost.
			inc.Occurrences = 3
			again, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
			if err != nil {
				t.Fatal(err)
			}
			posts := len(fake.Messages(tc.channel))
			if tc.dedup {
				if posts != 1 || again.Posted || again.Message != res.Message || len(again.Warnings) != 0 {
					t.Errorf("retry: %+v, %d messages; want the first message found and edited, no warning", again, posts)
				}
			} else if posts != 2 || len(again.Warnings) != 1 {
				// Nothing can be read: a second post is the price, and it is told.
				t.Errorf("retry: %+v, %d messages; want a second, warned post", again, posts)
			}
		})
	}
}

// A failed listing is not repeated for every incident: conversations.list is
// rate limited, and missing scopes do not appear between two alerts.
func TestFailedListingIsRemembered(t *testing.T) {
	fake := newFake(t)
	fake.Forbid("conversations.list", "missing_scope")
	n, _ := loggedNotifier(t, fake)
	act := &activities.Notify{Notifier: n}
	ctx := context.Background()
	for _, inc := range []*incident.Incident{recentIncident("a-5xx", ""), recentIncident("sqli", "waf"), recentIncident("disk", "")} {
		res, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
		if err != nil || !res.Posted {
			t.Fatalf("notify %s: %+v, %v", inc.ID, res, err)
		}
	}
	if c := len(fake.Calls("conversations.list")); c != 1 {
		t.Errorf("%d conversations.list calls for three incidents, want 1", c)
	}
}

// Escalation notices come after the thread reply that mentions the on-call:
// a notice that fails must not fail the activity, whose retry would post the
// reply (and page everyone) again.
func TestEscalationNoticeFailureDoesNotRepeatMentions(t *testing.T) {
	fake := newFake(t)
	n, _ := loggedNotifier(t, fake, func(c *config.Slack) { c.EscalationChannel = "#oncall" })
	ctx := context.Background()
	inc := recentIncident("sqli", "waf")
	ref, err := n.Post(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	// The thread reply goes through; every notice after it fails.
	var posts int
	fake.InjectFaults(func(method string) *testenv.SlackFault {
		if method != "chat.postMessage" {
			return nil
		}
		if posts++; posts > 1 {
			return &testenv.SlackFault{Code: "internal_error"}
		}
		return nil
	})
	act := &activities.Notify{Notifier: n}
	inc.Message = ref
	res, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc, Event: &activities.Event{
		Kind: incident.EntryEscalated, Text: "not acknowledged", Escalation: &incident.EscalationLevel{
			After: time.Minute, Targets: []incident.Target{{Channel: "#alerts", UserGroup: "@nobody-by-that-name"}},
		},
	}})
	if err != nil {
		t.Fatalf("escalation with failing notices: %v; want success (the mentions are out)", err)
	}
	if r := fake.Replies("#waf-alerts", ref.ID); len(r) != 1 || !strings.Contains(r[0].Text, "@nobody-by-that-name") {
		t.Errorf("thread replies %+v, want the one escalation reply", r)
	}
	want := []string{"#alerts", "#oncall", "@nobody-by-that-name"}
	if len(res.Warnings) != len(want) {
		t.Errorf("warnings %q, want one each for %q", res.Warnings, want)
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(res.Warnings, "\n"), w) {
			t.Errorf("warnings %q lack %s", res.Warnings, w)
		}
	}
}

// A route to a channel irflow cannot post to (missing, archived, bot not in
// it) must not silence the incident: it goes to default_channel, its thread
// says why, and so do the timeline and the log. A retry finds it there.
func TestUnusableRouteFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*testenv.Slack)
		why   string
	}{
		{"channel missing", func(*testenv.Slack) {}, "channel_not_found"},
		{"bot not in the channel", func(f *testenv.Slack) {
			f.AddChannel("#4xx-error-logs")
			f.FailNext("chat.postMessage", "not_in_channel")
		}, "not_in_channel"},
		{"channel archived", func(f *testenv.Slack) {
			f.AddChannel("#4xx-error-logs")
			f.FailNext("chat.postMessage", "is_archived")
		}, "is_archived"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t)
			tc.setup(fake)
			n, log := loggedNotifier(t, fake, func(c *config.Slack) {
				c.Routes = append(c.Routes, config.Route{Match: config.RouteMatch{Rule: "*4xx*"}, Channel: "#4xx-error-logs"})
			})
			act := &activities.Notify{Notifier: n}
			inc := recentIncident("fe-4xx-spike", "")
			ctx := context.Background()
			res, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
			if err != nil {
				t.Fatalf("notify: %v; want the incident announced in default_channel", err)
			}
			msgs := fake.Messages("#alerts")
			if !res.Posted || res.Message.Channel != fake.ChannelID("#alerts") || len(msgs) != 2 || msgs[0].TS != res.Message.ID {
				t.Fatalf("result %+v, #alerts holds %+v; want the announcement and a note in its thread", res, msgs)
			}
			if note := msgs[1]; note.ThreadTS != res.Message.ID || !strings.Contains(note.Text, "#4xx-error-logs") || !strings.Contains(note.Text, tc.why) {
				t.Errorf("thread note %+v, want one naming #4xx-error-logs and %s", note, tc.why)
			}
			all := strings.Join(res.Warnings, "\n")
			if !strings.Contains(all, "cannot post to #4xx-error-logs ("+tc.why+")") || !strings.Contains(all, "announced in #alerts") {
				t.Errorf("warnings %q, want the refusal and where the incident went", res.Warnings)
			}
			if !strings.Contains(log.String(), "default_channel=#alerts") {
				t.Errorf("log %q lacks the fallback", log.String())
			}

			inc.Occurrences = 2
			again, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *inc})
			if err != nil || again.Posted || again.Message != res.Message {
				t.Errorf("retry: %+v, %v; want the fallback message found and edited", again, err)
			}
			if len(fake.Messages("#alerts")) != 2 {
				t.Errorf("#alerts holds %d messages after the retry, want still 2", len(fake.Messages("#alerts")))
			}

			// The next incident for that channel goes straight to #alerts, told the same way.
			other, err := act.NotifyIncident(ctx, activities.NotifyInput{Incident: *recentIncident("be-4xx-spike", "")})
			if err != nil || !other.Posted || other.Message.Channel != fake.ChannelID("#alerts") || len(other.Warnings) != 1 {
				t.Errorf("next incident: %+v, %v; want it in #alerts with one warning", other, err)
			}
			if r := fake.Replies("#alerts", other.Message.ID); len(r) != 1 || !strings.Contains(r[0].Text, tc.why) {
				t.Errorf("next incident's thread %+v, want the note", r)
			}
			var tries int
			for _, c := range fake.Calls("chat.postMessage") {
				if c.Channel == "#4xx-error-logs" {
					tries++
				}
			}
			if tries != 1 {
				t.Errorf("%d posts tried in #4xx-error-logs, want 1: a refused channel is avoided for a while", tries)
			}
		})
	}
}
