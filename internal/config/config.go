// Package config loads irflow's YAML config: defaults first, then the file
// (strictly: an unknown key is an error with its line), then environment
// overrides, then validation with errors that name the field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/incident"
)

// Config is everything the worker and the ingress need: one file, read the
// same way by both. Every section is a struct here with yaml tags; adapters
// take their section as it is (ingress.Config embeds Ingress, the Slack
// notifier takes Slack) and add only runtime dependencies.
type Config struct {
	Temporal Temporal `yaml:"temporal"`
	Worker   Worker   `yaml:"worker"`
	Incident Incident `yaml:"incident"`
	Archive  Archive  `yaml:"archive"`
	// Slack is used when a bot token is set (here or in SLACK_BOT_TOKEN);
	// otherwise incidents go to the console.
	Slack   Slack   `yaml:"slack"`
	Ingress Ingress `yaml:"ingress"`
	// Search is the OpenSearch cluster rule sweeps query.
	Search Search `yaml:"search"`
	// SNS is the client escalation levels with an sns_topic page through.
	SNS SNS `yaml:"sns"`
	// Enrich is the context added to every incident (owner, GeoIP, threat intel).
	Enrich Enrich `yaml:"enrich"`
	// CloudWatch pulls metrics around alerts and re-scans alarm incidents.
	CloudWatch CloudWatch `yaml:"cloudwatch"`
	// Lambda runs re-scan hooks.
	Lambda Lambda `yaml:"lambda"`
	// Silences holds the recurring maintenance windows.
	Silences Silences `yaml:"silences"`
	// Correlation is the cross-incident correlator's windows and keys.
	Correlation Correlation `yaml:"correlation"`
	// Digest is the daily digest's schedule and channel.
	Digest Digest `yaml:"digest"`
	// Logs is the log pipeline's transform (routes, output).
	Logs Logs `yaml:"logs"`
}

// SNS tunes the SNS client escalation pages use; the usual AWS env vars and
// profiles apply too. It is built only when some level has an sns_topic.
type SNS struct {
	Region string `yaml:"region"`
	// Endpoint points the client at an SNS-compatible endpoint (moto, LocalStack).
	Endpoint string `yaml:"endpoint"`
}

// Search says where rule sweeps and re-scans run their queries, and where
// the rule files are. Both are optional: without a URL, sweeps fail with a
// message naming search.url and rule incidents re-scan as "unknown".
type Search struct {
	// URL is the OpenSearch endpoint, like http://127.0.0.1:9200.
	URL string `yaml:"url"`
	// RulesDir holds the rule files (deploy/rules): `starter dev` applies
	// the rule Schedules from it. Sweeps and re-scans read each rule from its
	// Schedule, never from here; a worker with RulesDir set only compares
	// the files with the Schedules and warns (and counts) when they differ.
	RulesDir string `yaml:"rules_dir"`
}

// SlackEnabled reports whether incidents go to Slack.
func (c *Config) SlackEnabled() bool { return c.Slack.Token != "" }

// Temporal says how to reach the cluster.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	// APIKey is for Temporal Cloud; prefer the TEMPORAL_API_KEY env var.
	APIKey string `yaml:"api_key"`
	TLS    TLS    `yaml:"tls"`
}

// TLS is mTLS to the Temporal frontend.
type TLS struct {
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether any TLS setting is present.
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || t.ServerName != ""
}

// Worker is the worker process itself; the tuning keys are in worker.go.
type Worker struct {
	// MetricsAddr serves /metrics and /healthz; empty turns them off.
	MetricsAddr string `yaml:"metrics_addr"`
	// MaxConcurrentActivities bounds activities (archive, sweeps, re-scans,
	// pages) running at once on this worker; default 100.
	MaxConcurrentActivities int      `yaml:"max_concurrent_activities"`
	ShutdownTimeout         Duration `yaml:"shutdown_timeout"`
	WorkerTuning            `yaml:",inline"`
}

// Incident is the incident policy.
type Incident struct {
	Escalation          Escalation `yaml:"escalation"`
	RescanInterval      Duration   `yaml:"rescan_interval"`
	CleanScansToResolve int        `yaml:"clean_scans_to_resolve"`
	NotifyInterval      Duration   `yaml:"notify_interval"`
	MaxSignalsPerRun    int        `yaml:"max_signals_per_run"`
	MaxHistoryEvents    int        `yaml:"max_history_events"`
}

