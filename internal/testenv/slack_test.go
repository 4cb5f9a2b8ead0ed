package testenv

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func slackClient(f *Slack) *slack.Client { return slack.New("xoxb-test", slack.OptionAPIURL(f.URL())) }

func TestHistoryPagesAndMetadata(t *testing.T) {
	f := NewSlack(t)
	id := f.AddChannel("#alerts")
	api := slackClient(f)
	ctx := context.Background()
	var posted []string
	for i := range 5 {
		_, ts, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("m", false),
			slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "e", EventPayload: map[string]any{"i": i}}))
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, ts)
	}
	if _, _, err := api.PostMessageContext(ctx, id, slack.MsgOptionText("reply", false), slack.MsgOptionTS(posted[0])); err != nil {
		t.Fatal(err)
	}

	var got []string
	params := &slack.GetConversationHistoryParameters{ChannelID: id, Limit: 2, IncludeAllMetadata: true}
	for {
		resp, err := api.GetConversationHistoryContext(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			if m.Metadata.EventType != "e" {
				t.Errorf("message %s lacks metadata with include_all_metadata", m.Timestamp)
			}
			got = append(got, m.Timestamp)
		}
		if !resp.HasMore {
			break
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	if len(got) != 5 || got[0] != posted[4] || got[4] != posted[0] {
		t.Errorf("history %v, want the 5 top-level messages newest first (posted %v)", got, posted)
	}

	resp, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: id, Oldest: posted[2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Messages) != 2 || resp.Messages[0].Metadata.EventType != "" {
		t.Errorf("history after %s: %d messages (metadata %q), want 2 without metadata", posted[2], len(resp.Messages), resp.Messages[0].Metadata.EventType)
	}
	if r := f.Replies(id, posted[0]); len(r) != 1 || r[0].Text != "reply" {
		t.Errorf("replies %+v, want the one thread reply", r)
	}
}

func TestFaultsAndRecording(t *testing.T) {
	f := NewSlack(t)
	f.AddChannel("alerts")
	api := slackClient(f)
	ctx := context.Background()

	f.RateLimitNext("chat.postMessage", 1500*time.Millisecond)
	f.FailNext("chat.postMessage", "is_archived")
	_, _, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("a", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Fatalf("first post: %v, want rate limited for 2s", err)
	}
	_, _, err = api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("a", false))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "is_archived" {
		t.Fatalf("second post: %v, want is_archived", err)
	}
	_, ts, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("a", false))
	if err != nil {
		t.Fatalf("third post: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "#nope", slack.MsgOptionText("a", false)); !errors.As(err, &se) || se.Err != "channel_not_found" {
		t.Fatalf("post to unknown channel: %v, want channel_not_found", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, f.ChannelID("alerts"), ts, slack.MsgOptionText("b", false)); err != nil {
		t.Fatal(err)
	}

	calls := f.Calls("chat.postMessage")
	if len(calls) != 4 || calls[0].Error != "ratelimited" || calls[1].Error != "is_archived" || calls[2].TS != ts {
		t.Errorf("recorded %+v", calls)
	}
	if ok := f.OKCalls("chat.postMessage"); len(ok) != 1 {
		t.Errorf("%d successful posts recorded, want 1", len(ok))
	}
	if m := f.Messages("alerts"); len(m) != 1 || m[0].Text != "b" || m[0].Edited != 1 {
		t.Errorf("messages %+v, want one edited message", m)
	}
	link, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: f.ChannelID("alerts"), Ts: ts})
	if err != nil || link == "" {
		t.Errorf("permalink %q, %v", link, err)
	}
}

