package deploy_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesUseRealMetrics parses deploy/prometheus/alerts.yml as
// Prometheus does (strictly), checks prometheus.yml loads it, and holds every
// metric and label its expressions name to what irflow's code registers, so a
// renamed metric cannot leave an alert that never fires.
func TestAlertRulesUseRealMetrics(t *testing.T) {
	const file = "deploy/prometheus/alerts.yml"
	var rules alertRules
	if err := yaml.UnmarshalWithOptions(MustRead(t, file), &rules, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if !slices.Contains(MustPrometheus(t).RuleFiles, filepath.Base(file)) {
		t.Errorf("prometheus.yml rule_files does not load %s", filepath.Base(file))
	}
	known := irflowMetrics(t)
	for k, v := range temporalMetrics(t) {
		known[k] = v
	}
	jobs := map[string]bool{}
	for _, sc := range MustPrometheus(t).ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	jobRe := regexp.MustCompile(`job="([^"]*)"`)
	promDuration := regexp.MustCompile(`^[0-9]+(ms|s|m|h|d|w|y)$`)
	names := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || names[r.Alert] {
				t.Errorf("group %s: alert name %q empty or used twice", g.Name, r.Alert)
			}
			names[r.Alert] = true
			if r.For != "" && !promDuration.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", r.Alert, r.For)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: want a severity label and a summary", r.Alert)
			}
			refs := parsePromQL(r.Expr)
			if len(refs.metrics) == 0 {
				t.Errorf("%s: no metric in %q", r.Alert, r.Expr)
			}
			labels := map[string]bool{"job": true, "instance": true}
			for _, m := range refs.metrics {
				ls, ok := known[m]
				if !ok {
					t.Errorf("%s: metric %s is not registered by irflow", r.Alert, m)
					continue
				}
				used[m] = true
				for _, l := range ls {
					labels[l] = true
				}
			}
			for _, l := range refs.labels {
				if !labels[l] {
					t.Errorf("%s: label %q is not a label of %v", r.Alert, l, refs.metrics)
				}
			}
			for _, m := range jobRe.FindAllStringSubmatch(r.Expr, -1) {
				if !jobs[m[1]] {
					t.Errorf("%s: job %q is not a scrape job in prometheus.yml", r.Alert, m[1])
				}
			}
		}
	}
	// What the operations issue asked to be alerted on.
	for _, m := range []string{"irflow_rule_sweep_lag_seconds", "irflow_notify_failures_total", "irflow_archive_failures_total", "irflow_ingress_requests_total"} {
		if !used[m] {
			t.Errorf("no alert on %s", m)
		}
	}
}