// Escalation lists levels in order.
type Escalation struct {
	Levels []Level `yaml:"levels"`
}

// Level is one escalation step: a delay after the previous one, and whom to tell.
type Level struct {
	After   Duration          `yaml:"after"`
	Targets []incident.Target `yaml:"targets"`
}

// Archive says where resolved incidents are written.
type Archive struct {
	// URL is s3://bucket/prefix or file://dir.
	URL string `yaml:"url"`
	S3  S3     `yaml:"s3"`
}

// ArchiveLocation is archive.url taken apart.
type ArchiveLocation struct {
	// Scheme is "s3" or "file".
	Scheme string
	// Where is the bucket (s3) or the directory (file).
	Where string
	// Prefix is the key prefix inside the bucket (s3 only).
	Prefix string
}

// Location splits "s3://bucket/prefix" or "file:///dir" (also "file://relative/dir").
func (a Archive) Location() (ArchiveLocation, error) {
	u, err := url.Parse(a.URL)
	if err != nil {
		return ArchiveLocation{}, err
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return ArchiveLocation{}, errors.New("missing bucket, want s3://bucket/prefix")
		}
		return ArchiveLocation{Scheme: "s3", Where: u.Host, Prefix: strings.Trim(u.Path, "/")}, nil
	case "file":
		dir := u.Host + u.Path
		if dir == "" {
			return ArchiveLocation{}, errors.New("missing directory, want file:///dir")
		}
		return ArchiveLocation{Scheme: "file", Where: dir}, nil
	}
	return ArchiveLocation{}, errors.New("scheme must be s3 or file")
}

// S3 tunes the S3 client; the usual AWS env vars and profiles apply too.
type S3 struct {
	Region         string `yaml:"region"`
	Endpoint       string `yaml:"endpoint"`
	ForcePathStyle bool   `yaml:"force_path_style"`
}

// Duration is a time.Duration written as "90s", "5m", "1h30m".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration like 90s or 5m")
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, like 90s, 5m or 1h", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default is the config with nothing set: a local dev server and a file archive.
func Default() Config {
	p := incident.DefaultPolicy()
	var ingress Ingress
	ingress.SetDefaults()
	var enrich Enrich
	enrich.SetDefaults()
	var cw CloudWatch
	cw.SetDefaults()
	var corr Correlation
	corr.SetDefaults()
	var digest Digest
	digest.SetDefaults()
	var logs Logs
	logs.SetDefaults()
	return Config{
		Temporal: Temporal{Address: "127.0.0.1:7233", Namespace: "default"},
		Worker:   Worker{MetricsAddr: "127.0.0.1:9090", MaxConcurrentActivities: 100, ShutdownTimeout: Duration(10 * time.Second)},
		Incident: Incident{
			RescanInterval:      Duration(p.RescanInterval),
			CleanScansToResolve: p.CleanScansToResolve,
			NotifyInterval:      Duration(p.NotifyInterval),
			MaxSignalsPerRun:    p.MaxSignalsPerRun,
			MaxHistoryEvents:    p.MaxHistoryEvents,
		},
		Archive:     Archive{URL: "file://var/archive"},
		Slack:       DefaultSlack(),
		Ingress:     ingress,
		Enrich:      enrich,
		CloudWatch:  cw,
		Correlation: corr,
		Digest:      digest,
		Logs:        logs,
	}
}

// Load reads the file at path (none if empty) over the defaults, applies env
// overrides from getenv (os.Getenv if nil), and validates.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := Parse(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		if path != "" {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Parse decodes YAML strictly into cfg, which holds the defaults.
func Parse(b []byte, cfg *Config) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.DisallowUnknownField())
	if err := dec.Decode(cfg); err != nil {
		return errors.New(yaml.FormatError(err, false, false))
	}
	return nil
}

