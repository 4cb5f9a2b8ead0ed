package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
)

// busyDigest has more still-open incidents than the message lists, one
// held by a Slack user, and a silence.
func busyDigest() incident.Digest {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	var incs []incident.Incident
	for i := range 12 {
		inc := incident.Incident{
			ID: fmt.Sprintf("incident-%02d", i), Severity: incident.SeverityHigh, Status: incident.StatusOpen, Occurrences: 3,
			Alert:    incident.Alert{Source: "rules", Rule: fmt.Sprintf("rule-%d", i%3), Title: strings.Repeat("<long & title> ", 20)},
			OpenedAt: from.Add(time.Duration(i) * time.Hour),
		}
		if i == 0 {
			inc.Status, inc.AcknowledgedBy, inc.AcknowledgedAt = incident.StatusAcknowledged, "slack:U0ALICE1 (alice)", inc.OpenedAt.Add(4*time.Minute)
		}
		if i == 11 {
			inc.SilencedBy = "maint-42"
		}
		incs = append(incs, inc)
	}
	return incident.BuildDigest(incs, from, from.Add(24*time.Hour))
}

func TestPostDigestPostsBlockKit(t *testing.T) {
	fake := newFake(t)
	fake.AddChannel("#security-digest")
	n := MustNotifier(t, fake)
	d := busyDigest()
	if err := n.PostDigest(context.Background(), "#security-digest", d); err != nil {
		t.Fatal(err)
	}
	msgs := fake.Messages("#security-digest")
	if len(msgs) != 1 {
		t.Fatalf("%d messages in #security-digest, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Text != "📊 Security digest: 36 alerts → 12 incidents (3.0:1)" {
		t.Errorf("text = %q", m.Text)
	}
	var blocks slackapi.Blocks
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks do not parse: %v\n%s", err, m.Blocks)
	}
	if len(blocks.BlockSet) > 50 {
		t.Errorf("%d blocks, Slack takes at most 50", len(blocks.BlockSet))
	}
	var text strings.Builder
	for _, b := range blocks.BlockSet {
		if s, ok := b.(*slackapi.SectionBlock); ok {
			if s.Text != nil {
				if len(s.Text.Text) > 3000 {
					t.Errorf("section of %d characters, Slack takes 3000", len(s.Text.Text))
				}
				text.WriteString(s.Text.Text + "\n")
			}
			for _, f := range s.Fields {
				text.WriteString(f.Text + "\n")
			}
		}
	}
	for _, want := range []string{
		"*36 alerts → 12 incidents (3.0:1)*\n11 announced · 1 held back by silences",
		"*MTTA*\np50 4m · p90 4m (1)", "*MTTR*\nnone yet", "🚨 high 12",
		"1. `rule-0` 12 alerts, 4 incidents", "`maint-42` 1 incident, 3 alerts",
		"*Still open (12)*", "held by slack:U0ALICE1 (alice)", "&lt;long &amp; title&gt;", "…and 2 more in the archived digest",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("message lacks %q:\n%s", want, text.String())
		}
	}
	// A digest informs; it pages nobody.
	if strings.Contains(string(m.Blocks), "<@") {
		t.Errorf("the digest mentions someone:\n%s", m.Blocks)
	}

	// A channel Slack does not know fails for good, not after retries.
	err := n.PostDigest(context.Background(), "#no-such-channel", d)
	var perm *activities.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("post to a missing channel: %v, want a permanent channel_not_found", err)
	}
}

func TestDigestBlocksOfAQuietDay(t *testing.T) {
	from := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	blocks := slack.DigestBlocks(incident.BuildDigest(nil, from, from.Add(24*time.Hour)))
	b, _ := json.Marshal(blocks)
	for _, want := range []string{"0 alerts → 0 incidents", "Nothing is open."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("quiet digest lacks %q: %s", want, b)
		}
	}
	if strings.Contains(string(b), "MTTA") || strings.Contains(string(b), "Noisiest") {
		t.Errorf("quiet digest shows empty figures: %s", b)
	}
}
