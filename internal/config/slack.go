package config

import (
	"fmt"
	"strings"

	"github.com/irflow/irflow/incident"
)

// Slack is the `slack:` section: where the worker announces incidents. It is
// used when a bot token is set (here or in SLACK_BOT_TOKEN); otherwise
// incidents go to the console.
type Slack struct {
	// Token is the bot token (xoxb-...). Usually from SLACK_BOT_TOKEN.
	Token string `yaml:"token" json:"token,omitempty"`
	// APIURL overrides Slack's Web API base URL (tests, proxies); must end in "/".
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
	// DefaultChannel receives incidents no route matches.
	DefaultChannel string `yaml:"default_channel" json:"default_channel"`
	// Routes are tried in order; the first match wins.
	Routes []Route `yaml:"routes" json:"routes,omitempty"`
	// EscalationChannel, when set, also gets a short link to each escalated incident.
	EscalationChannel string `yaml:"escalation_channel" json:"escalation_channel,omitempty"`
	// OpenSearchDashboardsURL and TemporalUIURL are the bases of the link buttons;
	// a button is left out when its base is empty.
	OpenSearchDashboardsURL string `yaml:"opensearch_dashboards_url" json:"opensearch_dashboards_url,omitempty"`
	TemporalUIURL           string `yaml:"temporal_ui_url" json:"temporal_ui_url,omitempty"`
	// Namespace is the Temporal namespace in Temporal UI links ("default" when empty).
	Namespace string `yaml:"namespace" json:"namespace,omitempty"`
}

// DefaultSlack is the slack section with nothing set: the channels of the
// runbook irflow's users already follow (DefaultRoutes), #alerts for the rest.
func DefaultSlack() Slack {
	return Slack{DefaultChannel: "#alerts", Routes: DefaultRoutes()}
}

// DefaultRoutes route by what an incident is about. WAF and security
// incidents first (a WAF rule about 4xx answers is still a WAF matter), by
// category or, for CloudWatch alarms that carry none, a rule (alarm) name with
// "waf" in it; then 5xx and 4xx by category or rule name ("be-5xx-burst",
// "irflow-alb-target-5xx", "fe-4xx-spike"; globs ignore case). A file's
// `routes:` replaces them all; `routes: []` turns them off.
func DefaultRoutes() []Route {
	return []Route{
		{Match: RouteMatch{Category: "waf"}, Channel: "#waf-alerts"},
		{Match: RouteMatch{Category: "security"}, Channel: "#waf-alerts"},
		{Match: RouteMatch{Rule: "*waf*"}, Channel: "#waf-alerts"},
		{Match: RouteMatch{Category: "5xx"}, Channel: "#5xx-error-logs"},
		{Match: RouteMatch{Rule: "*5xx*"}, Channel: "#5xx-error-logs"},
		{Match: RouteMatch{Category: "4xx"}, Channel: "#4xx-error-logs"},
		{Match: RouteMatch{Rule: "*4xx*"}, Channel: "#4xx-error-logs"},
	}
}

// Route sends matching incidents to a channel.
type Route struct {
	Match   RouteMatch `yaml:"match" json:"match"`
	Channel string     `yaml:"channel" json:"channel"`
}

// RouteMatch holds the conditions of a route; all set ones must hold, and an
// empty match matches everything. Rule, category and env are exact names or
// globs ("*5xx*", "waf-?"), compared case-insensitively. Severity is a name
// ("high") or a floor (">=high").
type RouteMatch struct {
	Rule     string `yaml:"rule" json:"rule,omitempty"`
	Category string `yaml:"category" json:"category,omitempty"`
	Severity string `yaml:"severity" json:"severity,omitempty"`
	Env      string `yaml:"env" json:"env,omitempty"`
}

// validChannel accepts "#name", "name" (Slack's rules: lowercase letters,
// digits, - and _, at most 80) and channel IDs (C…, G…).
func validChannel(s string) bool { return incident.ValidChannel(s) }

// IsChannelID reports whether s is a Slack channel ID (C…, G…) rather than a name.
func IsChannelID(s string) bool { return incident.IsChannelID(s) }

// Validate checks the config, naming the field: "slack.routes[2].match.severity: ...".
func (c *Slack) Validate() error {
	bad := func(field, format string, args ...any) error {
		return incident.Errorf(incident.EINVALID, "slack.%s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.Token == "" {
		return bad("token", "required (or set %s)", EnvSlackToken)
	}
	if !strings.HasPrefix(c.Token, "xoxb-") && !strings.HasPrefix(c.Token, "xoxp-") {
		return bad("token", "want a bot token starting with xoxb-")
	}
	if c.APIURL != "" && (!strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") || !strings.HasSuffix(c.APIURL, "/")) {
		return bad("api_url", "%q must be an http(s) URL ending in /", c.APIURL)
	}
	if c.DefaultChannel == "" {
		return bad("default_channel", "required")
	}
	if !validChannel(c.DefaultChannel) {
		return bad("default_channel", "%q is not a channel name (#lowercase-name) or ID", c.DefaultChannel)
	}
	if c.EscalationChannel != "" && !validChannel(c.EscalationChannel) {
		return bad("escalation_channel", "%q is not a channel name (#lowercase-name) or ID", c.EscalationChannel)
	}
	for _, u := range []struct{ field, value string }{
		{"opensearch_dashboards_url", c.OpenSearchDashboardsURL}, {"temporal_ui_url", c.TemporalUIURL},
	} {
		if u.value != "" && !strings.HasPrefix(u.value, "http://") && !strings.HasPrefix(u.value, "https://") {
			return bad(u.field, "%q must be an http or https URL", u.value)
		}
	}
	for i, r := range c.Routes {
		if err := r.validate(); err != nil {
			return bad(fmt.Sprintf("routes[%d].%s", i, err.field), "%s", err.msg)
		}
	}
	return nil
}

type fieldError struct{ field, msg string }

func (r Route) validate() *fieldError {
	if r.Channel == "" {
		return &fieldError{"channel", "required"}
	}
	if !validChannel(r.Channel) {
		return &fieldError{"channel", fmt.Sprintf("%q is not a channel name (#lowercase-name) or ID", r.Channel)}
	}
	for _, g := range []struct{ field, value string }{
		{"rule", r.Match.Rule}, {"category", r.Match.Category}, {"env", r.Match.Env},
	} {
		if strings.ContainsAny(g.value, "[]{}") {
			return &fieldError{"match." + g.field, fmt.Sprintf("%q: only * and ? are supported in globs", g.value)}
		}
	}
	if r.Match.Severity != "" {
		if _, _, err := incident.ParseSeverityMatch(r.Match.Severity); err != nil {
			return &fieldError{"match.severity", err.Error()}
		}
	}
	return nil
}
