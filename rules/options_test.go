package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// eaCase is one behaviour checked against ElastAlert2 2.19. want was written
// from a run of rules/testdata/elastalert_options.py, ElastAlert2's own rule
// classes (SpikeRule, ChangeRule, BlacklistRule, WhitelistRule, FlatlineRule)
// and ElastAlerter.next_alert_time, on the same events:
//
//	go test ./rules -run TestOptionsElastAlert2Agrees -v   # runs it again
//
// TestOptionsGoEvaluator holds irflow to want; TestOptionsElastAlert2Agrees
// holds ElastAlert2 to want (it needs .venv: make venv).
type eaCase struct {
	name  string
	typ   string         // spike, change, blacklist, whitelist, flatline, realert
	yaml  string         // the irflow rule; $DIR is the rule file's directory
	ea    map[string]any // the ElastAlert2 rule; durations in seconds; $DIR as above
	files map[string]string
	runs  []eaRun     // sweeps: (previous end, end]
	times []time.Time // realert: match times
	show  []string    // match fields rendered after the time
	want  []string
}

type eaRun struct {
	end    time.Time
	events []Event
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

var eaCases = []eaCase{
	{
		name: "spike field_value ignores thresholds, reads strings, truncates floats",
		typ:  "spike",
		yaml: "type: spike\ntimeframe: {seconds: 60}\nspike_height: 2\nspike_type: up\nfield_value: bytes\nthreshold_ref: 1000\nthreshold_cur: 1000\n",
		ea:   map[string]any{"timeframe": 60, "spike_height": 2, "spike_type": "up", "field_value": "bytes", "threshold_ref": 1000, "threshold_cur": 1000},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "bytes", 10), ev(sec(20), "bytes", "12")}},
			{ts(sec(120)), []Event{ev(sec(70), "bytes", 10.9)}},
			{ts(sec(180)), []Event{ev(sec(130), "bytes", 50)}},
		},
		show: []string{"bytes", "spike_count", "reference_count"},
		want: []string{"12:02:10 bytes=50 spike_count=50 reference_count=11"},
	},
	{
		name: "spike field_value zero reference mean never matches",
		typ:  "spike",
		yaml: "type: spike\ntimeframe: {seconds: 60}\nspike_height: 2\nspike_type: up\nfield_value: bytes\n",
		ea:   map[string]any{"timeframe": 60, "spike_height": 2, "spike_type": "up", "field_value": "bytes"},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "bytes", 0), ev(sec(20), "bytes", 0)}},
			{ts(sec(120)), []Event{ev(sec(70), "bytes", 0)}},
			{ts(sec(180)), []Event{ev(sec(130), "bytes", 50), ev(sec(140), "bytes", 70)}},
		},
		show: []string{"spike_count", "reference_count"},
		want: nil,
	},
	{
		name: "spike field_value down: skipped values, match on a zero-valued event",
		typ:  "spike",
		yaml: "type: spike\ntimeframe: {seconds: 60}\nspike_height: 2\nspike_type: down\nfield_value: bytes\n",
		ea:   map[string]any{"timeframe": 60, "spike_height": 2, "spike_type": "down", "field_value": "bytes"},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "bytes", 100), ev(sec(20), "bytes", "abc"), ev(sec(30), "bytes", 100)}},
			{ts(sec(120)), []Event{ev(sec(75), "bytes", "7.5"), ev(sec(80), "bytes", 0), ev(sec(85), "bytes", nil), ev(sec(90), "bytes", 3.9)}},
			{ts(sec(180)), []Event{ev(sec(130), "bytes", " 4 ")}},
		},
		show: []string{"bytes", "spike_count", "reference_count"},
		want: []string{"12:01:20 bytes=0 spike_count=2.3333333333333335 reference_count=100"},
	},
	{
		name: "spike field_value dotted name reads a literal key, not nested objects",
		typ:  "spike",
		yaml: "type: spike\ntimeframe: {seconds: 60}\nspike_height: 2\nspike_type: up\nfield_value: resp.bytes\n",
		ea:   map[string]any{"timeframe": 60, "spike_height": 2, "spike_type": "up", "field_value": "resp.bytes"},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "resp.bytes", 10), ev(sec(20), "resp.bytes", 10)}},
			{ts(sec(120)), []Event{ev(sec(70), "resp", map[string]any{"bytes": 100}), ev(sec(80), "resp.bytes", 10)}},
			{ts(sec(180)), []Event{ev(sec(130), "resp", map[string]any{"bytes": 100}), ev(sec(140), "resp.bytes", 30)}},
		},
		show: []string{"spike_count", "reference_count"},
		want: []string{"12:02:20 spike_count=30 reference_count=10"},
	},
	{
		name: "spike field_value per query_key",
		typ:  "spike",
		yaml: "type: spike\ntimeframe: {seconds: 60}\nspike_height: 3\nspike_type: both\nfield_value: ms\nquery_key: host\n",
		ea:   map[string]any{"timeframe": 60, "spike_height": 3, "spike_type": "both", "field_value": "ms", "query_key": "host"},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "host", "a", "ms", 20), ev(sec(20), "host", "b", "ms", 20)}},
			{ts(sec(120)), []Event{ev(sec(70), "host", "a", "ms", 25), ev(sec(80), "host", "b", "ms", 100)}},
			{ts(sec(180)), []Event{ev(sec(130), "host", "a", "ms", 5), ev(sec(140), "host", "b", "ms", 90)}},
		},
		show: []string{"host", "spike_count", "reference_count"},
		want: []string{"12:02:10 host=a spike_count=5 reference_count=25"},
	},
	{
		name: "change ignore_null skips every falsy value but booleans",
		typ:  "change",
		yaml: "type: change\nquery_key: user\ncompare_key: country\nignore_null: true\n",
		ea:   map[string]any{"query_key": "user", "compare_key": "country", "compound_compare_key": []any{"country"}, "ignore_null": true},
		runs: []eaRun{{ts(sec(100)), []Event{
			ev(sec(1), "user", "u", "country", "US"),
			ev(sec(2), "user", "u", "country", 0),
			ev(sec(3), "user", "u", "country", ""),
			ev(sec(4), "user", "u", "country", nil),
			ev(sec(5), "user", "u"),
			ev(sec(6), "user", "u", "country", []any{}),
			ev(sec(7), "user", "u", "country", map[string]any{}),
			ev(sec(8), "user", "u", "country", 0.0),
			ev(sec(9), "user", "u", "country", "US"),
			ev(sec(10), "user", "u", "country", false),
			ev(sec(11), "user", "u", "country", "DE"),
		}}},
		show: []string{"user", "country"},
		want: []string{"12:00:10 user=u country=false", "12:00:11 user=u country=DE"},
	},
	{
		name: "change ignore_null with a compound compare_key",
		typ:  "change",
		yaml: "type: change\nquery_key: user\ncompare_key: [country, city]\nignore_null: true\n",
		ea:   map[string]any{"query_key": "user", "compound_compare_key": []any{"country", "city"}, "ignore_null": true},
		runs: []eaRun{{ts(sec(100)), []Event{
			ev(sec(1), "user", "u", "country", "US", "city", "NYC"),
			ev(sec(2), "user", "u", "country", "US", "city", ""),
			ev(sec(3), "user", "u", "country", 0, "city", "LA"),
			ev(sec(4), "user", "u", "country", "US", "city", "LA"),
		}}},
		show: []string{"country", "city"},
		want: []string{"12:00:04 country=US city=LA"},
	},
	{
		name:  "blacklist !file: one entry a line, trailing space cut, blank line is an entry",
		typ:   "blacklist",
		files: map[string]string{"lists/bad.txt": "bad\n\n  evil \t\nworse"},
		yaml:  "type: blacklist\ncompare_key: ip\nblacklist:\n- x\n- \"!file lists/bad.txt\"\n",
		ea:    map[string]any{"compare_key": "ip", "blacklist": []any{"x", "!file $DIR/lists/bad.txt"}},
		runs: []eaRun{{ts(sec(100)), []Event{
			ev(sec(1), "ip", "bad"), ev(sec(2), "ip", ""), ev(sec(3), "ip", "  evil"), ev(sec(4), "ip", "evil"),
			ev(sec(5), "ip", nil), ev(sec(6)), ev(sec(7), "ip", "worse"), ev(sec(8), "ip", "x"), ev(sec(9), "ip", "ok"),
		}}},
		show: []string{"ip"},
		want: []string{"12:00:01 ip=bad", "12:00:02 ip=", "12:00:03 ip=  evil", "12:00:07 ip=worse", "12:00:08 ip=x"},
	},
	{
		name:  "whitelist !file with an absolute path",
		typ:   "whitelist",
		files: map[string]string{"good.txt": "10.0.0.1\n10.0.0.2\n"},
		yaml:  "type: whitelist\ncompare_key: ip\nignore_null: false\nwhitelist: [\"!file $DIR/good.txt\"]\n",
		ea:    map[string]any{"compare_key": "ip", "ignore_null": false, "whitelist": []any{"!file $DIR/good.txt"}},
		runs: []eaRun{{ts(sec(100)), []Event{
			ev(sec(1), "ip", "10.0.0.1"), ev(sec(2), "ip", "10.0.0.3"), ev(sec(3), "ip", nil), ev(sec(4), "ip", "10.0.0.2"),
		}}},
		show: []string{"ip"},
		want: []string{"12:00:02 ip=10.0.0.3", "12:00:03 ip=<nil>"},
	},
	{
		name: "flatline forget_keys fires once per key until it is seen again",
		typ:  "flatline",
		yaml: "type: flatline\nthreshold: 1\ntimeframe: {seconds: 60}\nquery_key: host\nforget_keys: true\n",
		ea:   map[string]any{"threshold": 1, "timeframe": 60, "query_key": "host", "forget_keys": true},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "host", "a")}},
			{ts(sec(120)), nil},
			{ts(sec(180)), nil},
			{ts(sec(240)), []Event{ev(sec(200), "host", "a")}},
			{ts(sec(300)), nil},
			{ts(sec(360)), nil},
		},
		show: []string{"key", "count"},
		want: []string{"12:02:00 key=a count=0", "12:05:00 key=a count=0"},
	},
	{
		name: "flatline without forget_keys keeps firing",
		typ:  "flatline",
		yaml: "type: flatline\nthreshold: 1\ntimeframe: {seconds: 60}\nquery_key: host\n",
		ea:   map[string]any{"threshold": 1, "timeframe": 60, "query_key": "host"},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10), "host", "a")}},
			{ts(sec(120)), nil},
			{ts(sec(180)), nil},
			{ts(sec(240)), nil},
		},
		show: []string{"key", "count"},
		want: []string{"12:02:00 key=a count=0", "12:03:00 key=a count=0", "12:04:00 key=a count=0"},
	},
	{
		name: "flatline forget_keys without query_key starts the one key afresh",
		typ:  "flatline",
		yaml: "type: flatline\nthreshold: 2\ntimeframe: {seconds: 60}\nforget_keys: true\n",
		ea:   map[string]any{"threshold": 2, "timeframe": 60, "forget_keys": true},
		runs: []eaRun{
			{ts(sec(60)), []Event{ev(sec(10))}},
			{ts(sec(120)), nil},
			{ts(sec(180)), nil},
			{ts(sec(240)), nil},
			{ts(sec(300)), nil},
		},
		show: []string{"count"},
		want: []string{"12:02:00 count=0", "12:04:00 count=0"},
	},
	{
		name:  "exponential_realert doubles, caps at the cap, relaxes a step per quiet span",
		typ:   "realert",
		yaml:  "type: any\nrealert: {minutes: 1}\nexponential_realert: {minutes: 5}\n",
		ea:    map[string]any{"realert": 60, "exponential_realert": 300},
		times: clock("12:00", "12:01", "12:03", "12:07", "12:11", "12:12", "13:00", "13:01:30", "13:02", "13:04"),
		want:  []string{"12:00:00", "12:01:00", "12:03:00", "12:07:00", "12:12:00", "13:00:00", "13:01:30", "13:04:00"},
	},
	{
		name:  "exponential_realert below realert caps the first silence",
		typ:   "realert",
		yaml:  "type: any\nrealert: {minutes: 10}\nexponential_realert: {minutes: 4}\n",
		ea:    map[string]any{"realert": 600, "exponential_realert": 240},
		times: clock("12:00", "12:03", "12:04", "12:06", "12:09", "12:30", "12:33", "12:34"),
		want:  []string{"12:00:00", "12:30:00", "12:34:00"},
	},
}

