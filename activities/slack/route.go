// Package slack announces incidents in Slack: Block Kit messages with buttons,
// edited in place as the incident changes, with events in the message's thread.
// Its config is the slack section, config.Slack.
package slack

import (
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// matches reports whether the route applies to inc.
func matches(m config.RouteMatch, inc *incident.Incident) bool {
	a := inc.Alert
	if !incident.Glob(m.Rule, a.Rule) || !incident.Glob(m.Category, a.Category) || !incident.Glob(m.Env, a.Env) {
		return false
	}
	if m.Severity != "" {
		want, atLeast, err := incident.ParseSeverityMatch(m.Severity)
		if err != nil {
			return false
		}
		sev := inc.Severity
		if sev == incident.SeverityUnknown {
			sev = a.Severity
		}
		if atLeast && sev < want || !atLeast && sev != want {
			return false
		}
	}
	return true
}

// Channel returns the channel for inc: the alert's own channel when it names
// one, else the first matching route's, else the section's default_channel.
func Channel(c *config.Slack, inc *incident.Incident) string {
	// The alert's own channel (a rule's slack_channel_override) comes first.
	if ch := inc.Alert.Channel; ch != "" {
		return ch
	}
	for _, r := range c.Routes {
		if matches(r.Match, inc) {
			return r.Channel
		}
	}
	return c.DefaultChannel
}
