package slack

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// MustLoadConfig decodes a YAML document with a top-level slack: key strictly.
func MustLoadConfig(tb testing.TB, doc string) config.Slack {
	tb.Helper()
	cfg, err := loadConfig(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func loadConfig(doc string) (config.Slack, error) {
	var file struct {
		Slack config.Slack `yaml:"slack"`
	}
	if err := yaml.UnmarshalWithOptions([]byte(doc), &file, yaml.Strict()); err != nil {
		return config.Slack{}, err
	}
	file.Slack.Token = "xoxb-test"
	return file.Slack, file.Slack.Validate()
}

func alertInc(rule, category string, sev incident.Severity) *incident.Incident {
	return &incident.Incident{
		ID:       "incident-x",
		Alert:    incident.Alert{Source: "rules", Rule: rule, Category: category, Env: "prod", Severity: sev},
		Severity: sev,
	}
}

func TestExampleConfigRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", "slack.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := MustLoadConfig(t, string(b))
	for _, tc := range []struct {
		rule, category string
		want           string
	}{
		{"uc-be 5xx spike", "reliability", "#5xx-error-logs"},
		{"ALB-5XX-count", "", "#5xx-error-logs"},
		{"us-fe 4xx burst", "reliability", "#4xx-error-logs"},
		{"sqli attempts", "waf", "#waf-alerts"},
		{"blocked 4xx from one IP", "WAF", "#waf-alerts"}, // first route wins
		{"disk almost full", "capacity", "#alerts"},
	} {
		if got := Channel(&cfg, alertInc(tc.rule, tc.category, incident.SeverityHigh)); got != tc.want {
			t.Errorf("rule %q category %q: routed to %s, want %s", tc.rule, tc.category, got, tc.want)
		}
	}
}

func TestConfigStrictAndValidate(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key", `
slack:
  default_channel: "#alerts"
  routes:
    - match: {severty: high}
      channel: "#x"
`, "unknown field \"severty\""},
		{"bad severity", `
slack:
  default_channel: "#alerts"
  routes:
    - match: {rule: a}
      channel: "#a"
    - match: {rule: b}
      channel: "#b"
    - match: {severity: urgent}
      channel: "#c"
`, `slack.routes[2].match.severity: unknown severity "urgent"`},
		{"missing channel", `
slack:
  default_channel: "#alerts"
  routes:
    - match: {rule: "*5xx*"}
`, "slack.routes[0].channel: required"},
		{"bad channel", `
slack:
  default_channel: "#Alerts Channel"
`, `slack.default_channel: "#Alerts Channel" is not a channel name`},
		{"bad glob", `
slack:
  default_channel: "#alerts"
  routes:
    - match: {rule: "[45]xx"}
      channel: "#x"
`, `slack.routes[0].match.rule: "[45]xx": only * and ? are supported`},
		{"no default", `
slack:
  routes: []
`, "slack.default_channel: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRouteMatch(t *testing.T) {
	for _, tc := range []struct {
		match config.RouteMatch
		inc   *incident.Incident
		want  bool
	}{
		{config.RouteMatch{}, alertInc("anything", "", incident.SeverityLow), true},
		{config.RouteMatch{Severity: ">=high"}, alertInc("r", "", incident.SeverityCritical), true},
		{config.RouteMatch{Severity: ">=high"}, alertInc("r", "", incident.SeverityMedium), false},
		{config.RouteMatch{Severity: "medium"}, alertInc("r", "", incident.SeverityHigh), false},
		{config.RouteMatch{Rule: "waf-?"}, alertInc("WAF-1", "", incident.SeverityLow), true},
		{config.RouteMatch{Rule: "waf-?"}, alertInc("waf-10", "", incident.SeverityLow), false},
		{config.RouteMatch{Rule: "*5xx*", Env: "staging"}, alertInc("5xx", "", incident.SeverityLow), false},
		{config.RouteMatch{Rule: "a*b*c"}, alertInc("aXbYbZc", "", incident.SeverityLow), true},
	} {
		if got := matches(tc.match, tc.inc); got != tc.want {
			t.Errorf("%+v matches rule %q env %q severity %s = %v, want %v",
				tc.match, tc.inc.Alert.Rule, tc.inc.Alert.Env, tc.inc.Severity, got, tc.want)
		}
	}
}

// With no routes configured (starter dev, a worker with only SLACK_BOT_TOKEN),
// incidents go where the team's runbook sends them.
func TestDefaultConfigRoutesLikeTheRunbook(t *testing.T) {
	cfg := config.Default().Slack
	for _, tc := range []struct {
		source, rule, category string
		want                   string
	}{
		// The rule pack in deploy/rules.
		{"rules", "be-5xx-burst-per-namespace", "reliability", "#5xx-error-logs"},
		{"rules", "fe-5xx-burst", "reliability", "#5xx-error-logs"},
		{"rules", "be-4xx-spike-per-namespace", "reliability", "#4xx-error-logs"},
		{"rules", "fe-4xx-spike", "reliability", "#4xx-error-logs"},
		{"rules", "waf-sqli-burst", "waf", "#waf-alerts"},
		{"rules", "waf-blocked-spike", "waf", "#waf-alerts"},
		// CloudWatch alarms (deploy/cloudformation): the alarm name is the rule, no category.
		{"cloudwatch", "irflow-alb-target-5xx", "", "#5xx-error-logs"},
		{"cloudwatch", "HTTPCode_Target_5XX_Count", "", "#5xx-error-logs"},
		{"cloudwatch", "irflow-waf-blocked-requests", "", "#waf-alerts"},
		{"cloudwatch", "irflow-alb-unhealthy-hosts", "", "#alerts"},
		// Senders that say what it is by category.
		{"alertmanager", "HighErrorRate", "5xx", "#5xx-error-logs"},
		{"alertmanager", "ClientErrors", "4xx", "#4xx-error-logs"},
		{"elastalert", "suspicious admin login", "security", "#waf-alerts"},
		{"elastalert", "waf 4xx from one IP", "WAF", "#waf-alerts"}, // WAF wins over 4xx
		// Everything else.
		{"rules", "latency-spike-checkout", "performance", "#alerts"},
		{"rules", "be-ingestion-stopped", "pipeline", "#alerts"},
		{"rules", "login-failures-per-country", "auth", "#alerts"},
	} {
		inc := alertInc(tc.rule, tc.category, incident.SeverityHigh)
		inc.Alert.Source = tc.source
		if got := Channel(&cfg, inc); got != tc.want {
			t.Errorf("%s rule %q category %q: routed to %s, want %s", tc.source, tc.rule, tc.category, got, tc.want)
		}
	}
}

// In dev (no token) the console notifier, given these routes as the worker
// does, shows where Slack would put each incident.
func TestConsoleShowsTheRoutedChannel(t *testing.T) {
	cfg := config.Default().Slack
	var out strings.Builder
	c := activities.NewConsole(&out)
	c.Route = func(inc *incident.Incident) string { return Channel(&cfg, inc) }
	ref, err := c.Post(context.Background(), alertInc("fe-5xx-burst", "reliability", incident.SeverityHigh))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Channel != "#5xx-error-logs" || !strings.Contains(out.String(), "→ #5xx-error-logs") {
		t.Errorf("ref %+v, printed %q; want #5xx-error-logs", ref, out.String())
	}
}

// A rule's slack_channel_override reaches the alert and wins over the routes.
func TestAlertChannelWinsOverRoutes(t *testing.T) {
	cfg := config.Default().Slack
	inc := alertInc("waf-sqli-burst", "waf", incident.SeverityHigh)
	if got := Channel(&cfg, inc); got != "#waf-alerts" {
		t.Fatalf("routed to %s, want #waf-alerts by the default routes", got)
	}
	inc.Alert.Channel = "#secops-oncall"
	if got := Channel(&cfg, inc); got != "#secops-oncall" {
		t.Fatalf("routed to %s, want the alert's own #secops-oncall", got)
	}
}
