package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"bad unit", `
name: x
type: frequency
index: uc-be-*
num_events: 5
timeframe:
  minuts: 5
`, `rule.yaml:6: timeframe: unknown unit "minuts" (want seconds, minutes, hours, days, weeks)`},
		{"duration not a map", "name: x\ntype: frequency\nindex: i\nnum_events: 5\ntimeframe: 5m\n",
			`rule.yaml:5: timeframe: must be a map like {minutes: 5}`},
		{"negative duration", "name: x\ntype: any\nindex: i\nrealert: {minutes: -1}\n",
			`rule.yaml:4: realert: minutes must be a non-negative number`},
		{"unknown option", "name: x\ntype: any\nindex: i\nnum_event: 3\n",
			`rule.yaml:4: num_event: unknown option`},
		{"several override channels", "name: x\ntype: any\nindex: i\nslack_channel_override: [\"#a\", \"#b\"]\n",
			`rule.yaml:4: slack_channel_override: not supported with 2 channels (irflow announces an incident once, in one channel)`},
		{"override not a channel", "name: x\ntype: any\nindex: i\nslack_channel_override: \"WAF Alerts\"\n",
			`rule.yaml:4: slack_channel_override: "WAF Alerts" is not a Slack channel name (#lowercase-name) or ID`},
		{"unknown type", "name: x\ntype: frequncy\nindex: i\n",
			`rule.yaml:2: type: unknown rule type "frequncy" (want any, blacklist, whitelist, change, frequency, spike, flatline, new_term, cardinality, metric_aggregation, spike_aggregation, percentage_match, anomaly, rare)`},
		{"missing required", "name: x\ntype: frequency\nindex: i\ntimeframe: {hours: 1}\n",
			`rule.yaml:2: num_events: missing (required by type frequency)`},
		{"missing name", "type: any\nindex: i\n", `rule.yaml:1: name: missing`},
		{"missing index", "name: x\ntype: any\n", `rule.yaml:2: index: missing`},
		{"one of two", "name: x\ntype: cardinality\nindex: i\ntimeframe: {hours: 1}\ncardinality_field: user\n",
			`rule.yaml:2: max_cardinality: missing (type cardinality needs max_cardinality or min_cardinality)`},
		{"bad spike type", "name: x\ntype: spike\nindex: i\ntimeframe: {hours: 1}\nspike_height: 2\nspike_type: sideways\n",
			`rule.yaml:6: spike_type: unknown "sideways" (want up, down, both)`},
		{"bad agg", "name: x\ntype: metric_aggregation\nindex: i\nmetric_agg_key: a\nmetric_agg_type: median\nmax_threshold: 1\n",
			`rule.yaml:5: metric_agg_type: unknown "median" (want min, max, avg, sum, cardinality, value_count)`},
		{"bad filter type", "name: x\ntype: any\nindex: i\nfilter:\n- term: {status: 500}\n- match_all: {}\n",
			`rule.yaml:6: filter: unknown query type "match_all" (want query_string, term, terms, range, bool, exists, wildcard, prefix, match, match_phrase)`},
		{"bad query string", "name: x\ntype: any\nindex: i\nfilter:\n- query_string:\n    query: 'status:500 AND (path:/x'\n",
			`rule.yaml:5: filter: query_string: missing ) for ( at offset 15`},
		{"filter not a list", "name: x\ntype: any\nindex: i\nfilter: {term: {a: 1}}\n",
			`rule.yaml:4: filter: must be a list of queries`},
		{"num_events not int", "name: x\ntype: frequency\nindex: i\ntimeframe: {hours: 1}\nnum_events: 2.5\n",
			`rule.yaml:5: num_events: must be an integer`},
		{"bad severity", "name: x\ntype: any\nindex: i\nseverity: urgent\n",
			`rule.yaml:4: severity: unknown severity "urgent" (want one of info, low, medium, high, critical)`},
		{"unsupported", "name: x\ntype: metric_aggregation\nindex: i\nmetric_agg_key: a\nmetric_agg_type: avg\nmax_threshold: 1\nbucket_interval: {minutes: 1}\n",
			`rule.yaml:7: bucket_interval: not supported (irflow aggregates each sweep's window as one bucket)`},
		{"yaml syntax", "name: [x\ntype: any\n", `rule.yaml:2: yaml: ',' or ']' must be specified`},
		{"unset env", "name: x\ntype: any\nindex: ${IRFLOW_TEST_UNSET_VAR}\n",
			`rule.yaml:3: ${IRFLOW_TEST_UNSET_VAR}: environment variable not set`},
		{"duplicate", "name: x\ntype: any\nindex: i\nname: y\n", `rule.yaml:4: yaml: mapping key "name" already defined at [1:1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("rule.yaml", []byte(strings.TrimLeft(tt.yaml, "\n")))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error %q", r, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	t.Setenv("IRFLOW_TEST_INDEX", "uc-be-prod-*")
	r := MustParse(t, `
# set ${IRFLOW_TEST_UNSET_VAR} in comments is fine
name: 5xx burst
type: frequency
index: ${IRFLOW_TEST_INDEX}
num_events: 50
timeframe: {minutes: 5, seconds: 30}
run_every: {seconds: 30}
realert: {hours: 1}
query_key: [kubernetes.namespace_name, request.path]
filter:
- range: {status: {gte: 500}}
alert: [slack]
slack_channel_override: "#5xx-error-logs"
slack_webhook_url: https://hooks.slack.com/x
sns_topic_arn: arn:aws:sns:eu-west-1:1:pager
email: [ops@example.com]
owner: team-be
priority: 2
severity: high
env: prod
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"index", r.Index, "uc-be-prod-*"},
		{"timeframe", r.Timeframe, 5*time.Minute + 30*time.Second},
		{"run_every", r.RunEvery, 30 * time.Second},
		{"realert", r.Realert, time.Hour},
		{"buffer_time default", r.BufferTime, 15 * time.Minute},
		{"query_key", strings.Join(r.QueryKey, "|"), "kubernetes.namespace_name|request.path"},
		{"slack", r.SlackChannel, "#5xx-error-logs"},
		// The SNS alerter's topic is alerting transport: listed as ignored, not taken as a page target.
		{"ignored", strings.Join(r.Ignored, ","), "alert,email,slack_webhook_url,sns_topic_arn"},
		{"filters", len(r.Filter), 1},
		{"raw filter", r.RawFilter[0]["range"].(map[string]any)["status"].(map[string]any)["gte"], 500.0},
		{"priority", r.Priority, 2},
		{"env default", r.Owner + "/" + r.Env, "team-be/prod"},
		{"timestamp default", r.TimestampField, "@timestamp"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestOldQueryWrapperUnwrapped(t *testing.T) {
	r := MustParse(t, "name: x\ntype: any\nindex: i\nfilter:\n- query:\n    query_string:\n      query: 'status:503'\n")
	if _, ok := r.RawFilter[0]["query_string"]; !ok || len(r.RawFilter[0]) != 1 {
		t.Fatalf("raw filter %v, want the query_string unwrapped", r.RawFilter[0])
	}
	if !r.Filter[0].Match(Event{"status": 503.0}) || r.Filter[0].Match(Event{"status": 200.0}) {
		t.Fatal("compiled filter does not match on status")
	}
}

func TestImportChain(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("base/_root.yaml", "index: uc-be-*\nrealert: {minutes: 10}\nowner: platform\n")
	write("base/_be.yaml", "import: _root.yaml\ntimeframe: {minutes: 5}\nowner: backend\n")
	p := write("rule.yaml", "import: base/_be.yaml\nname: child\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 1}\n")
	r, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != "uc-be-*" || r.Realert != 10*time.Minute || r.Owner != "backend" || r.Timeframe != time.Minute {
		t.Fatalf("merged rule = index %q realert %v owner %q timeframe %v", r.Index, r.Realert, r.Owner, r.Timeframe)
	}

	// An error in an imported file names that file and its line.
	write("bad/_p.yaml", "index: i\nnum_events: lots\n")
	p = write("bad.yaml", "import: bad/_p.yaml\nname: x\ntype: frequency\ntimeframe: {minutes: 1}\n")
	_, err = LoadFile(p)
	want := filepath.Join(dir, "bad/_p.yaml") + ":2: num_events: must be an integer"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}

	write("loop/a.yaml", "import: b.yaml\n")
	write("loop/b.yaml", "import: a.yaml\n")
	_, err = LoadFile(filepath.Join(dir, "loop/a.yaml"))
	if err == nil || !strings.HasSuffix(err.Error(), "loop/a.yaml:1: import: import cycle") {
		t.Fatalf("err = %v, want import cycle", err)
	}

	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "_") {
			t.Errorf("Files returned partial %s", f)
		}
	}
}

func TestEnvDefault(t *testing.T) {
	r := MustParse(t, "name: x\ntype: any\nindex: ${IRFLOW_TEST_UNSET_VAR:-uc-be-*}\nowner: ${IRFLOW_TEST_UNSET_VAR:-platform}\n")
	if r.Index != "uc-be-*" || r.Owner != "platform" {
		t.Fatalf("index %q, want the default", r.Index)
	}
}