// Env names, also shown by `--help`. applyEnv is the one place they are read.
const (
	EnvTemporalAddress    = "TEMPORAL_ADDRESS"
	EnvTemporalNamespace  = "TEMPORAL_NAMESPACE"
	EnvTemporalAPIKey     = "TEMPORAL_API_KEY"
	EnvMetricsAddr        = "IRFLOW_METRICS_ADDR"
	EnvArchiveURL         = "IRFLOW_ARCHIVE_URL"
	EnvS3Endpoint         = "IRFLOW_S3_ENDPOINT"
	EnvSNSEndpoint        = "IRFLOW_SNS_ENDPOINT"
	EnvOpenSearchURL      = "IRFLOW_OPENSEARCH_URL"
	EnvRulesDir           = "IRFLOW_RULES_DIR"
	EnvSlackToken         = "SLACK_BOT_TOKEN"
	EnvSlackAPIURL        = "IRFLOW_SLACK_API_URL"
	EnvIngressTokens      = "IRFLOW_INGRESS_TOKENS"
	EnvSlackSigningSecret = "SLACK_SIGNING_SECRET"
	EnvGeoIPDB            = "IRFLOW_GEOIP_DB"
	EnvThreatIntel        = "IRFLOW_THREAT_INTEL"
	EnvCloudWatchEndpoint = "IRFLOW_CLOUDWATCH_ENDPOINT"
	EnvLambdaEndpoint     = "IRFLOW_LAMBDA_ENDPOINT"
	// Comma-separated topic ARNs: ingress.sns.allowed_topic_arns.
	EnvSNSAllowedTopicARNs     = "IRFLOW_SNS_ALLOWED_TOPIC_ARNS"
	EnvTemporalTLSCertFile     = "IRFLOW_TEMPORAL_TLS_CERT_FILE"
	EnvTemporalTLSKeyFile      = "IRFLOW_TEMPORAL_TLS_KEY_FILE"
	EnvTemporalTLSCAFile       = "IRFLOW_TEMPORAL_TLS_CA_FILE"
	EnvTemporalTLSServerName   = "IRFLOW_TEMPORAL_TLS_SERVER_NAME"
	EnvSlackDefaultChannel     = "IRFLOW_SLACK_DEFAULT_CHANNEL"
	EnvTemporalUIURL           = "IRFLOW_TEMPORAL_UI_URL"
	EnvOpenSearchDashboardsURL = "IRFLOW_OPENSEARCH_DASHBOARDS_URL"
	EnvConsolePassword         = "IRFLOW_CONSOLE_PASSWORD"
	EnvConsoleSessionKey       = "IRFLOW_CONSOLE_SESSION_KEY"
)

func (c *Config) applyEnv(getenv func(string) string) error {
	set := func(dst *string, names ...string) {
		for _, n := range names {
			if v := getenv(n); v != "" {
				*dst = v
				return
			}
		}
	}
	set(&c.Temporal.Address, "IRFLOW_TEMPORAL_ADDRESS", EnvTemporalAddress)
	set(&c.Temporal.Namespace, "IRFLOW_TEMPORAL_NAMESPACE", EnvTemporalNamespace)
	set(&c.Temporal.APIKey, EnvTemporalAPIKey)
	set(&c.Worker.MetricsAddr, EnvMetricsAddr)
	set(&c.Archive.URL, EnvArchiveURL)
	set(&c.Archive.S3.Endpoint, EnvS3Endpoint)
	set(&c.SNS.Endpoint, EnvSNSEndpoint)
	set(&c.Search.URL, EnvOpenSearchURL)
	set(&c.Search.RulesDir, EnvRulesDir)
	set(&c.Slack.Token, EnvSlackToken)
	set(&c.Slack.APIURL, EnvSlackAPIURL)
	set(&c.Ingress.Slack.SigningSecret, EnvSlackSigningSecret)
	set(&c.Enrich.GeoIPDB, EnvGeoIPDB)
	set(&c.CloudWatch.Endpoint, EnvCloudWatchEndpoint)
	set(&c.Lambda.Endpoint, EnvLambdaEndpoint)
	set(&c.Logs.Output, EnvLogsOutput)
	set(&c.Logs.FirehoseEndpoint, EnvFirehoseEndpoint)
	set(&c.Temporal.TLS.CertFile, EnvTemporalTLSCertFile)
	set(&c.Temporal.TLS.KeyFile, EnvTemporalTLSKeyFile)
	set(&c.Temporal.TLS.CAFile, EnvTemporalTLSCAFile)
	set(&c.Temporal.TLS.ServerName, EnvTemporalTLSServerName)
	set(&c.Slack.DefaultChannel, EnvSlackDefaultChannel)
	set(&c.Slack.TemporalUIURL, EnvTemporalUIURL)
	set(&c.Slack.OpenSearchDashboardsURL, EnvOpenSearchDashboardsURL)
	set(&c.Ingress.Console.Password, EnvConsolePassword)
	set(&c.Ingress.Console.SessionKey, EnvConsoleSessionKey)
	list := func(dst *[]string, name string) {
		if v := getenv(name); v != "" {
			*dst = nil
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					*dst = append(*dst, p)
				}
			}
		}
	}
	list(&c.Enrich.ThreatIntel, EnvThreatIntel)
	list(&c.Ingress.SNS.AllowedTopicARNs, EnvSNSAllowedTopicARNs)
	if err := c.Worker.applyEnv(getenv); err != nil {
		return err
	}
	if v := getenv(EnvIngressTokens); v != "" {
		tokens, err := ParseTokens(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvIngressTokens, err)
		}
		c.Ingress.Tokens = tokens
	}
	return nil
}

