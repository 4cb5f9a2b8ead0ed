package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
)

// The defaults are the two rules, with the built-in key fields.
func TestCorrelationDefaults(t *testing.T) {
	cfg, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Policy().Correlation, (incident.CorrelationPolicy{Enabled: true, Scope: "env"}); got != want {
		t.Errorf("policy = %+v, want %+v", got, want)
	}
	want := incident.CorrelationRules{
		MaxTracked: 10000,
		Pairs: []incident.PairRule{{
			Name:     "waf-5xx",
			First:    incident.AlertMatcher{Categories: []string{"waf"}, Rules: []string{"*waf*"}, Label: "WAF blocks"},
			Second:   incident.AlertMatcher{Categories: []string{"5xx", "http-5xx"}, Rules: []string{"*5xx*"}, Label: "5xx"},
			Same:     incident.RelationKey{Name: "service", Fields: DefaultRelationFields["service"]},
			Within:   10 * time.Minute,
			Severity: incident.SeverityCritical,
		}},
		Bursts: []incident.BurstRule{{
			Name: "related-burst", MinIncidents: 3, MinSeverity: incident.SeverityHigh, Within: 5 * time.Minute,
			Keys: []incident.RelationKey{
				{Name: "source_ip", Fields: DefaultRelationFields["source_ip"]},
				{Name: "user", Fields: DefaultRelationFields["user"]},
				{Name: "service", Fields: DefaultRelationFields["service"]},
			},
		}},
	}
	if got := cfg.Correlation.Rules(); !reflect.DeepEqual(got, want) {
		t.Errorf("rules =\n%+v\nwant\n%+v", got, want)
	}
}