// clock turns "15:04[:05]" on t0's day into times.
func clock(hm ...string) []time.Time {
	out := make([]time.Time, len(hm))
	for i, s := range hm {
		if strings.Count(s, ":") == 1 {
			s += ":00"
		}
		d, err := time.Parse("15:04:05", s)
		if err != nil {
			panic(err)
		}
		out[i] = time.Date(t0.Year(), t0.Month(), t0.Day(), d.Hour(), d.Minute(), d.Second(), 0, time.UTC)
	}
	return out
}

// render prints a match as "15:04:05 field=value ..." for comparison.
func render(at time.Time, fields map[string]any, show []string) string {
	parts := []string{at.UTC().Format("15:04:05")}
	for _, f := range show {
		parts = append(parts, f+"="+renderValue(fields[f]))
	}
	return strings.Join(parts, " ")
}

func renderValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	if f, ok := toFloat(v); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// writeFiles puts a case's list files in a fresh directory and returns it.
func writeFiles(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func goMatches(t *testing.T, c eaCase) []string {
	t.Helper()
	dir := writeFiles(t, c.files)
	y := "name: x\nindex: i\n" + strings.ReplaceAll(c.yaml, "$DIR", dir)
	if c.typ != "realert" {
		y += "realert: {minutes: 0}\n" // the rule type's own matches
	}
	r, err := Parse(filepath.Join(dir, "rule.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if c.typ == "realert" {
		var events []Event
		for _, at := range c.times {
			events = append(events, ev(at.Sub(t0)))
		}
		ms, err := r.Evaluate(&State{}, events, t0.Add(-time.Hour), c.times[len(c.times)-1])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out = append(out, render(m.Time, nil, nil))
		}
		return out
	}
	st := &State{}
	start := t0.Add(-time.Hour)
	for _, run := range c.runs {
		ms, err := r.Evaluate(st, run.events, start, run.end)
		if err != nil {
			t.Fatal(err)
		}
		st = roundTrip(t, st)
		for _, m := range ms {
			out = append(out, render(m.Time, m.Fields, c.show))
		}
		start = run.end
	}
	return out
}

func TestOptionsGoEvaluator(t *testing.T) {
	for _, c := range eaCases {
		t.Run(c.name, func(t *testing.T) {
			got := goMatches(t, c)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("matches\n got: %q\nwant: %q", got, c.want)
			}
		})
	}
}

