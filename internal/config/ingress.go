package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
)

// Ingress is the `ingress:` section: `starter serve` (and the ingress inside
// `starter dev`). ingress.NewServer takes it as it is; only runtime
// dependencies (a metrics registry, an HTTP client) are added there.
type Ingress struct {
	// Tokens maps a token's name to its secret (the bearer token). Prefer the
	// env var IRFLOW_INGRESS_TOKENS="elastalert=<token>,alertmanager=<token>".
	// The ingress refuses to start without one; the worker does not need them.
	// A token may send alerts only as the sources TokenSources lists for it,
	// or, when it has no entry there, only as the source named like the token.
	Tokens map[string]string `yaml:"tokens"`
	// TokenSources lists, per token name, the alert sources the token may
	// use: the source of each /v1/alerts alert, "elastalert" for
	// /v1/alerts/elastalert, "alertmanager" for /v1/alerts/alertmanager
	// (firing and resolved). "*" allows any source (the dev token; use it
	// nowhere else). Names are compared the way fingerprints compare them
	// (trimmed, any case). Kept apart from Tokens so the secrets can come
	// from the env var while who-may-do-what stays in the file.
	TokenSources map[string][]string `yaml:"token_sources"`
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
	SendTimeout Duration `yaml:"send_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers; a client slower
	// than that is disconnected (Go answers nothing). Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a request's body once its headers are in;
	// a body that does not arrive in time is answered 408. Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a whole request from the end of its headers to the
	// last byte of the answer, including the wait for Temporal: the ingress
	// answers 503 shortly before it rather than let the connection drop.
	// Must be more than send_timeout. Default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request. Default 120s.
	IdleTimeout Duration   `yaml:"idle_timeout"`
	ElastAlert  ElastAlert `yaml:"elastalert"`
	SNS         SNSIngress `yaml:"sns"`
	Slack       SlackApp   `yaml:"slack"`
	Console     Console    `yaml:"console"`
}

// Ingress defaults.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultCoalesceWindow = 5 * time.Millisecond
	DefaultMaxInflight    = 64
	DefaultMaxAlerts      = 500
	DefaultSendTimeout    = 10 * time.Second
	// Connection timeouts of the ingress's HTTP server.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// DefaultSNSMaxAge is how old a signed SNS message may be. SNS keeps a
	// message's Timestamp across its retries, and an HTTP(S) delivery policy
	// retries for at most an hour.
	DefaultSNSMaxAge = time.Hour
	// DefaultSNSSignatureVersion is the lowest SignatureVersion accepted: 1
	// (SHA1withRSA) is what topics use unless set to 2 (SHA256withRSA).
	DefaultSNSSignatureVersion = 1
	// AnySource in TokenSources lets a token send as any source.
	AnySource = "*"
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
	// HostPattern is a regexp the whole host (with port, if any) of
	// SigningCertURL and SubscribeURL must match: it is always anchored, as
	// if written ^(?:pattern)$. "{region}" stands for the region of the
	// message's TopicArn. Default DefaultSNSHostPattern. Both URLs must be https.
	HostPattern string `yaml:"host_pattern"`
	// MaxAge refuses a message whose signed Timestamp is older than this (a
	// replay), or more than SNSMaxClockSkew ahead. Message IDs are remembered
	// as long, so a redelivered message counts once. Default 1h, at least 1m.
	MaxAge Duration `yaml:"max_age"`
	// RequireSignatureVersion is the lowest SignatureVersion accepted: 1
	// (default) takes SHA1withRSA and SHA256withRSA, 2 refuses SHA1withRSA
	// (set the topic's SignatureVersion attribute to 2 first).
	RequireSignatureVersion int `yaml:"require_signature_version"`
}

// SNSMaxClockSkew is how far in the future an SNS Timestamp may be: clocks
// drift, but a message from the future is not one SNS sent.
const SNSMaxClockSkew = 5 * time.Minute

// AnchorHostPattern returns pattern, with {region} replaced by region,
// anchored to match a whole host: a pattern written without ^ and $ must
// not let "sns.us-east-1.amazonaws.com.evil.example" through.
func AnchorHostPattern(pattern, region string) (*regexp.Regexp, error) {
	p := strings.ReplaceAll(pattern, "{region}", regexp.QuoteMeta(region))
	// Compiled alone first, so an error quotes the pattern as written.
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// SlackApp configures POST /slack/interactions and /slack/commands. They are
// mounted when a signing secret is set (here or in SLACK_SIGNING_SECRET).
type SlackApp struct {
	// SigningSecret is the app's signing secret (Basic Information page).
	SigningSecret string `yaml:"signing_secret"`
	// AllowResolve lists the Slack user IDs (U…) and user group IDs (S…) who
	// may resolve and snooze, in Slack and in the console; empty means
	// everyone. Anyone may acknowledge and re-scan. A user group needs
	// slack.token to look up its members. An email address entry matches a
	// console identity with that email; with slack.token, a console user is
	// also looked up by email (users.lookupByEmail) and matched by Slack ID.
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
	for _, d := range []struct {
		field *Duration
		def   time.Duration
	}{
		{&i.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&i.ReadTimeout, DefaultReadTimeout},
		{&i.WriteTimeout, DefaultWriteTimeout}, {&i.IdleTimeout, DefaultIdleTimeout}, {&i.SNS.MaxAge, DefaultSNSMaxAge},
	} {
		if *d.field == 0 {
			*d.field = Duration(d.def)
		}
	}
	i.ElastAlert.SetDefaults()
	i.Console.SetDefaults()
	if i.SNS.HostPattern == "" {
		i.SNS.HostPattern = DefaultSNSHostPattern
	}
	if i.SNS.RequireSignatureVersion == 0 {
		i.SNS.RequireSignatureVersion = DefaultSNSSignatureVersion
	}
}

// SourcesOf returns the sources token name may send as: its token_sources
// entry, or its own name.
func (i *Ingress) SourcesOf(name string) []string {
	if s, ok := i.TokenSources[name]; ok {
		return s
	}
	return []string{name}
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

var (
	allowResolvePattern = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)
	allowResolveEmail   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

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
	for _, name := range sortedKeys(i.Tokens) {
		if name == "" {
			return fmt.Errorf("ingress.tokens: empty source name")
		}
		if tok := i.Tokens[name]; tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("ingress.tokens.%s: empty or contains whitespace", name)
		}
	}
	for _, name := range sortedKeys(i.TokenSources) {
		field := "ingress.token_sources." + name
		if len(i.Tokens) > 0 {
			// Without tokens (the worker reads the same file) there is nothing to refer to.
			if _, ok := i.Tokens[name]; !ok {
				return fmt.Errorf("%s: no token named %q in ingress.tokens (or %s)", field, name, EnvIngressTokens)
			}
		}
		if len(i.TokenSources[name]) == 0 {
			return fmt.Errorf("%s: empty; list the sources this token may send as, or %q for any", field, AnySource)
		}
		for j, src := range i.TokenSources[name] {
			if src == AnySource {
				continue
			}
			a := incident.Alert{Source: src, Rule: "x"}
			if err := a.Validate(); err != nil {
				return fmt.Errorf("%s[%d]: %q is not a source name (1-%d letters, digits, space and _.:/@+-, starting with a letter or digit) or %q", field, j, src, incident.MaxNameLen, AnySource)
			}
		}
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{
		{"read_header_timeout", i.ReadHeaderTimeout}, {"read_timeout", i.ReadTimeout},
		{"write_timeout", i.WriteTimeout}, {"idle_timeout", i.IdleTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("ingress.%s: %s is negative", d.name, time.Duration(d.v))
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
	case i.WriteTimeout > 0 && i.WriteTimeout <= i.SendTimeout:
		return fmt.Errorf("ingress.write_timeout: %s is not more than send_timeout (%s); a slow but successful Temporal call would be answered 503",
			time.Duration(i.WriteTimeout), time.Duration(i.SendTimeout))
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
	if _, err := AnchorHostPattern(i.SNS.HostPattern, "us-east-1"); err != nil {
		return fmt.Errorf("ingress.sns.host_pattern: %w", err)
	}
	switch {
	case i.SNS.MaxAge < 0:
		return fmt.Errorf("ingress.sns.max_age: %s is negative", time.Duration(i.SNS.MaxAge))
	case i.SNS.MaxAge > 0 && time.Duration(i.SNS.MaxAge) < time.Minute:
		return fmt.Errorf("ingress.sns.max_age: %s is under 1m; SNS retries a delivery for longer than that", time.Duration(i.SNS.MaxAge))
	}
	switch i.SNS.RequireSignatureVersion {
	case 0, 1, 2:
	default:
		return fmt.Errorf("ingress.sns.require_signature_version: %d, want 1 (SHA1withRSA or SHA256withRSA) or 2 (SHA256withRSA only)", i.SNS.RequireSignatureVersion)
	}
	for j, arn := range i.SNS.AllowedTopicARNs {
		if _, err := TopicRegion(arn); err != nil {
			return fmt.Errorf("ingress.sns.allowed_topic_arns[%d]: %w", j, err)
		}
	}
	for j, id := range i.Slack.AllowResolve {
		if !allowResolvePattern.MatchString(id) && !allowResolveEmail.MatchString(id) {
			return fmt.Errorf("ingress.slack.allow_resolve[%d]: %q is not a Slack user (U…) or user group (S…) ID, or an email address (for the console)", j, id)
		}
	}
	return i.Console.Validate()
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
	names := sortedKeys(tokens)
	for i, n := range names {
		names[i] = n + "=" + tokens[n]
	}
	return strings.Join(names, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
