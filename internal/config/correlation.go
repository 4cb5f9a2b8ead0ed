package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/incident"
)

// Correlation is the `correlation:` section: the cross-incident correlator
// (docs/correlation.md). Incidents report to it when they open, change
// severity and resolve; it raises pairs that mean more together and opens a
// parent incident over bursts of related ones.
type Correlation struct {
	// Enabled turns reporting on; default true.
	Enabled bool `yaml:"enabled"`
	// Scope is "env" (one correlator per env: incidents of different envs
	// never correlate) or "global" (one for everything); default env.
	Scope string `yaml:"scope"`
	// MaxTracked caps the incidents a correlator keeps in its window; the
	// oldest go first. Default and most 10000: the window rides along when
	// the correlator continues as new, in one Temporal payload.
	MaxTracked int `yaml:"max_tracked"`
	// Keys says where a relation key is read from, overriding or adding to
	// DefaultRelationFields: {source_ip: [source_ip, client.ip]}. A key named
	// nowhere is read from the alert field of its own name.
	Keys map[string][]string `yaml:"keys"`
	// Pairs and Bursts are the rules; a file's list replaces the defaults,
	// `[]` turns them off.
	Pairs  []CorrelationPair  `yaml:"pairs"`
	Bursts []CorrelationBurst `yaml:"bursts"`
}

// CorrelationPair raises two incidents that mean more together: one
// matching First and one matching Second, sharing the Same relation key value,
// opened within Within of each other, both go to Severity and link each other.
type CorrelationPair struct {
	Name     string           `yaml:"name"`
	First    CorrelationMatch `yaml:"first"`
	Second   CorrelationMatch `yaml:"second"`
	Same     string           `yaml:"same"`
	Within   Duration         `yaml:"within"`
	Severity string           `yaml:"severity"`
}

// CorrelationMatch selects incidents: one whose category, rule or source
// matches any of the globs listed (* and ?, ignoring case), at least
// MinSeverity. Label names them in reasons ("WAF blocks").
type CorrelationMatch struct {
	Category    StringList `yaml:"category"`
	Rule        StringList `yaml:"rule"`
	Source      StringList `yaml:"source"`
	MinSeverity string     `yaml:"min_severity"`
	Label       string     `yaml:"label"`
}

// CorrelationBurst opens a parent incident over MinIncidents or more
// incidents of at least MinSeverity (empty: any) opened within Within that
// share a value of one of Keys.
type CorrelationBurst struct {
	Name         string   `yaml:"name"`
	MinIncidents int      `yaml:"min_incidents"`
	MinSeverity  string   `yaml:"min_severity"`
	Within       Duration `yaml:"within"`
	Keys         []string `yaml:"keys"`
}

// StringList is a YAML list of strings that may also be written as one
// string: `category: waf` or `category: [5xx, http-5xx]`.
type StringList []string

func (l *StringList) UnmarshalYAML(b []byte) error {
	var list []string
	if err := yaml.Unmarshal(b, &list); err == nil {
		*l = list
		return nil
	}
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a string or a list of strings")
	}
	*l = StringList{s}
	return nil
}

// DefaultRelationFields is where the built-in relation keys are read from,
// first value found wins: the alert's own service, query keys, then fields
// of the payload (flat or dotted) in the formats irflow ingests.
var DefaultRelationFields = map[string][]string{
	"source_ip": {"source_ip", "src_ip", "client_ip", "client.ip", "clientIp", "httpRequest.clientIp", "source.ip", "remote_addr"},
	"user":      {"user", "user.name", "username", "user_name", "user.id", "userIdentity.userName"},
	"service":   {"service", "service.name", "kubernetes.namespace_name", "namespace"},
	"env":       {"env"},
}

// Correlation limits.
const (
	maxCorrelationTracked = 10000
	maxCorrelationWindow  = 24 * time.Hour
)