// venvPython is the Makefile's virtualenv interpreter (make venv).
func venvPython(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("%s not found: run `make venv` (installs ElastAlert2 2.19.0)", p)
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and a required tool is missing: %s", msg)
		}
		t.Skipf("skipping: %s", msg)
	}
	return p
}

func TestOptionsElastAlert2Agrees(t *testing.T) {
	python := venvPython(t)
	type pyCase struct {
		Name  string           `json:"name"`
		Type  string           `json:"type"`
		Rule  map[string]any   `json:"rule"`
		Runs  []map[string]any `json:"runs,omitempty"`
		Times []string         `json:"times,omitempty"`
	}
	var cases []pyCase
	for _, c := range eaCases {
		dir := writeFiles(t, c.files)
		b, _ := json.Marshal(c.ea)
		var rule map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(b), "$DIR", dir)), &rule); err != nil {
			t.Fatal(err)
		}
		pc := pyCase{Name: c.name, Type: c.typ, Rule: rule}
		for _, run := range c.runs {
			events := run.events
			if events == nil {
				events = []Event{}
			}
			pc.Runs = append(pc.Runs, map[string]any{"end": run.end.Format(time.RFC3339Nano), "events": events})
		}
		for _, at := range c.times {
			pc.Times = append(pc.Times, at.Format(time.RFC3339Nano))
		}
		cases = append(cases, pc)
	}
	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "elastalert_options.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("elastalert_options.py: %v\n%s", err, stderr.String())
	}
	var res map[string][]map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	for _, c := range eaCases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, m := range res[c.name] {
				at, ok := parseTime(m["@timestamp"], "")
				if !ok {
					t.Fatalf("match without a timestamp: %v", m)
				}
				got = append(got, render(at, m, c.show))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("ElastAlert2 matches\n got: %q\nwant: %q", got, c.want)
			}
		})
	}
}

