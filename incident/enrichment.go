package incident

import (
	"strings"
	"time"
)

// SourceCloudWatch is the source of alerts from CloudWatch alarms (through
// SNS); with the cloudwatch section enabled they re-scan with DescribeAlarms.
const SourceCloudWatch = "cloudwatch"

// Enrichment is the context irflow adds to an incident's alert: who owns it,
// where its IPs are, and which of its indicators are known bad. It is computed
// by the enrich activity, kept in the workflow, shown in Slack and
// `incident show`, and archived.
type Enrichment struct {
	Owner *Owner `json:"owner,omitempty"`
	// Geo has one entry per IP found in the alert, in the order found.
	Geo []IPGeo `json:"geo,omitempty"`
	// ThreatIntel lists the indicators that matched a threat-intel list.
	ThreatIntel []ThreatHit `json:"threat_intel,omitempty"`
	// At is when the enrichment ran.
	At time.Time `json:"at,omitzero"`
}

// Empty reports whether the enrichment found nothing worth showing.
func (e *Enrichment) Empty() bool {
	return e == nil || e.Owner == nil && len(e.Geo) == 0 && len(e.ThreatIntel) == 0
}

// Owner is who answers for the alert's service, from the enrich.owners config.
type Owner struct {
	Team    string `json:"team,omitempty"`
	Env     string `json:"env,omitempty"`
	Channel string `json:"channel,omitempty"`
	Runbook string `json:"runbook,omitempty"`
}

// IPGeo is where one IP is, from the GeoIP database.
type IPGeo struct {
	IP string `json:"ip"`
	// Field is the alert field the IP came from ("client.ip").
	Field      string `json:"field,omitempty"`
	Country    string `json:"country,omitempty"`
	CountryISO string `json:"country_iso,omitempty"`
	City       string `json:"city,omitempty"`
	ASN        uint   `json:"asn,omitempty"`
	ASOrg      string `json:"as_org,omitempty"`
}

// ThreatHit is one indicator found in a threat-intel list.
type ThreatHit struct {
	// Indicator is the IP or domain from the alert; Match the list entry it
	// matched (a CIDR, or a parent domain).
	Indicator string   `json:"indicator"`
	Field     string   `json:"field,omitempty"`
	Match     string   `json:"match"`
	Tags      []string `json:"tags,omitempty"`
	// Source is the list's source column, or its file name.
	Source string `json:"source"`
}

// Glob matches s against pattern with * (any run) and ? (one rune), ignoring
// case; an empty pattern matches anything. Routes and owner rules use it.
func Glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative wildcard match with backtracking to the last star.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
