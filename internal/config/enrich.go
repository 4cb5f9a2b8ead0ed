package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Enrich is the `enrich:` section: the context the worker adds to every
// incident. Every source is optional; with none set, incidents carry only
// what their alert says.
type Enrich struct {
	// GeoIPDB is a MaxMind-format City or Country database (GeoLite2-City.mmdb).
	GeoIPDB string `yaml:"geoip_db"`
	// ASNDB is an optional MaxMind-format ASN database; ASN fields found in
	// GeoIPDB itself are used too.
	ASNDB string `yaml:"asn_db"`
	// ThreatIntel lists files of IPs, CIDRs and domains: plain lines, or CSV
	// with the header indicator,tags,source. They are re-read when they change.
	ThreatIntel []string `yaml:"threat_intel"`
	// ReloadInterval is how often the worker checks the lists for changes; default 5m.
	ReloadInterval Duration `yaml:"reload_interval"`
	// IPFields and DomainFields name the alert fields (query_key names or
	// dotted paths into fields) that carry IPs and domains, tried in order.
	IPFields     []string `yaml:"ip_fields"`
	DomainFields []string `yaml:"domain_fields"`
	// Owners map an alert to the team that answers for it; the first match wins.
	Owners []OwnerRule `yaml:"owners"`
}

// OwnerRule names the owner of alerts that match.
type OwnerRule struct {
	Match   OwnerMatch `yaml:"match"`
	Team    string     `yaml:"team"`
	Env     string     `yaml:"env"`
	Channel string     `yaml:"channel"`
	Runbook string     `yaml:"runbook"`
}

// OwnerMatch holds globs (* and ?, case-insensitive); all set ones must hold.
// Index is the alert's fields._index, Namespace its fields
// kubernetes.namespace_name (or namespace), Service its service.
type OwnerMatch struct {
	Index     string `yaml:"index"`
	Service   string `yaml:"service"`
	Namespace string `yaml:"namespace"`
	Rule      string `yaml:"rule"`
	Category  string `yaml:"category"`
}

// DefaultReloadInterval is how often threat-intel files are checked for changes.
const DefaultReloadInterval = 5 * time.Minute

// DefaultIPFields and DefaultDomainFields cover the formats irflow ingests:
// its demo and ECS-style app logs, AWS WAF logs, ALB logs and ElastAlert2 matches.
var (
	DefaultIPFields = []string{
		"source_ip", "src_ip", "client_ip", "client.ip", "clientIp", "httpRequest.clientIp",
		"source.ip", "remote_addr", "ip",
	}
	DefaultDomainFields = []string{"domain", "url.domain", "host", "httpRequest.host", "dns.question.name"}
)

// SetDefaults fills the zero fields.
func (e *Enrich) SetDefaults() {
	if e.ReloadInterval == 0 {
		e.ReloadInterval = Duration(DefaultReloadInterval)
	}
	if len(e.IPFields) == 0 {
		e.IPFields = append([]string(nil), DefaultIPFields...)
	}
	if len(e.DomainFields) == 0 {
		e.DomainFields = append([]string(nil), DefaultDomainFields...)
	}
}

// Validate checks the section, naming the field. The files' contents are
// read (and their errors reported with file and line) when the worker starts.
func (e *Enrich) Validate() error {
	for _, f := range []struct{ field, path string }{{"geoip_db", e.GeoIPDB}, {"asn_db", e.ASNDB}} {
		if f.path != "" {
			if err := regularFile(f.path); err != nil {
				return fmt.Errorf("enrich.%s: %w", f.field, err)
			}
		}
	}
	for i, p := range e.ThreatIntel {
		if err := regularFile(p); err != nil {
			return fmt.Errorf("enrich.threat_intel[%d]: %w", i, err)
		}
	}
	if time.Duration(e.ReloadInterval) < time.Second {
		return fmt.Errorf("enrich.reload_interval: %s is under 1s", time.Duration(e.ReloadInterval))
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"ip_fields", e.IPFields}, {"domain_fields", e.DomainFields}} {
		for i, f := range l.list {
			if strings.TrimSpace(f) == "" {
				return fmt.Errorf("enrich.%s[%d]: empty field name", l.name, i)
			}
		}
	}
	for i, o := range e.Owners {
		at := fmt.Sprintf("enrich.owners[%d]", i)
		if o.Match == (OwnerMatch{}) {
			return fmt.Errorf("%s.match: at least one of index, service, namespace, rule, category", at)
		}
		if o.Team == "" {
			return fmt.Errorf("%s.team: required", at)
		}
		if o.Channel != "" && !validChannel(o.Channel) {
			return fmt.Errorf("%s.channel: %q is not a channel name (#lowercase-name) or ID", at, o.Channel)
		}
		if o.Runbook != "" && !strings.HasPrefix(o.Runbook, "https://") && !strings.HasPrefix(o.Runbook, "http://") {
			return fmt.Errorf("%s.runbook: %q must be an http or https URL", at, o.Runbook)
		}
	}
	return nil
}

func regularFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%q: %w", path, errUnwrapPath(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("%q is a directory, want a file", path)
	}
	return nil
}

// errUnwrapPath drops the path os.Stat repeats in its error.
func errUnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
