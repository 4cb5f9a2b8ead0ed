package incident

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The cross-incident correlator's domain: which incidents belong together
// (docs/correlation.md). The correlator workflow holds the window; the rules
// and the matching live here so they are pure and table-tested.

// SourceCorrelator is the source of the parent incidents the correlator
// opens over a burst; their rules are "correlation:<burst name>". The
// correlator never counts them into a burst or a pair.
const SourceCorrelator = "irflow"

// CorrelationRulePrefix starts the rule of a parent incident.
const CorrelationRulePrefix = "correlation:"

// Correlator scopes: one correlator per env, or one for everything.
const (
	CorrelationScopeEnv    = "env"
	CorrelationScopeGlobal = "global"
)

// CorrelationPolicy is what an incident knows of the correlator: whether to
// report to it, and which one. It rides in Policy, so runs recorded without
// it decode as disabled.
type CorrelationPolicy struct {
	Enabled bool `json:"enabled,omitempty"`
	// Scope is CorrelationScopeEnv or CorrelationScopeGlobal.
	Scope string `json:"scope,omitempty"`
}

// CorrelationRules are the correlator's rules, from the correlation config.
type CorrelationRules struct {
	Pairs  []PairRule  `json:"pairs,omitempty"`
	Bursts []BurstRule `json:"bursts,omitempty"`
	// MaxTracked caps the incidents the correlator keeps; the oldest go first.
	MaxTracked int `json:"max_tracked,omitempty"`
}

// Longest is the longest window of any rule: how long the correlator keeps
// an incident it was told about.
func (r CorrelationRules) Longest() time.Duration {
	var d time.Duration
	for _, p := range r.Pairs {
		d = max(d, p.Within)
	}
	for _, b := range r.Bursts {
		d = max(d, b.Within)
	}
	return d
}

// Keys lists the relation keys the rules use, each once, in rule order.
func (r CorrelationRules) Keys() []RelationKey {
	var keys []RelationKey
	seen := map[string]bool{}
	add := func(k RelationKey) {
		if !seen[k.Name] {
			seen[k.Name] = true
			keys = append(keys, k)
		}
	}
	for _, p := range r.Pairs {
		add(p.Same)
	}
	for _, b := range r.Bursts {
		for _, k := range b.Keys {
			add(k)
		}
	}
	return keys
}

// PairRule: an incident matching First and one matching Second that share
// the Same key value and opened within Within of each other are both raised
// to Severity and linked to each other.
type PairRule struct {
	Name     string        `json:"name"`
	First    AlertMatcher  `json:"first"`
	Second   AlertMatcher  `json:"second"`
	Same     RelationKey   `json:"same"`
	Within   time.Duration `json:"within"`
	Severity Severity      `json:"severity"`
}

// BurstRule: MinIncidents or more incidents of at least MinSeverity that
// opened within Within of each other and share a value of one of Keys get a
// parent incident that links them.
type BurstRule struct {
	Name         string        `json:"name"`
	MinIncidents int           `json:"min_incidents"`
	MinSeverity  Severity      `json:"min_severity,omitempty"`
	Within       time.Duration `json:"within"`
	Keys         []RelationKey `json:"keys"`
}

// AlertMatcher selects incidents by their alert: one whose category, rule
// or source matches any of the globs listed (* and ?, ignoring case), at
// MinSeverity or above. A matcher without globs selects by severity alone.
type AlertMatcher struct {
	Categories  []string `json:"categories,omitempty"`
	Rules       []string `json:"rules,omitempty"`
	Sources     []string `json:"sources,omitempty"`
	MinSeverity Severity `json:"min_severity,omitempty"`
	// Label names what the matched incidents are in reasons ("WAF blocks");
	// empty uses the incident's category, else its rule.
	Label string `json:"label,omitempty"`
}

// Match reports whether the incident with alert a, now at severity sev, matches.
func (m AlertMatcher) Match(a *Alert, sev Severity) bool {
	if sev < m.MinSeverity {
		return false
	}
	if len(m.Categories)+len(m.Rules)+len(m.Sources) == 0 {
		return true
	}
	return anyGlob(m.Categories, a.Category) || anyGlob(m.Rules, a.Rule) || anyGlob(m.Sources, a.Source)
}

// LabelFor is how a reason names an incident this matcher matched.
func (m AlertMatcher) LabelFor(a *Alert) string {
	switch {
	case m.Label != "":
		return m.Label
	case a.Category != "":
		return a.Category
	}
	return a.Rule
}

// anyGlob reports whether one of patterns matches s; s empty never matches
// (an alert without a category is not in category "*").
func anyGlob(patterns []string, s string) bool {
	if s == "" {
		return false
	}
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}

// RelationKey is something two incidents may share: a service, a source IP,
// a user. Fields are where an alert carries it, tried in order; the first
// that has a value wins.
type RelationKey struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

// Value is the key's value in alert a; empty when no field has one.
func (k RelationKey) Value(a *Alert) string {
	for _, f := range k.Fields {
		if v := AlertValue(a, f); v != "" {
			return v
		}
	}
	return ""
}

// AlertValue reads one field of an alert as text: the alert's own service,
// env, category, rule and source by those names, else a query key, else a
// field of the payload (flat or dotted, see Alert.Field). Objects and lists
// have no single value and read as empty.
func AlertValue(a *Alert, field string) string {
	switch field {
	case "service":
		if a.Service != "" {
			return a.Service
		}
	case "env":
		if a.Env != "" {
			return a.Env
		}
	case "category":
		if a.Category != "" {
			return a.Category
		}
	case "rule":
		return a.Rule
	case "source":
		return a.Source
	}
	if v := a.QueryKey[field]; v != "" {
		return v
	}
	v, ok := a.Field(field)
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int, int64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

// ShortDuration writes d as reasons do: "40s", "4m", "1h5m", "2h".
func ShortDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d = d.Round(time.Second); d < time.Minute {
		return d.String()
	}
	s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
