package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, yml string, env map[string]string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "irflow.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(p, func(k string) string { return env[k] })
}

func TestLoadValid(t *testing.T) {
	cfg, err := load(t, `
temporal:
  address: temporal.internal:7233
  namespace: secops
incident:
  escalation:
    levels:
      - after: 5m
        targets: [{channel: "#oncall", user_group: S0SRE}]
      - after: 15m
        targets: [{sns_topic: "arn:aws:sns:eu-west-1:123456789012:page"}]
  rescan_interval: 2m
  clean_scans_to_resolve: 2
archive:
  url: s3://irflow-archive/incidents
`, map[string]string{"IRFLOW_METRICS_ADDR": "0.0.0.0:9100"})
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Policy()
	if len(p.Escalation.Levels) != 2 || p.Escalation.Levels[1].After != 15*time.Minute {
		t.Errorf("levels = %+v", p.Escalation.Levels)
	}
	if p.RescanInterval != 2*time.Minute || p.CleanScansToResolve != 2 || p.NotifyInterval != 5*time.Second {
		t.Errorf("policy = %+v (notify_interval should keep its default)", p)
	}
	if cfg.Worker.MetricsAddr != "0.0.0.0:9100" {
		t.Errorf("env override lost: %q", cfg.Worker.MetricsAddr)
	}
	if cfg.Temporal.Namespace != "secops" {
		t.Errorf("namespace = %q", cfg.Temporal.Namespace)
	}
}

func TestLoadErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"unknown key", "temporal:\n  adress: x:1\n", `[2:3] unknown field "adress"`},
		{"unknown target key", "incident:\n  escalation:\n    levels:\n      - after: 5m\n        targets: [{chanel: \"#x\"}]\n", `unknown field "chanel"`},
		{"bad duration", "incident:\n  rescan_interval: 5 minutes\n", `bad duration "5 minutes": want a number with a unit, like 90s, 5m or 1h`},
		{"level without delay", "incident:\n  escalation:\n    levels:\n      - targets: [{channel: \"#x\"}]\n", `incident.escalation.levels[0].after: must be positive, got 0s`},
		{"level without targets", "incident:\n  escalation:\n    levels:\n      - after: 1m\n", `incident.escalation.levels[0].targets: at least one target required`},
		{"sns not arn", "incident:\n  escalation:\n    levels:\n      - after: 1m\n        targets: [{sns_topic: page}]\n", `incident.escalation.levels[0].targets[0].sns_topic: "page" is not an ARN`},
		{"archive scheme", "archive:\n  url: ftp://x/y\n", `archive.url: scheme must be s3 or file`},
		{"address", "temporal:\n  address: nohostport\n", `temporal.address: "nohostport" is not host:port`},
		{"signals", "incident:\n  max_signals_per_run: 5000\n", `incident.max_signals_per_run: must be between 10 and 1900, got 5000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Archive.URL != "file://var/archive" || cfg.Temporal.Address != "127.0.0.1:7233" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestSlackSectionValidatedWhenTokenSet(t *testing.T) {
	yml := "slack:\n  default_channel: \"#alerts\"\n  routes:\n    - match: {severity: urgent}\n      channel: \"#x\"\n"
	if _, err := load(t, yml, nil); err != nil {
		t.Fatalf("without a token Slack is off and not validated: %v", err)
	}
	_, err := load(t, yml, map[string]string{"SLACK_BOT_TOKEN": "xoxb-test"})
	if err == nil || !strings.Contains(err.Error(), "slack.routes[0].match.severity") {
		t.Fatalf("error = %v, want it to name slack.routes[0].match.severity", err)
	}
	if _, err := load(t, "slack:\n  chanel: x\n", nil); err == nil || !strings.Contains(err.Error(), `unknown field "chanel"`) {
		t.Fatalf("error = %v", err)
	}
}

// The ingress and Slack app sections are validated when the file loads, so
// the worker and `starter serve` refuse the same bad file with the same words.
func TestIngressSectionErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"empty token", "ingress:\n  tokens: {ci: \"\"}\n", `ingress.tokens.ci: empty or contains whitespace`},
		{"negative body", "ingress:\n  max_body_bytes: -1\n", `ingress.max_body_bytes: -1 is negative`},
		{"long window", "ingress:\n  coalesce_window: 2s\n", `ingress.coalesce_window: 2s is over 1s`},
		{"bad topic", "ingress:\n  sns:\n    allowed_topic_arns: [my-topic]\n", `ingress.sns.allowed_topic_arns[0]: "my-topic" is not an SNS topic ARN`},
		{"bad pattern", "ingress:\n  sns:\n    host_pattern: \"(\"\n", `ingress.sns.host_pattern:`},
		{"empty elastalert field", "ingress:\n  elastalert:\n    query_key_fields: [\"\"]\n", `ingress.elastalert.query_key_fields[0]: empty field name`},
		{"allow_resolve not an ID", "ingress:\n  slack:\n    allow_resolve: [U1X, alice]\n", `ingress.slack.allow_resolve[1]: "alice" is not a Slack user (U…) or user group (S…) ID`},
		{"user group without token", "ingress:\n  slack:\n    allow_resolve: [S0TEAM]\n", `ingress.slack.allow_resolve[0]: user group S0TEAM needs slack.token (or SLACK_BOT_TOKEN) to look up its members`},
		{"unknown key", "ingress:\n  tokenz: {}\n", `unknown field "tokenz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
	// The worker needs no tokens; only the ingress refuses to start without one.
	cfg, err := load(t, "ingress:\n  slack:\n    allow_resolve: [U123]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Ingress.RequireTokens(); err == nil || !strings.Contains(err.Error(), "ingress.tokens: at least one source token is required") {
		t.Fatalf("RequireTokens = %v", err)
	}
}

// Every env override is read in one place and lands in its section.
func TestEnvOverrides(t *testing.T) {
	cfg, err := load(t, "", map[string]string{
		EnvSNSEndpoint: "http://127.0.0.1:5000", EnvIngressTokens: "ci=abc,grafana=def",
		EnvSlackSigningSecret: "shh", EnvSlackToken: "xoxb-1", EnvSlackAPIURL: "http://127.0.0.1:1/api/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SNS.Endpoint != "http://127.0.0.1:5000" || FormatTokens(cfg.Ingress.Tokens) != "ci=abc,grafana=def" ||
		cfg.Ingress.Slack.SigningSecret != "shh" || cfg.Slack.Token != "xoxb-1" || cfg.Slack.APIURL != "http://127.0.0.1:1/api/" {
		t.Fatalf("env overrides lost: %+v", cfg)
	}
	if _, err := load(t, "", map[string]string{EnvIngressTokens: "nopair"}); err == nil || !strings.Contains(err.Error(), EnvIngressTokens+`: want source=token pairs`) {
		t.Fatalf("bad tokens env: %v", err)
	}
}