func TestCorrelationLoad(t *testing.T) {
	cfg, err := load(t, `
correlation:
  scope: global
  max_tracked: 500
  keys:
    user: [actor.login]
    host: [httpRequest.host, host]
  pairs:
    - name: waf-5xx-env
      first: {category: waf}
      second: {category: [5xx, http-5xx], min_severity: high, label: server errors}
      same: env
      within: 15m
      severity: high
  bursts:
    - name: same-host
      min_incidents: 4
      within: 2m
      keys: [host, user, tenant]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Policy().Correlation, (incident.CorrelationPolicy{Enabled: true, Scope: "global"}); got != want {
		t.Errorf("policy = %+v, want %+v", got, want)
	}
	want := incident.CorrelationRules{
		MaxTracked: 500,
		Pairs: []incident.PairRule{{
			Name:     "waf-5xx-env",
			First:    incident.AlertMatcher{Categories: []string{"waf"}},
			Second:   incident.AlertMatcher{Categories: []string{"5xx", "http-5xx"}, MinSeverity: incident.SeverityHigh, Label: "server errors"},
			Same:     incident.RelationKey{Name: "env", Fields: []string{"env"}},
			Within:   15 * time.Minute,
			Severity: incident.SeverityHigh,
		}},
		Bursts: []incident.BurstRule{{
			Name: "same-host", MinIncidents: 4, Within: 2 * time.Minute,
			Keys: []incident.RelationKey{
				{Name: "host", Fields: []string{"httpRequest.host", "host"}},
				{Name: "user", Fields: []string{"actor.login"}}, // keys override the built-in fields
				{Name: "tenant", Fields: []string{"tenant"}},    // a key named nowhere reads its own field
			},
		}},
	}
	if got := cfg.Correlation.Rules(); !reflect.DeepEqual(got, want) {
		t.Errorf("rules =\n%+v\nwant\n%+v", got, want)
	}
}

// A file's list replaces the defaults; [] turns the rules off; enabled: false
// reaches the incidents.
func TestCorrelationListsReplaceDefaults(t *testing.T) {
	cfg, err := load(t, "correlation:\n  enabled: false\n  pairs: []\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Correlation.Rules()
	if len(r.Pairs) != 0 || len(r.Bursts) != 1 || r.Bursts[0].Name != "related-burst" {
		t.Errorf("rules = %+v, want no pairs and the default burst", r)
	}
	if cfg.Policy().Correlation.Enabled {
		t.Error("enabled: false did not reach the incident policy")
	}
}

func TestCorrelationErrorsNameTheField(t *testing.T) {
	pair := func(extra string) string {
		return "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n      same: service\n      within: 10m\n      severity: critical\n" + extra
	}
	burst := func(fields string) string {
		return "correlation:\n  bursts:\n    - name: b\n" + fields
	}
	for _, tc := range []struct{ name, yml, want string }{
		{"scope", "correlation:\n  scope: region\n", `correlation.scope: must be env or global, got "region"`},
		{"max tracked", "correlation:\n  max_tracked: 20000\n", `correlation.max_tracked: must be between 10 and 10000, got 20000`},
		{"key name", "correlation:\n  keys:\n    \"source ip\": [src]\n", `correlation.keys: "source ip" is not a relation key name (letters, digits and _ . @ -)`},
		{"key without fields", "correlation:\n  keys:\n    user: []\n", `correlation.keys.user: at least one field required`},
		{"key field", "correlation:\n  keys:\n    user: [user, \"\"]\n", `correlation.keys.user[1]: "" is not a field name (letters, digits and _ . @ -)`},
		{"pair within zero", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n      same: service\n      severity: critical\n",
			`correlation.pairs[0].within: must be positive, got 0s`},
		{"pair within too long", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n      same: service\n      within: 48h\n      severity: critical\n",
			`correlation.pairs[0].within: must be at most 24h0m0s, got 48h0m0s`},
		{"pair without name", "correlation:\n  pairs:\n    - first: {category: waf}\n", `correlation.pairs[0].name: required`},
		{"pair name", "correlation:\n  pairs:\n    - name: waf 5xx\n", `correlation.pairs[0].name: "waf 5xx": use letters, digits and _ . - (at most 100)`},
		{"empty match", "correlation:\n  pairs:\n    - name: p\n      first: {label: x}\n", `correlation.pairs[0].first: at least one of category, rule, source`},
		{"glob", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {rule: [\"*5xx*\", \"[45]xx\"]}\n",
			`correlation.pairs[0].second.rule[1]: "[45]xx": only * and ? are supported in globs`},
		{"match severity", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf, min_severity: urgent}\n",
			`correlation.pairs[0].first.min_severity: unknown severity "urgent" (want one of info, low, medium, high, critical)`},
		{"same missing", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n", `correlation.pairs[0].same: required`},
		{"same format", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n      same: \"service name\"\n",
			`correlation.pairs[0].same: "service name" is not a relation key (letters, digits and _ . @ -): a key of correlation.keys, a built-in one (env, service, source_ip, user) or an alert field`},
		{"severity missing", "correlation:\n  pairs:\n    - name: p\n      first: {category: waf}\n      second: {category: 5xx}\n      same: service\n      within: 10m\n",
			`correlation.pairs[0].severity: required (the severity both incidents are raised to)`},
		{"severity unknown", pair("")[:len(pair(""))-len("critical\n")] + "urgent\n",
			`correlation.pairs[0].severity: unknown severity "urgent" (want one of info, low, medium, high, critical)`},
		{"duplicate pair", pair("    - name: p\n"), `correlation.pairs[1].name: "p" is already the name of correlation.pairs[0]`},
		{"burst named like a pair", pair("  bursts:\n    - name: p\n"), `correlation.bursts[0].name: "p" is already the name of correlation.pairs[0]`},
		{"min incidents", burst("      min_incidents: 1\n"), `correlation.bursts[0].min_incidents: must be at least 2, got 1`},
		{"burst severity", burst("      min_incidents: 3\n      min_severity: severe\n"),
			`correlation.bursts[0].min_severity: unknown severity "severe" (want one of info, low, medium, high, critical)`},
		{"burst within", burst("      min_incidents: 3\n      within: -5m\n      keys: [user]\n"), `correlation.bursts[0].within: must be positive, got -5m0s`},
		{"burst keys", burst("      min_incidents: 3\n      within: 5m\n"), `correlation.bursts[0].keys: at least one relation key required`},
		{"burst key format", burst("      min_incidents: 3\n      within: 5m\n      keys: [user, \"client ip\"]\n"),
			`correlation.bursts[0].keys[1]: "client ip" is not a relation key (letters, digits and _ . @ -): a key of correlation.keys, a built-in one (env, service, source_ip, user) or an alert field`},
		{"burst key twice", burst("      min_incidents: 3\n      within: 5m\n      keys: [user, service, user]\n"), `correlation.bursts[0].keys[2]: "user" is listed twice`},
		{"string list", "correlation:\n  pairs:\n    - name: p\n      first: {category: {a: b}}\n", `want a string or a list of strings`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			// Load puts "config <path>: " in front; the rest is exact.
			if got := err.Error(); !strings.HasSuffix(got, ": "+tc.want) && !(tc.name == "string list" && strings.Contains(got, tc.want)) {
				t.Fatalf("error = %s\nwant it to end in %s", got, tc.want)
			}
		})
	}
}

// The example config shows the defaults, commented keys included.
func TestExampleConfigShowsTheCorrelationDefaults(t *testing.T) {
	p := filepath.Join("..", "..", "deploy", "config", "irflow.example.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config // no defaults: what the file says
	if err := Parse(b, &cfg); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	def := Default()
	if got, want := cfg.Correlation.Policy(), def.Correlation.Policy(); got != want {
		t.Errorf("policy %+v, want the default %+v", got, want)
	}
	if got, want := cfg.Correlation.Rules(), def.Correlation.Rules(); !reflect.DeepEqual(got, want) {
		t.Errorf("rules\n %+v\nwant the defaults\n %+v", got, want)
	}
	// The commented keys are the built-in ones.
	for name, fields := range DefaultRelationFields {
		if name == "env" {
			continue
		}
		line := "#   " + name + ": [" + strings.Join(fields, ", ") + "]"
		if !strings.Contains(string(b), line) {
			t.Errorf("%s: want the line %q", p, line)
		}
	}
}