// Python's int() as ElastAlert2's SpikeRule applies it to field_value
// (checked with .venv/bin/python: int("1_000") == 1000, int(" 4 ") == 4,
// int("7.5"), int("1__0"), int("_1"), int("0x10") raise ValueError,
// int(3.9) == 3, int(-3.9) == -3, int(True) == 1).
func TestOptionsFieldValueCount(t *testing.T) {
	r := MustParse(t, "name: x\ntype: spike\nindex: i\ntimeframe: {minutes: 1}\nspike_height: 2\nspike_type: up\nfield_value: a.b\n")
	tests := []struct {
		v    any
		want string
	}{
		{10.0, "10"}, {3.9, "3"}, {-3.9, "-3"}, {true, "1"}, {false, "0"}, {"1_000", "1000"}, {" 4 ", "4"},
		{"+5", "5"}, {"-12", "-12"}, {"7.5", "skip"}, {"1__0", "skip"}, {"_1", "skip"}, {"1_", "skip"},
		{"", "skip"}, {"0x10", "skip"}, {nil, "skip"}, {[]any{1.0}, "skip"}, {map[string]any{"x": 1.0}, "skip"},
	}
	for _, tt := range tests {
		f, ok := r.FieldValueCount(Event{"a.b": tt.v})
		got := "skip"
		if ok {
			got = formatNumber(f)
		}
		if got != tt.want {
			t.Errorf("FieldValueCount(%#v) = %s, want %s", tt.v, got, tt.want)
		}
	}
	if _, ok := r.FieldValueCount(Event{"a": map[string]any{"b": 5.0}}); ok {
		t.Error("FieldValueCount read a nested a.b; ElastAlert2 reads only a literal top-level key")
	}
}

