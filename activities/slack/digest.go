package slack

import (
	"context"
	"fmt"
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
)

// digestOpenLines is how many still-open incidents the message lists; the
// archived Markdown has them all.
const digestOpenLines = 10

var _ activities.Poster = (*Notifier)(nil)

// PostDigest implements activities.Poster: the digest as Block Kit, its
// headline as the notification text.
func (n *Notifier) PostDigest(ctx context.Context, channel string, d incident.Digest) error {
	_, err := n.PostText(ctx, channel, DigestFallbackText(d), DigestBlocks(d)...)
	return err
}

// DigestFallbackText is the digest message's plain text.
func DigestFallbackText(d incident.Digest) string {
	return "📊 Security digest: " + d.Headline()
}

// DigestBlocks renders the digest as Block Kit: the headline, the figures,
// the noisiest rules, what silences held back and who holds what is still
// open. Nobody is mentioned: a digest informs, it does not page.
func DigestBlocks(d incident.Digest) []slackapi.Block {
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, "📊 Security digest", true, false)),
		slackapi.NewSectionBlock(mrkdwn(fmt.Sprintf("*%s*\n%d announced · %d held back by silences\n%s → %s",
			escape(d.Headline()), d.Announced, d.IncidentsOpened-d.Announced, slackDate(d.From), slackDate(d.To))), nil, nil),
	}

	var fields []*slackapi.TextBlockObject
	if len(d.BySeverity) > 0 {
		var parts []string
		for _, c := range d.BySeverity {
			sev, _ := incident.ParseSeverity(c.Name)
			parts = append(parts, fmt.Sprintf("%s %s %d", sev.Emoji(), c.Name, c.Incidents))
		}
		fields = append(fields, mrkdwn("*By severity*\n"+strings.Join(parts, " · ")))
	}
	if d.IncidentsOpened > 0 {
		for _, r := range []struct {
			name string
			p    incident.Percentiles
		}{{"MTTA", d.MTTA}, {"MTTR", d.MTTR}} {
			text := "none yet"
			if r.p.N > 0 {
				text = fmt.Sprintf("p50 %s · p90 %s (%d)", r.p.P50, r.p.P90, r.p.N)
			}
			fields = append(fields, mrkdwn(fmt.Sprintf("*%s*\n%s", r.name, text)))
		}
	}
	if c := d.Correlations; c.Parents > 0 || c.Pairs > 0 {
		fields = append(fields, mrkdwn(fmt.Sprintf("*Correlations*\n%s grouping %s · %s", count(c.Parents, "parent"), count(c.Children, "incident"), count(c.Pairs, "related pair"))))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil))
	}

	if len(d.NoisiestRules) > 0 {
		var lines []string
		for i, c := range d.NoisiestRules {
			lines = append(lines, fmt.Sprintf("%d. `%s` %s, %s", i+1, escape(incident.Truncate(c.Name, 80)), count(c.Alerts, "alert"), count(c.Incidents, "incident")))
		}
		blocks = append(blocks, section("*Noisiest rules*\n"+strings.Join(lines, "\n")))
	}

	if len(d.Silenced) > 0 {
		var lines []string
		for _, s := range d.Silenced {
			lines = append(lines, fmt.Sprintf("`%s` %s, %s", escape(s.Silence), count(s.Incidents, "incident"), count(s.Alerts, "alert")))
		}
		blocks = append(blocks, section("*Held back by silences*\n"+strings.Join(lines, "\n")))
	}

	open := fmt.Sprintf("*Still open (%d)*", len(d.StillOpen))
	if len(d.StillOpen) == 0 {
		open += "\nNothing is open."
	}
	for i, o := range d.StillOpen {
		if i == digestOpenLines {
			open += fmt.Sprintf("\n…and %d more in the archived digest", len(d.StillOpen)-i)
			break
		}
		held := "held by nobody"
		if o.HeldBy != incident.Nobody {
			held = "held by " + escape(o.HeldBy)
		}
		if o.SilencedBy != "" {
			held += ", silenced by " + escape(o.SilencedBy)
		}
		open += fmt.Sprintf("\n%s %s `%s`: %s, %s, open %s", o.Severity.Emoji(), escape(incident.Truncate(o.Title, 80)), o.ID, o.Status, held, o.Age)
	}
	blocks = append(blocks, section(open))

	if d.LeftOut > 0 {
		blocks = append(blocks, slackapi.NewContextBlock("irflow_digest_left_out",
			mrkdwn(count(d.LeftOut, "incident run")+" left out: their state could not be read (terminated or failed workflows, unreadable records).")))
	}
	return blocks
}

func section(text string) *slackapi.SectionBlock {
	return slackapi.NewSectionBlock(mrkdwn(incident.Truncate(text, maxSection)), nil, nil)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
