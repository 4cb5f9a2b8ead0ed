package config

import (
	"strings"
	"testing"
)

func TestCloudWatchAndLambdaSections(t *testing.T) {
	cfg, err := load(t, `
cloudwatch:
  enabled: true
  window: 10m
  metrics:
    - match: {category: waf}
      namespace: AWS/WAFV2
      metric: BlockedRequests
      stat: Sum
      dimensions: {WebACL: shop, Rule: ALL}
    - namespace: AWS/ApplicationELB
      metric: TargetResponseTime
      stat: p95
lambda:
  rescan:
    - match: {category: waf}
      function: arn:aws:lambda:eu-west-1:123456789012:function:irflow-rescan:live
`, map[string]string{EnvCloudWatchEndpoint: "http://127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CloudWatch.Endpoint != "http://127.0.0.1:5000" || len(cfg.CloudWatch.Metrics) != 2 || cfg.CloudWatch.Period != Duration(DefaultCloudWatchPeriod) ||
		len(cfg.Lambda.Rescan) != 1 {
		t.Fatalf("cloudwatch = %+v, lambda = %+v", cfg.CloudWatch, cfg.Lambda)
	}
	for _, tc := range []struct{ name, yml, want string }{
		{"metrics while off", "cloudwatch:\n  metrics: [{namespace: AWS/WAFV2, metric: BlockedRequests, stat: Sum}]\n", `cloudwatch.metrics: set cloudwatch.enabled: true to pull them`},
		{"bad stat", "cloudwatch:\n  enabled: true\n  metrics: [{namespace: AWS/WAFV2, metric: BlockedRequests, stat: Total}]\n", `cloudwatch.metrics[0].stat: "Total" is not Sum, Average, Maximum, Minimum, SampleCount or a percentile like p95`},
		{"no namespace", "cloudwatch:\n  enabled: true\n  metrics: [{metric: BlockedRequests, stat: Sum}]\n", `cloudwatch.metrics[0].namespace: required`},
		{"odd period", "cloudwatch:\n  period: 90s\n", `cloudwatch.period: 1m30s is not a CloudWatch period`},
		{"short window", "cloudwatch:\n  window: 1m\n", `cloudwatch.window: 1m0s must hold at least two periods of 1m0s`},
		{"too many points", "cloudwatch:\n  baseline: 48h\n", `cloudwatch.baseline: window + baseline is 2895 periods, at most 1440`},
		{"hook for all", "lambda:\n  rescan: [{function: f}]\n", `lambda.rescan[0].match: at least one of source, rule, category, service, env`},
		{"hook function", "lambda:\n  rescan: [{match: {rule: r}, function: \"my function\"}]\n", `lambda.rescan[0].function: "my function" is not a function name or ARN`},
		{"hook timeout", "lambda:\n  rescan: [{match: {rule: r}, function: f, timeout: 20m}]\n", `lambda.rescan[0].timeout: 20m0s is outside 0..15m`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}
