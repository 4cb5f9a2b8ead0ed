package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
)

const testCorrelationMapping = `logsources:
  - logsource: {category: webserver}
    index: web-*
    owner: security
    env: prod
    category: web
    fields:
      c-uri: request.path
      c-ip: client_ip
      cs-username: user.name
      sc-status: status
  - logsource: {category: proxy}
    index: proxy-*
    fields:
      c-ip: client_ip
  - logsource: {category: firewall}
    index: web-*
    fields:
      c-ip: src_ip
      c-uri: request.path
  - logsource: {category: dns}
    index: web-*
    keyword_suffix: .keyword
    fields:
      c-ip: client_ip
      c-uri: request.path
`

func writeCorrelation(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_sigma.yaml"), []byte(testCorrelationMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "corr.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	corrLogin = `---
title: Failed login
name: failed_login
logsource: {category: webserver}
detection:
  sel: {c-uri: /login, sc-status: 401}
  condition: sel
`
	corrAdmin = `---
title: Admin page
name: admin_page
logsource: {category: webserver}
detection:
  sel: {c-uri|startswith: /admin}
  condition: sel
`
)

func TestSigmaEventCount(t *testing.T) {
	path := writeCorrelation(t, `title: Many failed logins
name: brute-force
description: one address failing again and again
tags: [attack.t1110]
level: high
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [c-ip]
  timespan: 5m
  condition: {gte: 3}
`+corrLogin)
	r, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "brute-force" || r.Type != TypeFrequency || r.NumEvents != 3 || r.Timeframe != 5*time.Minute ||
		!reflect.DeepEqual(r.QueryKey, []string{"client_ip"}) || r.Index != "web-*" || r.Severity != "high" || r.Owner != "security" {
		t.Fatalf("rule = %+v", r)
	}
	fail := func(at time.Duration, ip string) Event {
		return ev(at, "client_ip", ip, "status", 401, "request", map[string]any{"path": "/login"})
	}
	events := []Event{fail(0, "a"), fail(time.Minute, "a"), fail(time.Minute, "b"), ev(2*time.Minute, "client_ip", "a", "status", 200, "request", map[string]any{"path": "/login"}),
		fail(3*time.Minute, "b"), fail(4*time.Minute, "a")}
	res, err := Backtest(r, events, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 1 || res.Matches[0].Key != "a" || !res.Matches[0].Time.Equal(ts(4*time.Minute)) || fieldOf(res.Matches[0], "num_hits") != "3" {
		t.Fatalf("matches = %v", res.Matches)
	}
	a := MatchAlert(r, res.Matches[0])
	if a.Title != "Many failed logins" || a.Severity != incident.SeverityHigh || a.QueryKey["client_ip"] != "a" ||
		a.Summary != "one address failing again and again\nTags: attack.t1110" {
		t.Errorf("alert = %+v", a)
	}
}

func TestSigmaValueCount(t *testing.T) {
	path := writeCorrelation(t, `title: Many users from one address
correlation:
  type: value_count
  rules: [failed_login]
  group-by: [c-ip]
  timespan: 10m
  condition: {field: cs-username, gt: 1}
`+corrLogin)
	r, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "corr" || r.Type != TypeCardinality || r.CardinalityField != "user.name" || r.MaxCardinality == nil || *r.MaxCardinality != 1 {
		t.Fatalf("rule = %+v", r)
	}
	fail := func(at time.Duration, ip, user string) Event {
		return ev(at, "client_ip", ip, "status", 401, "request", map[string]any{"path": "/login"}, "user", map[string]any{"name": user})
	}
	res, err := Backtest(r, []Event{fail(0, "a", "x"), fail(time.Minute, "a", "x"), fail(2*time.Minute, "b", "x"), fail(3*time.Minute, "a", "y")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 1 || res.Matches[0].Key != "a" || !res.Matches[0].Time.Equal(ts(3*time.Minute)) {
		t.Fatalf("matches = %v", res.Matches)
	}
}

func TestSigmaTemporal(t *testing.T) {
	path := writeCorrelation(t, `title: Failed login then admin page
correlation:
  type: temporal
  rules: [failed_login, admin_page]
  group-by: [c-ip]
  timespan: 2m
`+corrLogin+corrAdmin)
	r, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != TypeTemporal || r.NumEvents != 2 || len(r.Temporal) != 2 || r.Temporal[1].Name != "admin_page" {
		t.Fatalf("rule = %+v", r)
	}
	r.Realert = 0
	login := func(at time.Duration, ip string) Event {
		return ev(at, "client_ip", ip, "status", 401, "request", map[string]any{"path": "/login"})
	}
	admin := func(at time.Duration, ip string) Event {
		return ev(at, "client_ip", ip, "request", map[string]any{"path": "/admin/users"})
	}
	events := []Event{
		login(0, "a"), admin(3*time.Minute, "a"), // too far apart
		admin(4*time.Minute, "b"), login(5*time.Minute, "b"), // any order: match at 5m
		login(6*time.Minute, "b"),                              // starts afresh after the match
		admin(7*time.Minute+59*time.Second, "b"),               // within 2m of 6m: match
		login(10*time.Minute, "c"), admin(12*time.Minute, "c"), // exactly 2m: out
	}
	res, err := Backtest(r, events, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Matches {
		got = append(got, m.Time.Sub(t0).String()+" "+m.Key+" "+fieldOf(m, TemporalField))
	}
	want := []string{"5m0s b [failed_login admin_page]", "7m59s b [failed_login admin_page]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("matches = %q, want %q", got, want)
	}
	// State carried through JSON between sweeps, as the sweep workflow does:
	// a login in one sweep and the admin page in the next still match.
	st := &State{}
	if ms := run(t, r, st, []Event{login(0, "d")}, ts(30*time.Second)); len(ms) != 0 {
		t.Fatalf("first sweep matched %v", ms)
	}
	st = roundTrip(t, st)
	ms, err := r.Evaluate(st, []Event{admin(time.Minute, "d")}, ts(30*time.Second), ts(2*time.Minute))
	if err != nil || len(ms) != 1 || ms[0].Key != "d" {
		t.Errorf("second sweep: %v, %v", ms, err)
	}
	if len(st.Temporal) != 0 {
		t.Errorf("state after the match = %v", st.Temporal)
	}
}

func TestSigmaCorrelationFiles(t *testing.T) {
	// The file is one rule: its referenced rules get no Schedule of their own
	// (generate: false), and rules.Files lists the file once.
	path := writeCorrelation(t, "title: c\ngenerate: false\ncorrelation: {type: event_count, rules: [failed_login], timespan: 1m, condition: {gte: 2}}\n"+corrLogin)
	files, err := Files(filepath.Dir(path))
	if err != nil || len(files) != 1 {
		t.Fatalf("files = %v, %v", files, err)
	}
	r, err := LoadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "corr" || len(r.QueryKey) != 0 {
		t.Errorf("rule = %+v", r)
	}
	// An event the referenced rule matches raises nothing by itself.
	one := ev(0, "client_ip", "a", "status", 401, "request", map[string]any{"path": "/login"})
	res, err := Backtest(r, []Event{one}, 0)
	if err != nil || len(res.Matches) != 0 {
		t.Errorf("one failed login: %v, %v", res, err)
	}
}

func TestSigmaCorrelationRefused(t *testing.T) {
	head := func(corr string) string { return "title: c\ncorrelation:\n" + corr }
	count := "  type: event_count\n  rules: [failed_login]\n  group-by: [c-ip]\n  timespan: 5m\n"
	for _, tc := range []struct{ name, text, want string }{
		{"generate true", "title: c\ngenerate: true\ncorrelation: {type: event_count, rules: [failed_login], timespan: 1m, condition: {gte: 2}}\n" + corrLogin,
			"2: generate: true: not supported (put the rule in a file of its own to alert on it alone)"},
		{"temporal_ordered", head("  type: temporal_ordered\n  rules: [failed_login]\n  timespan: 5m\n") + corrLogin,
			"3: correlation.type temporal_ordered: not supported"},
		{"aliases", head(count+"  aliases: {ip: {failed_login: c-ip}}\n  condition: {gte: 2}\n") + corrLogin,
			"7: correlation.aliases: not supported"},
		{"range", head(count+"  condition: {gt: 2, lte: 5}\n") + corrLogin,
			"7: correlation.condition with gt and lte (a range): not supported"},
		{"event_count lt", head(count+"  condition: {lt: 5}\n") + corrLogin,
			"7: correlation.condition.lt for type event_count: not supported (frequency fires when a count reaches a number; flatline fires on keys gone quiet, not on windows with few events)"},
		{"event_count eq", head(count+"  condition: {eq: 5}\n") + corrLogin,
			"7: correlation.condition.eq for type event_count: not supported (frequency fires when the count reaches the number, before it is known not to grow past it)"},
		{"event_count gte 0", head(count+"  condition: {gte: 0}\n") + corrLogin,
			"7: correlation.condition.gte: must be at least 1 (a count of at least 0 holds without events)"},
		{"value_count lte", head("  type: value_count\n  rules: [failed_login]\n  timespan: 5m\n  condition: {field: cs-username, lte: 5}\n") + corrLogin,
			"6: correlation.condition.lte for type value_count: not supported (cardinality's min_cardinality fires on keys with few values after a whole timeframe since their first event, not on windows with few values)"},
		{"value_count no field", head("  type: value_count\n  rules: [failed_login]\n  timespan: 5m\n  condition: {gte: 5}\n") + corrLogin,
			"6: correlation.condition.field: missing (required by type value_count)"},
		{"field for event_count", head(count+"  condition: {gte: 5, field: c-ip}\n") + corrLogin,
			"7: correlation.condition.field: only for type value_count"},
		{"temporal lt", head("  type: temporal\n  rules: [failed_login, admin_page]\n  timespan: 5m\n  condition: {lt: 2}\n") + corrLogin + corrAdmin,
			"6: correlation.condition.lt for type temporal: not supported (a temporal match is reached when enough rules have matched; it cannot wait to see that no more will)"},
		{"temporal too many", head("  type: temporal\n  rules: [failed_login, admin_page]\n  timespan: 5m\n  condition: {gte: 3}\n") + corrLogin + corrAdmin,
			"6: correlation.condition.gte: must ask for 1 to 2 of the referenced rules"},
		{"timespan", head("  type: temporal\n  rules: [failed_login]\n  timespan: 1w\n") + corrLogin,
			"5: correlation.timespan: want a number and s, m, h or d (like 5m), got 1w"},
		{"missing condition", head("  type: event_count\n  rules: [failed_login]\n  timespan: 5m\n") + corrLogin,
			"2: correlation.condition: missing (required by type event_count)"},
		{"unknown key", head(count+"  condition: {gte: 2}\n  ordered: true\n") + corrLogin,
			"8: correlation.ordered: unknown attribute (not supported)"},
		{"rule in another file", head("  type: event_count\n  rules:\n    - other_rule\n  timespan: 5m\n  condition: {gte: 2}\n"),
			`5: correlation.rules: "other_rule": not a rule in this file (irflow reads a correlation's rules from its own file, as further YAML documents: rules in other files, and chained correlations, not supported)`},
		{"unreferenced rule", head(count+"  condition: {gte: 2}\n") + corrLogin + corrAdmin,
			`16: rule "Admin page" not referenced by the correlation: not supported (one file holds one correlation and its rules)`},
		{"chained", head(count+"  condition: {gte: 2}\n") + "---\ntitle: d\nname: failed_login\ncorrelation: {type: event_count, rules: [x], timespan: 1m, condition: {gte: 1}}\n",
			"11: second correlation rule in one file (chained correlations): not supported"},
		{"logsource in correlation", "title: c\nlogsource: {category: webserver}\ncorrelation: {type: event_count, rules: [failed_login], timespan: 1m, condition: {gte: 2}}\n" + corrLogin,
			"2: logsource in a correlation rule: not supported (the referenced rules have them)"},
		{"other index", head("  type: temporal\n  rules: [failed_login, proxy]\n  timespan: 5m\n") + corrLogin + "---\ntitle: Proxy\nname: proxy\nlogsource: {category: proxy}\ndetection: {sel: {c-ip: x}, condition: sel}\n",
			`16: logsource {category: proxy} of rule "Proxy": maps to index proxy-*, timestamp @timestamp; the correlation's first rule to index web-*, timestamp @timestamp: not supported (a correlation reads one index and timestamp field)`},
		{"group-by maps apart", head("  type: temporal\n  rules: [failed_login, fw]\n  group-by: [c-ip]\n  timespan: 5m\n") + corrLogin + "---\ntitle: Firewall\nname: fw\nlogsource: {category: firewall}\ndetection: {sel: {c-uri: x}, condition: sel}\n",
			`5: correlation.group-by c-ip: maps to client_ip for rule "Failed login" and to src_ip for rule "Firewall": not supported`},
		{"group-by unmapped", head("  type: event_count\n  rules: [failed_login]\n  group-by: [cs-host]\n  timespan: 5m\n  condition: {gte: 2}\n") + corrLogin,
			`5: correlation.group-by cs-host: not mapped for logsource {category: webserver} of rule "Failed login" (add it under fields in _sigma.yaml)`},
		{"keyword suffix", head(count+"  condition: {gte: 2}\n") + "---\ntitle: DNS\nname: failed_login\nlogsource: {category: dns}\ndetection: {sel: {c-uri: x}, condition: sel}\n",
			"5: correlation.group-by c-ip: not supported on logsource {category: dns} (keyword_suffix .keyword in _sigma.yaml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeCorrelation(t, tc.text)
			_, err := LoadFile(path)
			want := path + ":" + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
	// type: temporal is Sigma's, not an ElastAlert2 type.
	_, err := Parse("r.yaml", []byte("name: x\ntype: temporal\nindex: i\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown rule type "temporal"`) {
		t.Errorf("type temporal in a rule file: %v", err)
	}
}
