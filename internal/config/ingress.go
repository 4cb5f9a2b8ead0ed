package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Ingress is the `ingress:` section: `starter serve` (and the ingress inside
// `starter dev`). ingress.NewServer takes it as it is; only runtime
// dependencies (a metrics registry, an HTTP client) are added there.
type Ingress struct {
	// Tokens maps a source name to its bearer token. Prefer the env var
	// IRFLOW_INGRESS_TOKENS="elastalert=<token>,alertmanager=<token>". The
	// ingress refuses to start without one; the worker does not need them.
	Tokens map[string]string `yaml:"tokens"`
	// MaxBodyBytes caps a request body; default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// CoalesceWindow is how long the first occurrence of a fingerprint waits
	// for duplicates to share its signal; default 5ms, at most 1s.
	CoalesceWindow Duration `yaml:"coalesce_window"`
	// MaxInflight bounds concurrent Sends (one per distinct fingerprint) and
	// Clears; default 64.
	MaxInflight int `yaml:"max_inflight"`
	// MaxAlerts caps alerts in one /v1/alerts array; default 500.
	MaxAlerts int `yaml:"max_alerts"`
	// SendTimeout bounds one Send or Clear; default 10s.
	SendTimeout Duration   `yaml:"send_timeout"`
	ElastAlert  ElastAlert `yaml:"elastalert"`
	SNS         SNSIngress `yaml:"sns"`
	Slack       SlackApp   `yaml:"slack"`
}

// Ingress defaults.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultCoalesceWindow = 5 * time.Millisecond
	DefaultMaxInflight    = 64
	DefaultMaxAlerts      = 500
	DefaultSendTimeout    = 10 * time.Second
	// DefaultSNSHostPattern is the host SNS signs from and sends subscription
	// links for: sns.<region of the TopicArn>.amazonaws.com (.cn in China).
	DefaultSNSHostPattern = `^sns\.{region}\.amazonaws\.com(\.cn)?$`
)

// ElastAlert says where irflow finds its fields in an ElastAlert2 http_post /
// http_post2 body (the match document merged with the rule's static
// payload). Each list is tried in order; the first present, non-empty field
// wins. Dotted names reach into nested objects, as in ElastAlert.
type ElastAlert struct {
	// RuleFields name the rule. Default: rule_name, alert_subject, rule, name.
	// ElastAlert does not put the rule name in the match, so set
	// http_post_static_payload: {rule_name: "<name>"} in the rule.
	RuleFields []string `yaml:"rule_fields"`
	// QueryKeyFields split one rule into incidents. Default: key (the field
	// ElastAlert fills with the query_key value in flatline, spike and
	// aggregation matches). Add your rule's query_key field names here.
	QueryKeyFields []string `yaml:"query_key_fields"`
	// EnvFields: default env, environment.
	EnvFields []string `yaml:"env_fields"`
	// SeverityFields: default severity, priority.
	SeverityFields []string `yaml:"severity_fields"`
	// TimestampField: default @timestamp.
	TimestampField string `yaml:"timestamp_field"`
}

// SNSIngress configures POST /sns.
type SNSIngress struct {
	// AllowedTopicARNs are the topics whose messages are accepted and whose
	// subscriptions are confirmed. Anyone with an AWS account can get SNS to
	// sign a message to this endpoint, so an empty list rejects every message.
	AllowedTopicARNs []string `yaml:"allowed_topic_arns"`
	// HostPattern is a regexp the host (with port, if any) of SigningCertURL
	// and SubscribeURL must match; "{region}" stands for the region of the
	// message's TopicArn. Default DefaultSNSHostPattern. Both URLs must be https.
	HostPattern string `yaml:"host_pattern"`
}

// SlackApp configures POST /slack/interactions and /slack/commands. They are
// mounted when a signing secret is set (here or in SLACK_SIGNING_SECRET).
type SlackApp struct {
	// SigningSecret is the app's signing secret (Basic Information page).
	SigningSecret string `yaml:"signing_secret"`
	// AllowResolve lists the Slack user IDs (U…) and user group IDs (S…) who
	// may resolve and snooze; empty means everyone. Anyone may acknowledge
	// and re-scan. A user group needs slack.token to look up its members.
	AllowResolve []string `yaml:"allow_resolve"`
}

