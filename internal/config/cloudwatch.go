package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// CloudWatch is the `cloudwatch:` section: which metrics the worker pulls
// around an alert (GetMetricData), and the client for them and for alarm
// re-scans (DescribeAlarms). With no metrics configured, incidents carry no
// CloudWatch summary; alarm re-scans work whenever the section is enabled.
type CloudWatch struct {
	// Enabled turns the CloudWatch client on (alarm re-scans, correlation).
	Enabled bool   `yaml:"enabled"`
	Region  string `yaml:"region"`
	// Endpoint points the client at a CloudWatch-compatible endpoint (moto).
	Endpoint string `yaml:"endpoint"`
	// Window is how far before the alert the "window" reaches; default 15m.
	Window Duration `yaml:"window"`
	// Baseline is the span before the window it is compared with; default 1h.
	Baseline Duration `yaml:"baseline"`
	// Period is the metric period; default 1m (CloudWatch's finest for most AWS metrics).
	Period Duration `yaml:"period"`
	// Metrics are pulled for every alert their match selects.
	Metrics []MetricRule `yaml:"metrics"`
}

// MetricRule names one metric and the alerts it is pulled for.
type MetricRule struct {
	Match MetricMatch `yaml:"match"`
	// Label is how the metric is shown; default "<namespace> <metric>".
	Label     string `yaml:"label"`
	Namespace string `yaml:"namespace"`
	Metric    string `yaml:"metric"`
	// Stat is a CloudWatch statistic: Sum, Average, Maximum, Minimum,
	// SampleCount or a percentile like p95.
	Stat       string            `yaml:"stat"`
	Dimensions map[string]string `yaml:"dimensions"`
}

// MetricMatch holds globs (* and ?, case-insensitive) on the alert; all set
// ones must hold and an empty match selects every alert.
type MetricMatch struct {
	Source   string `yaml:"source"`
	Rule     string `yaml:"rule"`
	Category string `yaml:"category"`
	Service  string `yaml:"service"`
	Env      string `yaml:"env"`
}

// CloudWatch defaults.
const (
	DefaultCloudWatchWindow   = 15 * time.Minute
	DefaultCloudWatchBaseline = time.Hour
	DefaultCloudWatchPeriod   = time.Minute
)

var statPattern = regexp.MustCompile(`^(Sum|Average|Maximum|Minimum|SampleCount|p\d{1,2}(\.\d+)?|p100)$`)

// SetDefaults fills the zero durations.
func (c *CloudWatch) SetDefaults() {
	if c.Window == 0 {
		c.Window = Duration(DefaultCloudWatchWindow)
	}
	if c.Baseline == 0 {
		c.Baseline = Duration(DefaultCloudWatchBaseline)
	}
	if c.Period == 0 {
		c.Period = Duration(DefaultCloudWatchPeriod)
	}
}

// Validate checks the section, naming the field.
func (c *CloudWatch) Validate() error {
	if len(c.Metrics) > 0 && !c.Enabled {
		return fmt.Errorf("cloudwatch.metrics: set cloudwatch.enabled: true to pull them")
	}
	p := time.Duration(c.Period)
	switch {
	case p < time.Second || p%time.Second != 0:
		return fmt.Errorf("cloudwatch.period: %s must be whole seconds, at least 1s", p)
	case p%time.Minute != 0 && p != time.Second && p != 5*time.Second && p != 10*time.Second && p != 30*time.Second:
		return fmt.Errorf("cloudwatch.period: %s is not a CloudWatch period (1s, 5s, 10s, 30s or a multiple of 60s)", p)
	case time.Duration(c.Window) < 2*p:
		return fmt.Errorf("cloudwatch.window: %s must hold at least two periods of %s", time.Duration(c.Window), p)
	case time.Duration(c.Baseline) < 3*p:
		return fmt.Errorf("cloudwatch.baseline: %s must hold at least three periods of %s", time.Duration(c.Baseline), p)
	}
	if n := (time.Duration(c.Window) + time.Duration(c.Baseline)) / p; n > 1440 {
		return fmt.Errorf("cloudwatch.baseline: window + baseline is %d periods, at most 1440 (one GetMetricData page)", n)
	}
	if len(c.Metrics) > 100 {
		return fmt.Errorf("cloudwatch.metrics: %d metrics, at most 100 (one GetMetricData request)", len(c.Metrics))
	}
	for i, m := range c.Metrics {
		at := fmt.Sprintf("cloudwatch.metrics[%d]", i)
		switch {
		case m.Namespace == "":
			return fmt.Errorf("%s.namespace: required (like AWS/WAFV2)", at)
		case m.Metric == "":
			return fmt.Errorf("%s.metric: required (like BlockedRequests)", at)
		case !statPattern.MatchString(m.Stat):
			return fmt.Errorf("%s.stat: %q is not Sum, Average, Maximum, Minimum, SampleCount or a percentile like p95", at, m.Stat)
		case len(m.Dimensions) > 30:
			return fmt.Errorf("%s.dimensions: %d, at most 30", at, len(m.Dimensions))
		}
		for k, v := range m.Dimensions {
			if strings.TrimSpace(k) == "" || v == "" {
				return fmt.Errorf("%s.dimensions: empty name or value", at)
			}
		}
	}
	return nil
}