// DefaultCorrelationPairs and DefaultCorrelationBursts are the two
// rules: WAF blocks and 5xx on one service within 10 minutes are critical;
// three high-or-worse incidents within 5 minutes sharing a source IP, user
// or service get a parent incident.
func DefaultCorrelationPairs() []CorrelationPair {
	return []CorrelationPair{{
		Name: "waf-5xx",
		// Rule globs too: CloudWatch WAF alarms carry no category, and the
		// back-end 5xx rules are in category reliability.
		First:    CorrelationMatch{Category: StringList{"waf"}, Rule: StringList{"*waf*"}, Label: "WAF blocks"},
		Second:   CorrelationMatch{Category: StringList{"5xx", "http-5xx"}, Rule: StringList{"*5xx*"}, Label: "5xx"},
		Same:     "service",
		Within:   Duration(10 * time.Minute),
		Severity: "critical",
	}}
}

// DefaultCorrelationBursts: see DefaultCorrelationPairs.
func DefaultCorrelationBursts() []CorrelationBurst {
	return []CorrelationBurst{{
		Name: "related-burst", MinIncidents: 3, MinSeverity: "high",
		Within: Duration(5 * time.Minute), Keys: []string{"source_ip", "user", "service"},
	}}
}

// SetDefaults fills the defaults. Default calls it before the file is
// read, so a file's `enabled: false` wins.
func (c *Correlation) SetDefaults() {
	c.Enabled = true
	if c.Scope == "" {
		c.Scope = incident.CorrelationScopeEnv
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = maxCorrelationTracked
	}
	if c.Pairs == nil {
		c.Pairs = DefaultCorrelationPairs()
	}
	if c.Bursts == nil {
		c.Bursts = DefaultCorrelationBursts()
	}
}

var (
	correlationName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	relationKeyName = regexp.MustCompile(`^[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,199}$`)
)

// Validate checks the section, naming the field:
// "correlation.pairs[0].within: must be positive, got 0s".
func (c *Correlation) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("correlation.%s: %s", field, fmt.Sprintf(format, args...))
	}
	if c.Scope != incident.CorrelationScopeEnv && c.Scope != incident.CorrelationScopeGlobal {
		return bad("scope", "must be env or global, got %q", c.Scope)
	}
	if c.MaxTracked < 10 || c.MaxTracked > maxCorrelationTracked {
		return bad("max_tracked", "must be between 10 and %d, got %d", maxCorrelationTracked, c.MaxTracked)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Keys)) {
		if !relationKeyName.MatchString(name) {
			return bad("keys", "%q is not a relation key name (letters, digits and _ . @ -)", name)
		}
		if len(c.Keys[name]) == 0 {
			return bad("keys."+name, "at least one field required")
		}
		for i, f := range c.Keys[name] {
			if !relationKeyName.MatchString(f) {
				return bad(fmt.Sprintf("keys.%s[%d]", name, i), "%q is not a field name (letters, digits and _ . @ -)", f)
			}
		}
	}
	names := map[string]string{} // rule name → where it was first used
	named := func(at, name string) error {
		switch {
		case name == "":
			return bad(at+".name", "required")
		case !correlationName.MatchString(name):
			return bad(at+".name", "%q: use letters, digits and _ . - (at most 100)", name)
		case names[name] != "":
			return bad(at+".name", "%q is already the name of correlation.%s", name, names[name])
		}
		names[name] = at
		return nil
	}
	key := func(field, name string) error {
		switch {
		case name == "":
			return bad(field, "required")
		case !relationKeyName.MatchString(name):
			return bad(field, "%q is not a relation key (letters, digits and _ . @ -): a key of correlation.keys, a built-in one (%s) or an alert field",
				name, strings.Join(slices.Sorted(maps.Keys(DefaultRelationFields)), ", "))
		}
		return nil
	}
	window := func(field string, d Duration) error {
		switch v := time.Duration(d); {
		case v <= 0:
			return bad(field, "must be positive, got %s", v)
		case v > maxCorrelationWindow:
			return bad(field, "must be at most %s, got %s", maxCorrelationWindow, v)
		}
		return nil
	}
	for i, p := range c.Pairs {
		at := fmt.Sprintf("pairs[%d]", i)
		if err := named(at, p.Name); err != nil {
			return err
		}
		for _, m := range []struct {
			field string
			match CorrelationMatch
		}{{"first", p.First}, {"second", p.Second}} {
			if err := m.match.validate(); err != nil {
				return bad(at+"."+m.field+err.field, "%s", err.msg)
			}
		}
		if err := key(at+".same", p.Same); err != nil {
			return err
		}
		if err := window(at+".within", p.Within); err != nil {
			return err
		}
		if p.Severity == "" {
			return bad(at+".severity", "required (the severity both incidents are raised to)")
		}
		if _, err := incident.ParseSeverity(p.Severity); err != nil {
			return bad(at+".severity", "%s", err)
		}
	}
	for i, b := range c.Bursts {
		at := fmt.Sprintf("bursts[%d]", i)
		if err := named(at, b.Name); err != nil {
			return err
		}
		if b.MinIncidents < 2 {
			return bad(at+".min_incidents", "must be at least 2, got %d", b.MinIncidents)
		}
		if b.MinSeverity != "" {
			if _, err := incident.ParseSeverity(b.MinSeverity); err != nil {
				return bad(at+".min_severity", "%s", err)
			}
		}
		if err := window(at+".within", b.Within); err != nil {
			return err
		}
		if len(b.Keys) == 0 {
			return bad(at+".keys", "at least one relation key required")
		}
		for j, k := range b.Keys {
			if err := key(fmt.Sprintf("%s.keys[%d]", at, j), k); err != nil {
				return err
			}
			if slices.Index(b.Keys, k) < j {
				return bad(fmt.Sprintf("%s.keys[%d]", at, j), "%q is listed twice", k)
			}
		}
	}
	return nil
}

