// Package slack announces incidents in Slack: Block Kit messages with buttons,
// edited in place as the incident changes, with events in the message's thread.
// Its config is the slack section, config.Slack.
package slack

import (
	"strings"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// matches reports whether the route applies to inc.
func matches(m config.RouteMatch, inc *incident.Incident) bool {
	a := inc.Alert
	if !glob(m.Rule, a.Rule) || !glob(m.Category, a.Category) || !glob(m.Env, a.Env) {
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

// glob matches s against pattern with * (any run) and ? (one rune), ignoring
// case; an empty pattern matches anything.
func glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative wildcard match with backtracking to the last star.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// Channel returns the channel for inc: the first matching route's, else the
// section's default_channel.
func Channel(c *config.Slack, inc *incident.Incident) string {
	for _, r := range c.Routes {
		if matches(r.Match, inc) {
			return r.Channel
		}
	}
	return c.DefaultChannel
}
