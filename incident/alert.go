package incident

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Alert is one signal from a source: an OpenSearch rule match, a CloudWatch alarm,
// an Alertmanager alert or any JSON a sender posts. Alerts with the same
// Fingerprint belong to the same incident.
type Alert struct {
	// Source names the sender: "elastalert", "alertmanager", "cloudwatch", "rules", ...
	Source string `json:"source"`
	// Rule is the rule or alarm name that fired.
	Rule string `json:"rule"`
	// Env is the environment (prod, staging, ...). Empty means unspecified.
	Env      string   `json:"env,omitempty"`
	Service  string   `json:"service,omitempty"`
	Category string   `json:"category,omitempty"`
	Severity Severity `json:"severity,omitempty"`
	Title    string   `json:"title,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	// QueryKey holds the values that split one rule into separate incidents, such
	// as {"client_ip": "203.0.113.7"}. They are part of the fingerprint.
	QueryKey map[string]string `json:"query_key,omitempty"`
	// Fields carries the rest of the match document or payload, kept for people.
	Fields map[string]any `json:"fields,omitempty"`
	// Time is when the source saw the condition; ingress fills it when absent.
	Time  time.Time `json:"time,omitzero"`
	Links []Link    `json:"links,omitempty"`
	// ExternalID is the sender's own identity for the alert (Alertmanager's
	// fingerprint, an alarm ARN). It joins the fingerprint when set.
	ExternalID string `json:"external_id,omitempty"`
	// Channel is the Slack channel the alert asks for (a rule's
	// slack_channel_override); it wins over the configured routes.
	Channel string `json:"channel,omitempty"`
}

// Field reads one of the alert's fields: the key itself (shippers and
// ElastAlert2 write flat dotted keys), else a dotted path into nested objects.
func (a *Alert) Field(path string) (any, bool) {
	if v, ok := a.Fields[path]; ok {
		return v, true
	}
	var cur any = a.Fields
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Link is a URL a person may want next to the alert: a dashboard, a runbook.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Slack's channel names (lowercase letters, digits, - and _, at most 80,
// with or without #) and channel IDs (C…, G…).
var (
	channelName = regexp.MustCompile(`^#?[a-z0-9][a-z0-9_-]{0,79}$`)
	channelID   = regexp.MustCompile(`^[CG][A-Z0-9]{6,}$`)
)

// ValidChannel reports whether s is a Slack channel name or ID.
func ValidChannel(s string) bool { return channelID.MatchString(s) || channelName.MatchString(s) }

// IsChannelID reports whether s is a Slack channel ID (C…, G…) rather than a name.
func IsChannelID(s string) bool { return channelID.MatchString(s) }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:/@+-]*$`)

// Limits keep one alert small enough to travel in a Temporal payload many times over.
const (
	MaxNameLen    = 200
	MaxTextLen    = 4000
	MaxQueryKeys  = 16
	MaxLinks      = 16
	maxFieldBytes = 64 << 10
)

// Validate checks the alert and returns an *Error (EINVALID) naming the first bad
// field, such as "rule: required".
func (a *Alert) Validate() error {
	return a.validate("")
}

func (a *Alert) validate(prefix string) error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s%s: %s", prefix, field, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{
		{"source", a.Source, true},
		{"rule", a.Rule, true},
		{"env", a.Env, false},
		{"service", a.Service, false},
		{"category", a.Category, false},
	} {
		switch {
		case f.value == "" && f.required:
			return bad(f.name, "required")
		case f.value == "":
		case len(f.value) > MaxNameLen:
			return bad(f.name, "longer than %d characters", MaxNameLen)
		case !namePattern.MatchString(f.value):
			return bad(f.name, "%q has characters outside letters, digits, space and _.:/@+-", f.value)
		}
	}
	if a.Channel != "" && !ValidChannel(a.Channel) {
		return bad("channel", "%q is not a Slack channel name (#lowercase-name) or ID", a.Channel)
	}
	if a.Severity != SeverityUnknown && !a.Severity.Valid() {
		return bad("severity", "unknown severity %d", int(a.Severity))
	}
	if len(a.Title) > MaxTextLen {
		return bad("title", "longer than %d characters", MaxTextLen)
	}
	if len(a.Summary) > MaxTextLen {
		return bad("summary", "longer than %d characters", MaxTextLen)
	}
	if len(a.QueryKey) > MaxQueryKeys {
		return bad("query_key", "more than %d keys", MaxQueryKeys)
	}
	for _, k := range slices.Sorted(maps.Keys(a.QueryKey)) {
		if k == "" {
			return bad("query_key", "empty key")
		}
		if len(k) > MaxNameLen || len(a.QueryKey[k]) > MaxNameLen {
			return bad("query_key."+k, "longer than %d characters", MaxNameLen)
		}
	}
	if len(a.Links) > MaxLinks {
		return bad("links", "more than %d links", MaxLinks)
	}
	for i, l := range a.Links {
		if !strings.HasPrefix(l.URL, "https://") && !strings.HasPrefix(l.URL, "http://") {
			return bad(fmt.Sprintf("links[%d].url", i), "must be an http or https URL")
		}
	}
	if len(a.Fields) > 0 {
		b, err := json.Marshal(a.Fields)
		if err != nil {
			return bad("fields", "%v", err)
		}
		if len(b) > maxFieldBytes {
			return bad("fields", "larger than %d bytes", maxFieldBytes)
		}
	}
	return nil
}

// Truncate cuts s to at most n bytes on a rune boundary, ending a cut
// string with "…": Slack blocks, timeline details, Web UI summaries and rule
// alert texts all have byte limits and must stay valid UTF-8.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "…"
}