// SetDefaults fills every zero field with its default. Load does it; so does
// ingress.NewServer, for configs built in code.
func (i *Ingress) SetDefaults() {
	if i.MaxBodyBytes == 0 {
		i.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if i.CoalesceWindow == 0 {
		i.CoalesceWindow = Duration(DefaultCoalesceWindow)
	}
	if i.MaxInflight == 0 {
		i.MaxInflight = DefaultMaxInflight
	}
	if i.MaxAlerts == 0 {
		i.MaxAlerts = DefaultMaxAlerts
	}
	if i.SendTimeout == 0 {
		i.SendTimeout = Duration(DefaultSendTimeout)
	}
	i.ElastAlert.SetDefaults()
	if i.SNS.HostPattern == "" {
		i.SNS.HostPattern = DefaultSNSHostPattern
	}
}

// SetDefaults fills the empty field lists with ElastAlert2's usual names.
func (e *ElastAlert) SetDefaults() {
	if len(e.RuleFields) == 0 {
		e.RuleFields = []string{"rule_name", "alert_subject", "rule", "name"}
	}
	if len(e.QueryKeyFields) == 0 {
		e.QueryKeyFields = []string{"key"}
	}
	if len(e.EnvFields) == 0 {
		e.EnvFields = []string{"env", "environment"}
	}
	if len(e.SeverityFields) == 0 {
		e.SeverityFields = []string{"severity", "priority"}
	}
	if e.TimestampField == "" {
		e.TimestampField = "@timestamp"
	}
}

var allowResolvePattern = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)

// TopicRegion returns the region of an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>.
func TopicRegion(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3] == "" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)", arn)
	}
	for _, r := range parts[3] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", fmt.Errorf("%q has an invalid region", arn)
		}
	}
	return parts[3], nil
}

// Validate checks the section after defaults, naming the field in full
// ("ingress.sns.allowed_topic_arns[0]: ..."). Tokens may be empty here: the
// worker reads the same file and needs none (see RequireTokens).
func (i *Ingress) Validate() error {
	for _, name := range sortedNames(i.Tokens) {
		if name == "" {
			return fmt.Errorf("ingress.tokens: empty source name")
		}
		if tok := i.Tokens[name]; tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("ingress.tokens.%s: empty or contains whitespace", name)
		}
	}
	switch {
	case i.MaxBodyBytes < 0:
		return fmt.Errorf("ingress.max_body_bytes: %d is negative", i.MaxBodyBytes)
	case i.CoalesceWindow < 0:
		return fmt.Errorf("ingress.coalesce_window: %s is negative", time.Duration(i.CoalesceWindow))
	case time.Duration(i.CoalesceWindow) > time.Second:
		return fmt.Errorf("ingress.coalesce_window: %s is over 1s; every sender waits that long", time.Duration(i.CoalesceWindow))
	case i.MaxInflight < 0:
		return fmt.Errorf("ingress.max_inflight: %d is negative", i.MaxInflight)
	case i.MaxAlerts < 0:
		return fmt.Errorf("ingress.max_alerts: %d is negative", i.MaxAlerts)
	case i.SendTimeout < 0:
		return fmt.Errorf("ingress.send_timeout: %s is negative", time.Duration(i.SendTimeout))
	}
	for _, l := range []struct {
		name string
		list []string
	}{
		{"rule_fields", i.ElastAlert.RuleFields}, {"query_key_fields", i.ElastAlert.QueryKeyFields},
		{"env_fields", i.ElastAlert.EnvFields}, {"severity_fields", i.ElastAlert.SeverityFields},
	} {
		for j, f := range l.list {
			if f == "" {
				return fmt.Errorf("ingress.elastalert.%s[%d]: empty field name", l.name, j)
			}
		}
	}
	if _, err := regexp.Compile(strings.ReplaceAll(i.SNS.HostPattern, "{region}", "us-east-1")); err != nil {
		return fmt.Errorf("ingress.sns.host_pattern: %w", err)
	}
	for j, arn := range i.SNS.AllowedTopicARNs {
		if _, err := TopicRegion(arn); err != nil {
			return fmt.Errorf("ingress.sns.allowed_topic_arns[%d]: %w", j, err)
		}
	}
	for j, id := range i.Slack.AllowResolve {
		if !allowResolvePattern.MatchString(id) {
			return fmt.Errorf("ingress.slack.allow_resolve[%d]: %q is not a Slack user (U…) or user group (S…) ID", j, id)
		}
	}
	return nil
}

// RequireTokens is the ingress's own start-up check: without a token every
// request would be refused.
func (i *Ingress) RequireTokens() error {
	if len(i.Tokens) == 0 {
		return fmt.Errorf("ingress.tokens: at least one source token is required (or set %s)", EnvIngressTokens)
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
	names := sortedNames(tokens)
	for i, n := range names {
		names[i] = n + "=" + tokens[n]
	}
	return strings.Join(names, ",")
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