func TestLoseResponseNextPostsButDoesNotAnswer(t *testing.T) {
	f := StartSlack()
	defer f.Close()
	f.AddChannel("#alerts")
	var seen []string
	f.OnCall(func(c SlackCall) { seen = append(seen, c.Method+":"+c.Error) })
	f.LoseResponseNext("chat.postMessage")
	api := slackClient(f)
	ctx := context.Background()
	if _, _, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("lost", false)); err == nil {
		t.Fatal("post whose response was lost succeeded, want a transport error")
	}
	if _, _, err := api.PostMessageContext(ctx, "#alerts", slack.MsgOptionText("second", false)); err != nil {
		t.Fatalf("next post: %v", err)
	}
	if msgs := f.Messages("#alerts"); len(msgs) != 2 || msgs[0].Text != "lost" {
		t.Errorf("messages %+v, want the lost-answer post kept and then the second", msgs)
	}
	if got := len(f.OKCalls("chat.postMessage")); got != 2 {
		t.Errorf("%d ok posts, want 2 (a lost answer still took effect)", got)
	}
	if len(seen) != 2 || seen[0] != "chat.postMessage:response_lost" || seen[1] != "chat.postMessage:" {
		t.Errorf("OnCall saw %v", seen)
	}
}

func TestForbidUnlistedAndInjectedFaults(t *testing.T) {
	f := NewSlack(t)
	public := f.AddChannel("#alerts")
	private := f.AddUnlistedChannel("#sec-private")
	api := slackClient(f)
	ctx := context.Background()

	chans, _, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{})
	if err != nil || len(chans) != 1 || chans[0].ID != public {
		t.Fatalf("conversations.list = %+v, %v; want only #alerts (%s)", chans, err, public)
	}
	ch, _, err := api.PostMessageContext(ctx, "#sec-private", slack.MsgOptionText("by name", false))
	if err != nil || ch != private {
		t.Fatalf("post to the unlisted channel = %s, %v; want accepted in %s", ch, err, private)
	}

	f.Forbid("conversations.list", "missing_scope")
	for range 2 {
		var se slack.SlackErrorResponse
		if _, _, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{}); !errors.As(err, &se) || se.Err != "missing_scope" {
			t.Fatalf("forbidden listing: %v, want missing_scope every time", err)
		}
	}
	f.Forbid("conversations.list", "")
	if _, _, err := api.GetConversationsContext(ctx, &slack.GetConversationsParameters{}); err != nil {
		t.Fatalf("listing after Forbid(\"\"): %v", err)
	}

	var n int
	f.InjectFaults(func(method string) *SlackFault {
		if method != "chat.postMessage" {
			return nil
		}
		n++
		switch n {
		case 1:
			return &SlackFault{HTTPStatus: http.StatusServiceUnavailable}
		case 2:
			return &SlackFault{Code: "ratelimited", RetryAfter: time.Second}
		case 3:
			return &SlackFault{LoseResponse: true}
		}
		return nil
	})
	f.FailNext("chat.postMessage", "is_archived") // queued faults come first
	var se slack.SlackErrorResponse
	if _, _, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("x", false)); !errors.As(err, &se) || se.Err != "is_archived" {
		t.Fatalf("queued fault: %v, want is_archived", err)
	}
	var sc slack.StatusCodeError
	if _, _, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("x", false)); !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
		t.Fatalf("injected 503: %v", err)
	}
	var rl *slack.RateLimitedError
	if _, _, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("x", false)); !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("injected 429: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("lost", false)); err == nil {
		t.Fatal("injected lost answer: the post succeeded, want a transport error")
	}
	if _, _, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("ok", false)); err != nil {
		t.Fatalf("after the injected faults: %v", err)
	}
	if m := f.Messages(public); len(m) != 2 || m[0].Text != "lost" || m[1].Text != "ok" {
		t.Errorf("messages %+v, want the lost-answer post and the last one", m)
	}
	var errs []string
	for _, c := range f.Calls("chat.postMessage")[1:] {
		errs = append(errs, c.Error)
	}
	if want := []string{"is_archived", "Service Unavailable", "ratelimited", "response_lost", ""}; !slices.Equal(errs, want) {
		t.Errorf("recorded errors %q, want %q", errs, want)
	}
}
