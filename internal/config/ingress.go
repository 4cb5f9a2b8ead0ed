package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/ingress/slackapp"
)

// Ingress configures `starter serve` (and the ingress inside `starter dev`).
type Ingress struct {
	// Tokens maps a source name to its bearer token. Prefer the env var
	// IRFLOW_INGRESS_TOKENS="elastalert=<token>,alertmanager=<token>".
	Tokens         map[string]string `yaml:"tokens"`
	MaxBodyBytes   int64             `yaml:"max_body_bytes"`
	CoalesceWindow Duration          `yaml:"coalesce_window"`
	MaxInflight    int               `yaml:"max_inflight"`
	MaxAlerts      int               `yaml:"max_alerts"`
	SendTimeout    Duration          `yaml:"send_timeout"`
	ElastAlert     ElastAlert        `yaml:"elastalert"`
	SNS            SNS               `yaml:"sns"`
	Slack          SlackApp          `yaml:"slack"`
}

// ElastAlert names the fields of ElastAlert2's http_post body irflow reads.
type ElastAlert struct {
	RuleFields     []string `yaml:"rule_fields"`
	QueryKeyFields []string `yaml:"query_key_fields"`
	EnvFields      []string `yaml:"env_fields"`
	SeverityFields []string `yaml:"severity_fields"`
	TimestampField string   `yaml:"timestamp_field"`
}

// SNS configures POST /sns.
type SNS struct {
	// AllowedTopicARNs may subscribe and notify; an empty list refuses all.
	AllowedTopicARNs []string `yaml:"allowed_topic_arns"`
	// HostPattern overrides the regexp signing-cert and subscribe hosts must match.
	HostPattern string `yaml:"host_pattern"`
}

// SlackApp configures POST /slack/interactions and /slack/commands. They are
// mounted when a signing secret is set (here or in SLACK_SIGNING_SECRET).
type SlackApp struct {
	SigningSecret string   `yaml:"signing_secret"`
	AllowResolve  []string `yaml:"allow_resolve"`
}

// Env names for the ingress.
const (
	EnvIngressTokens      = "IRFLOW_INGRESS_TOKENS"
	EnvSlackSigningSecret = "SLACK_SIGNING_SECRET"
)

func (i *Ingress) applyEnv(getenv func(string) string) error {
	if v := getenv(EnvIngressTokens); v != "" {
		tokens, err := ParseTokens(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvIngressTokens, err)
		}
		i.Tokens = tokens
	}
	if v := getenv(EnvSlackSigningSecret); v != "" {
		i.Slack.SigningSecret = v
	}
	return nil
}

// ParseTokens reads "source=token,source2=token2".
func ParseTokens(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		name, tok, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || tok == "" {
			return nil, fmt.Errorf("want source=token pairs separated by commas, got %q", pair)
		}
		out[name] = tok
	}
	return out, nil
}

// FormatTokens is the inverse of ParseTokens, in source order.
func FormatTokens(tokens map[string]string) string {
	names := make([]string, 0, len(tokens))
	for n := range tokens {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = n + "=" + tokens[n]
	}
	return strings.Join(names, ",")
}

// IngressConfig is the ingress server's config; zero values take its defaults.
func (c *Config) IngressConfig() ingress.Config {
	i := c.Ingress
	return ingress.Config{
		Tokens:         i.Tokens,
		MaxBodyBytes:   i.MaxBodyBytes,
		CoalesceWindow: time.Duration(i.CoalesceWindow),
		MaxInflight:    i.MaxInflight,
		MaxAlerts:      i.MaxAlerts,
		SendTimeout:    time.Duration(i.SendTimeout),
		ElastAlert: ingress.ElastAlertConfig{
			RuleFields: i.ElastAlert.RuleFields, QueryKeyFields: i.ElastAlert.QueryKeyFields,
			EnvFields: i.ElastAlert.EnvFields, SeverityFields: i.ElastAlert.SeverityFields,
			TimestampField: i.ElastAlert.TimestampField,
		},
		SNS: ingress.SNSConfig{AllowedTopicARNs: i.SNS.AllowedTopicARNs, HostPattern: i.SNS.HostPattern},
	}
}

// SlackAppConfig is the Slack handlers' config; ok is false when no signing
// secret is set and the handlers stay unmounted.
func (c *Config) SlackAppConfig() (cfg slackapp.Config, ok bool) {
	s := c.Ingress.Slack
	if s.SigningSecret == "" {
		return cfg, false
	}
	return slackapp.Config{SigningSecret: s.SigningSecret, AllowResolve: s.AllowResolve}, true
}