// validate checks a match; the field is relative (".min_severity").
func (m CorrelationMatch) validate() *fieldError {
	if len(m.Category)+len(m.Rule)+len(m.Source) == 0 {
		return &fieldError{"", "at least one of category, rule, source"}
	}
	for _, l := range []struct {
		field string
		globs StringList
	}{{"category", m.Category}, {"rule", m.Rule}, {"source", m.Source}} {
		for i, g := range l.globs {
			switch {
			case strings.TrimSpace(g) == "":
				return &fieldError{fmt.Sprintf(".%s[%d]", l.field, i), "empty"}
			case strings.ContainsAny(g, "[]{}"):
				return &fieldError{fmt.Sprintf(".%s[%d]", l.field, i), fmt.Sprintf("%q: only * and ? are supported in globs", g)}
			}
		}
	}
	if m.MinSeverity != "" {
		if _, err := incident.ParseSeverity(m.MinSeverity); err != nil {
			return &fieldError{".min_severity", err.Error()}
		}
	}
	return nil
}

// Policy is what each incident is told of the correlator.
func (c *Correlation) Policy() incident.CorrelationPolicy {
	return incident.CorrelationPolicy{Enabled: c.Enabled, Scope: c.Scope}
}

// Rules are the correlator's rules, relation keys resolved to their fields.
// The section must be valid.
func (c *Correlation) Rules() incident.CorrelationRules {
	sev := func(s string) incident.Severity {
		v, _ := incident.ParseSeverity(s) // empty: SeverityUnknown, no floor
		return v
	}
	rk := func(name string) incident.RelationKey {
		fields := c.Keys[name]
		if len(fields) == 0 {
			fields = DefaultRelationFields[name]
		}
		if len(fields) == 0 {
			fields = []string{name}
		}
		return incident.RelationKey{Name: name, Fields: slices.Clone(fields)}
	}
	match := func(m CorrelationMatch) incident.AlertMatcher {
		return incident.AlertMatcher{
			Categories: slices.Clone(m.Category), Rules: slices.Clone(m.Rule), Sources: slices.Clone(m.Source),
			MinSeverity: sev(m.MinSeverity), Label: m.Label,
		}
	}
	r := incident.CorrelationRules{MaxTracked: c.MaxTracked}
	for _, p := range c.Pairs {
		r.Pairs = append(r.Pairs, incident.PairRule{
			Name: p.Name, First: match(p.First), Second: match(p.Second), Same: rk(p.Same),
			Within: time.Duration(p.Within), Severity: sev(p.Severity),
		})
	}
	for _, b := range c.Bursts {
		br := incident.BurstRule{Name: b.Name, MinIncidents: b.MinIncidents, MinSeverity: sev(b.MinSeverity), Within: time.Duration(b.Within)}
		for _, k := range b.Keys {
			br.Keys = append(br.Keys, rk(k))
		}
		r.Bursts = append(r.Bursts, br)
	}
	return r
}
