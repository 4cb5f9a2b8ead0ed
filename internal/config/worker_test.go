package config

import (
	"strings"
	"testing"
)

func TestWorkerTuning(t *testing.T) {
	cfg, err := load(t, `
worker:
  max_concurrent_activities: 50
  max_concurrent_local_activities: 200
  max_concurrent_workflow_tasks: 300
  workflow_task_pollers: 4
  activity_task_pollers: 3
  sticky_cache_size: 2000
`, map[string]string{EnvWorkerWorkflowTaskPollers: "8"})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Worker
	if w.MaxConcurrentActivities != 50 || w.MaxConcurrentLocalActivities != 200 || w.MaxConcurrentWorkflowTasks != 300 ||
		w.WorkflowTaskPollers != 8 || w.ActivityTaskPollers != 3 || w.StickyCacheSize != 2000 {
		t.Errorf("worker = %+v (pollers from the env: 8)", w)
	}

	for _, tc := range []struct {
		name, yml string
		env       map[string]string
		want      string
	}{
		{"one workflow poller", "worker:\n  workflow_task_pollers: 1\n", nil,
			"worker.workflow_task_pollers: must be 0 (the SDK default) or at least 2, got 1: one poller would poll only the sticky queue"},
		{"one workflow slot", "worker:\n  max_concurrent_workflow_tasks: 1\n", nil,
			"worker.max_concurrent_workflow_tasks: must be 0 (the SDK default) or at least 2, got 1"},
		{"negative cache", "worker:\n  sticky_cache_size: -1\n", nil,
			"worker.sticky_cache_size: must be 0 (the SDK default) or more, got -1"},
		{"negative from env", "", map[string]string{EnvWorkerActivityTaskPollers: "-2"},
			"worker.activity_task_pollers: must be 0 (the SDK default) or more, got -2"},
		{"env not a number", "", map[string]string{EnvWorkerStickyCacheSize: "lots"},
			`IRFLOW_WORKER_STICKY_CACHE_SIZE: "lots" is not a whole number`},
		{"unknown key", "worker:\n  sticky_cache: 5\n", nil, `unknown field "sticky_cache"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

// TestEnvOverridesProductionKeys: what a container sets in its environment
// replaces the file's value.
func TestEnvOverridesProductionKeys(t *testing.T) {
	cfg, err := load(t, `
ingress:
  sns:
    allowed_topic_arns: ["arn:aws:sns:eu-west-1:123456789012:from-file"]
slack:
  default_channel: "#from-file"
`, map[string]string{
		EnvSNSAllowedTopicARNs:     "arn:aws:sns:eu-west-1:123456789012:alarms, arn:aws:sns:us-east-1:123456789012:waf",
		EnvSlackDefaultChannel:     "#security-alerts",
		EnvTemporalUIURL:           "https://temporal.example.com",
		EnvOpenSearchDashboardsURL: "https://logs.example.com/_dashboards",
		EnvTemporalTLSCertFile:     "/run/secrets/client.pem",
		EnvTemporalTLSKeyFile:      "/run/secrets/client.key",
		EnvTemporalTLSCAFile:       "/run/secrets/ca.pem",
		EnvTemporalTLSServerName:   "temporal.internal",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Ingress.SNS.AllowedTopicARNs; len(got) != 2 || got[0] != "arn:aws:sns:eu-west-1:123456789012:alarms" || got[1] != "arn:aws:sns:us-east-1:123456789012:waf" {
		t.Errorf("allowed_topic_arns = %q", got)
	}
	if cfg.Slack.DefaultChannel != "#security-alerts" || cfg.Slack.TemporalUIURL != "https://temporal.example.com" ||
		cfg.Slack.OpenSearchDashboardsURL != "https://logs.example.com/_dashboards" {
		t.Errorf("slack = %+v", cfg.Slack)
	}
	if tls := cfg.Temporal.TLS; tls.CertFile != "/run/secrets/client.pem" || tls.KeyFile != "/run/secrets/client.key" ||
		tls.CAFile != "/run/secrets/ca.pem" || tls.ServerName != "temporal.internal" {
		t.Errorf("temporal.tls = %+v", tls)
	}

	// A bad ARN from the env is refused with the field, as from the file.
	_, err = load(t, "", map[string]string{EnvSNSAllowedTopicARNs: "arn:aws:sns:eu-west-1:123456789012:ok,not-an-arn"})
	if err == nil || !strings.Contains(err.Error(), "ingress.sns.allowed_topic_arns[1]") {
		t.Errorf("error = %v, want it to name ingress.sns.allowed_topic_arns[1]", err)
	}
}