// Policy is the incident policy the worker hands each new incident.
func (c *Config) Policy() incident.Policy {
	p := incident.Policy{
		RescanInterval:      time.Duration(c.Incident.RescanInterval),
		CleanScansToResolve: c.Incident.CleanScansToResolve,
		NotifyInterval:      time.Duration(c.Incident.NotifyInterval),
		MaxSignalsPerRun:    c.Incident.MaxSignalsPerRun,
		MaxHistoryEvents:    c.Incident.MaxHistoryEvents,
		Silences:            true,
		Correlation:         c.Correlation.Policy(),
	}
	for _, l := range c.Incident.Escalation.Levels {
		p.Escalation.Levels = append(p.Escalation.Levels, incident.EscalationLevel{After: time.Duration(l.After), Targets: l.Targets})
	}
	return p
}

// Validate checks every field, naming the first bad one in full
// ("incident.escalation.levels[0].after: must be positive, got 0s").
func (c *Config) Validate() error {
	if c.Temporal.Address == "" {
		return errors.New("temporal.address: required")
	}
	if _, _, err := net.SplitHostPort(c.Temporal.Address); err != nil {
		return fmt.Errorf("temporal.address: %q is not host:port", c.Temporal.Address)
	}
	if c.Temporal.Namespace == "" {
		return errors.New("temporal.namespace: required")
	}
	if t := c.Temporal.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("temporal.tls: cert_file and key_file go together")
	}
	if a := c.Worker.MetricsAddr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("worker.metrics_addr: %q is not host:port", a)
		}
	}
	if c.Worker.MaxConcurrentActivities < 1 {
		return fmt.Errorf("worker.max_concurrent_activities: must be at least 1, got %d", c.Worker.MaxConcurrentActivities)
	}
	if err := c.Worker.WorkerTuning.validate(); err != nil {
		return err
	}
	if err := c.Policy().Validate(); err != nil {
		return fmt.Errorf("incident.%s", incident.ErrorMessage(err))
	}
	if _, err := c.Archive.Location(); err != nil {
		return fmt.Errorf("archive.url: %w", err)
	}
	if u := c.Search.URL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("search.url: %q is not an http(s) URL like http://127.0.0.1:9200", u)
		}
	}
	if d := c.Search.RulesDir; d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("search.rules_dir: %q is not a directory", d)
		}
	}
	if c.SlackEnabled() {
		if err := c.Slack.Validate(); err != nil {
			return err
		}
	}
	if err := c.Ingress.Validate(); err != nil {
		return err
	}
	if err := c.Enrich.Validate(); err != nil {
		return err
	}
	if err := c.CloudWatch.Validate(); err != nil {
		return err
	}
	if err := c.Lambda.Validate(); err != nil {
		return err
	}
	if err := c.Silences.Validate(); err != nil {
		return err
	}
	if err := c.Correlation.Validate(); err != nil {
		return err
	}
	if err := c.Digest.Validate(); err != nil {
		return err
	}
	if err := c.Logs.Validate(); err != nil {
		return err
	}
	for i, id := range c.Ingress.Slack.AllowResolve {
		if strings.HasPrefix(id, "S") && !c.SlackEnabled() {
			return fmt.Errorf("ingress.slack.allow_resolve[%d]: user group %s needs slack.token (or %s) to look up its members", i, id, EnvSlackToken)
		}
	}
	return nil
}
