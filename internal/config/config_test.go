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