func TestOptionsRefused(t *testing.T) {
	const spike = "type: spike\ntimeframe: {minutes: 1}\nspike_height: 2\nspike_type: up\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"scan_entire_timeframe", "type: any\nscan_entire_timeframe: true\n",
			"rule.yaml:4: scan_entire_timeframe: not supported (irflow keeps each key's window in the rule's state across sweeps, so a sweep reads only what is new; re-reading the timeframe would count events twice)"},
		{"limit_execution", "type: any\nlimit_execution: \"0/10 * * * *\"\n",
			"rule.yaml:4: limit_execution: not supported (a rule's Schedule fires every run_every; cron-limited runs are not implemented)"},
		{"match_enhancements", "type: any\nmatch_enhancements: [my.Enhancement]\n",
			"rule.yaml:4: match_enhancements: not supported (Python enhancement modules cannot run in irflow)"},
		{"attach_related", "type: frequency\nnum_events: 2\ntimeframe: {minutes: 1}\nattach_related: true\n",
			"rule.yaml:6: attach_related: not supported (frequency sweeps count in OpenSearch aggregations and keep no documents to attach as related_events)"},
		{"es_host", "type: any\nes_host: other.example.com\n",
			"rule.yaml:4: es_host: not supported (irflow sweeps every rule against search.url (IRFLOW_OPENSEARCH_URL); per-rule clusters are not supported)"},
		{"query_key_is_ignored", "type: any\nquery_key_is_ignored: true\n",
			"rule.yaml:4: query_key_is_ignored: not supported (ElastAlert2 2.19 does not read it)"},
		{"realert_key shared", "type: any\nrealert_key: shared\n",
			"rule.yaml:4: realert_key: not supported (irflow keeps realert silences per rule, so rules cannot share one; only the rule's name is accepted)"},
		{"aggregation_key other", "type: any\nquery_key: user\naggregation: {minutes: 5}\naggregation_key: host\n",
			"rule.yaml:6: aggregation_key: not supported (irflow groups a rule's matches into one incident per query_key value, not per host; only the query_key is accepted)"},
		{"aggregation bad schedule", "type: any\naggregation: {schedule: 5}\n",
			"rule.yaml:4: aggregation: schedule must be a cron string, alone"},
		{"max_scrolling_count", "type: any\nmax_scrolling_count: 5\n",
			"rule.yaml:4: max_scrolling_count: not supported (irflow reads every page of a sweep, and a cap of 5 pages would drop events; only 0, no cap, is accepted)"},
		{"alert_text_jinja", "type: any\nalert_text_type: alert_text_jinja\n",
			"rule.yaml:4: alert_text_type: not supported (alert_text_jinja: irflow renders alert_subject and alert_text with {0}-style arguments, not Jinja templates)"},
		{"strftime minutes", "type: any\nindex: logs-%Y.%m.%d.%M\nuse_strftime_index: true\n",
			`rule.yaml:4: use_strftime_index: not supported (%M in index "logs-%Y.%m.%d.%M": indices are stepped by hours or days, so only %Y, %y, %m, %d, %H, %j, %b, %B, %a, %A and %% are)`},
		{"field_value on spike_aggregation", "type: spike_aggregation\ntimeframe: {minutes: 1}\nmetric_agg_key: a\nmetric_agg_type: avg\nspike_height: 2\nspike_type: up\nfield_value: b\n",
			"rule.yaml:9: field_value: not supported with type spike_aggregation (only spike counts field_value)"},
		{"use_count_query on cardinality", "type: cardinality\ntimeframe: {minutes: 1}\ncardinality_field: u\nmax_cardinality: 2\nuse_count_query: true\n",
			"rule.yaml:7: use_count_query: not supported with type cardinality (ElastAlert2 takes counts only for frequency, flatline and spike)"},
		{"use_terms_query without query_key", spike + "use_terms_query: true\n",
			"rule.yaml:7: use_terms_query: needs query_key"},
		{"!file missing", "type: blacklist\ncompare_key: ip\nblacklist:\n- a\n- \"!file nope.txt\"\n",
			"rule.yaml:7: blacklist: !file nope.txt: no such file or directory"},
		{"!file without a path", "type: whitelist\ncompare_key: ip\nignore_null: true\nwhitelist: [\"!file\"]\n",
			`rule.yaml:6: whitelist: "!file": want "!file PATH"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "name: x\n" + tt.yaml
			if !strings.Contains(y, "index:") {
				y = "name: x\nindex: i\n" + tt.yaml
			}
			r, err := Parse("rule.yaml", []byte(y))
			if err == nil {
				t.Fatalf("Parse succeeded (ignored %v), want %s", r.Ignored, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

// Every refusal reads "option: not supported (why)", with a reason.
func TestOptionsUnsupportedHaveReasons(t *testing.T) {
	for k, why := range unsupportedOptions {
		if why == "" {
			t.Errorf("%s: no reason", k)
		}
		if _, ok := transportOptions[k]; ok {
			t.Errorf("%s is both refused and transport", k)
		}
		if _, ok := setters[k]; ok {
			t.Errorf("%s is both refused and implemented", k)
		}
		_, err := Parse("rule.yaml", []byte("name: x\ntype: any\nindex: i\n"+k+": 1\n"))
		want := "rule.yaml:4: " + k + ": not supported (" + why + ")"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	}
}

func TestOptionsAccepted(t *testing.T) {
	r := MustParse(t, `
name: x
type: any
index: i
query_key: user
alert: [email]
alert_text_type: exclude_fields
summary_table_fields: [user]
aggregate_by_match_time: true
max_query_size: 500
scroll_keepalive: 1m
raw_count_keys: false
use_local_time: true
use_keyword_postfix: false
max_scrolling_count: 0
realert_key: x
aggregation_key: user
aggregation: {minutes: 10}
forget_keys: false
`)
	want := "aggregate_by_match_time,alert,alert_text_type,max_query_size,scroll_keepalive,summary_table_fields,use_local_time"
	if got := strings.Join(r.Ignored, ","); got != want {
		t.Fatalf("Ignored = %s, want %s (transport options only)", got, want)
	}
	if r.Realert != 0 {
		t.Fatalf("realert = %v with aggregation, want 0 (ElastAlert2's default then)", r.Realert)
	}
}

// With aggregation and no realert, ElastAlert2 silences nothing (loaders.py:
// realert defaults to 0 when aggregation is set): every match reaches the
// incident, which is the batch. An explicit realert still wins.
func TestOptionsAggregationRealert(t *testing.T) {
	events := []Event{ev(0), ev(10 * time.Second), ev(20 * time.Second)}
	for _, tt := range []struct {
		yaml string
		want int
	}{
		{"aggregation: {minutes: 10}\n", 3},
		{"aggregation: {schedule: '*/10 * * * *'}\n", 3},
		{"aggregation: {minutes: 10}\nrealert: {minutes: 1}\n", 1},
		{"", 1},
	} {
		r := MustParse(t, "name: x\ntype: any\nindex: i\n"+tt.yaml)
		if got := len(run(t, r, &State{}, events, ts(time.Minute))); got != tt.want {
			t.Errorf("%q: %d matches, want %d", tt.yaml, got, tt.want)
		}
	}
}

func TestOptionsIndexFor(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		index      string
		strftime   bool
		start, end string
		want       string
	}{
		{"logs-%Y.%m.%d", true, "2024-02-28T23:50:00Z", "2024-03-01T00:05:00Z", "logs-2024.02.28,logs-2024.02.29,logs-2024.03.01"},
		{"logs-%Y.%m.%d", true, "2024-03-01T10:00:00Z", "2024-03-01T10:15:00Z", "logs-2024.03.01"},
		{"logs-%Y.%m.%d.%H", true, "2024-03-01T10:50:00Z", "2024-03-01T12:00:00Z", "logs-2024.03.01.10,logs-2024.03.01.11,logs-2024.03.01.12"},
		{"logs-%Y-%j", true, "2024-12-31T23:00:00+02:00", "2024-12-31T23:30:00+02:00", "logs-2024-366"},
		{"logs-%y%b", true, "2024-01-31T23:00:00Z", "2024-02-01T01:00:00Z", "logs-24Jan,logs-24Feb"},
		{"logs-%Y.%m.%d", false, "2024-03-01T10:00:00Z", "2024-03-01T10:15:00Z", "logs-%Y.%m.%d"},
		{"logs-*", true, "2024-03-01T10:00:00Z", "2024-03-01T10:15:00Z", "logs-*"},
		// Zero times, or a window too long to list, read the wildcard form.
		{"logs-%Y.%m.%d-app", true, "", "", "logs-*-app"},
		{"logs-%Y.%m.%d.%H", true, "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z", "logs-*"},
	}
	for _, tt := range tests {
		r := &Rule{Index: tt.index, Options: Options{UseStrftimeIndex: tt.strftime}}
		var s, e time.Time
		if tt.start != "" {
			s, e = at(tt.start), at(tt.end)
		}
		if got := r.IndexFor(s, e); got != tt.want {
			t.Errorf("IndexFor(%s, %s, %s) = %s, want %s", tt.index, tt.start, tt.end, got, tt.want)
		}
	}

	r := MustParse(t, "name: x\ntype: any\nindex: logs-%Y.%m.%d\nuse_strftime_index: true\n")
	s := r.BuildSearch(at("2024-02-28T23:50:00Z"), at("2024-02-29T00:05:00Z"), nil)
	if s.Index != "logs-2024.02.28,logs-2024.02.29" {
		t.Fatalf("BuildSearch index %s, want the two days the window touches", s.Index)
	}
}

func TestOptionsListFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"l/bad.txt": "a\nb  \n", "rule.yaml": "name: x\ntype: blacklist\nindex: i\ncompare_key: ip\nblacklist:\n- !file l/bad.txt\n- c\n"})
	r, err := LoadFile(filepath.Join(dir, "rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Blacklist, "|"); got != "a|b|c" {
		t.Fatalf("blacklist = %q, want a|b|c (an unquoted !file tag reads the file too)", got)
	}
}

// ElastAlert2's alerts.py: alert_text_kw fills {name}s only without
// alert_text_args; alert_missing_value replaces <MISSING VALUE>; a custom
// subject is cut to alert_subject_max_len (default 2048).
func TestOptionsRender(t *testing.T) {
	m := Match{Time: t0, Key: "u1", Fields: map[string]any{"user": "u1", "n": 3.0}}
	tests := []struct {
		yaml, subject, text string
	}{
		{"alert_subject: 'Logins for {0}'\nalert_subject_args: [user]\nalert_subject_max_len: 12\nalert_text: '{who} failed {n} times ({x})'\nalert_text_kw: {user: who, num: n, gone: x}\nalert_missing_value: '-'\n",
			"Logins for u", "u1 failed - times (-)"},
		{"alert_text: '{0} {who}'\nalert_text_args: [user]\nalert_text_kw: {user: who}\n", "x", "u1 {who}"},
		{"alert_subject: '{0} {1}'\nalert_subject_args: [user, nope]\n", "u1 <MISSING VALUE>", ""},
	}
	for _, tt := range tests {
		r := MustParse(t, "name: x\ntype: any\nindex: i\n"+tt.yaml)
		s, txt := r.Render(m)
		if s != tt.subject || txt != tt.text {
			t.Errorf("%s: Render = %q, %q; want %q, %q", tt.yaml, s, txt, tt.subject, tt.text)
		}
	}
}

// use_keyword_postfix, as ElastAlert2's get_all_terms: known terms load from
// name.keyword by default, and from the name as written when it is false.
func TestOptionsKeywordPostfix(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"", "map[f0:map[terms:map[field:user.keyword]]]"},
		{"fields: [user.keyword]\n", "map[f0:map[terms:map[field:user.keyword]]]"},
		{"use_keyword_postfix: false\n", "map[f0:map[terms:map[field:user]]]"},
	} {
		y := "name: n\ntype: new_term\nindex: i\n" + c.yaml
		if !strings.Contains(c.yaml, "fields:") {
			y += "fields: [user]\n"
		}
		r := MustParse(t, y)
		steps := r.TermsSeedSteps(ts(0))
		body := asJSON(t, r.TermsSeedPage(0, steps[0], nil, 10).Body)
		if got := fmt.Sprint(dig(t, body, "aggs", "terms", "composite", "sources", 0)); got != c.want {
			t.Errorf("%q: seed source %s, want %s", c.yaml, got, c.want)
		}
	}
}

// use_run_every_query_size, as ElastAlert2's aggregation rules: by default
// each run aggregates the last buffer_time, so a slow request still counts
// in the runs after its own; with it true, each run aggregates only its
// run_every.
func TestOptionsRunEveryQuerySize(t *testing.T) {
	events := []Event{ev(2*time.Minute, "ms", 3000.0), ev(7*time.Minute, "ms", 100.0), ev(12*time.Minute, "ms", 100.0), ev(17*time.Minute, "ms", 100.0)}
	for _, c := range []struct{ opt, want string }{
		{"", "12:05:00 12:10:00 12:15:00"},
		{"use_run_every_query_size: true\n", "12:05:00"},
	} {
		r := MustParse(t, "name: m\ntype: metric_aggregation\nindex: i\nrealert: {minutes: 0}\nrun_every: {minutes: 5}\nbuffer_time: {minutes: 15}\n"+
			"metric_agg_key: ms\nmetric_agg_type: max\nmax_threshold: 1000\n"+c.opt)
		res, err := Backtest(r, events, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range res.Matches {
			got = append(got, m.Time.Format("15:04:05"))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q: matches at %v, want %s", c.opt, got, c.want)
		}
	}
}
