package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules/internal/yamlerr"
)

// Error is a problem in a rule file, printed as "<file>:<line>: <option>: <problem>".
type Error struct {
	File    string
	Line    int
	Option  string
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Option, e.Problem)
}

// optValue is one top-level option as written: where, the YAML node, and its
// decoded value.
type optValue struct {
	file string
	line int
	node ast.Node
	v    any
}

func (o optValue) errf(option, format string, args ...any) *Error {
	return &Error{File: o.file, Line: o.line, Option: option, Problem: fmt.Sprintf(format, args...)}
}

type rawRule struct {
	file  string
	order []string // option names in the order they take effect (parent first)
	vals  map[string]optValue
}

// LoadFile reads, expands and validates one rule file.
func LoadFile(path string) (*Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load rule %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse validates rule YAML (ElastAlert2, or Sigma: see sigma_rule.go); file
// names the rule in errors and anchors relative import paths.
func Parse(file string, data []byte) (*Rule, error) {
	if IsSigma(data) { // sigma_rule.go
		return parseSigma(file, data)
	}
	raw, err := readRaw(file, data, map[string]bool{})
	if err != nil {
		return nil, err
	}
	return build(raw)
}

// Files expands paths (files or directories, walked recursively) into the rule
// files they hold: *.yaml and *.yml, skipping testdata directories and files
// whose name starts with "_" (partials meant for import).
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" && path != p {
					return filepath.SkipDir
				}
				return nil
			}
			ext := filepath.Ext(path)
			if (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(d.Name(), "_") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default}; an unset variable without a
// default is an error so a typo does not silently become an empty index.
// Comment lines are left alone.
func expandEnv(file string, data []byte) ([]byte, error) {
	var out bytes.Buffer
	last := 0
	for _, loc := range envRef.FindAllSubmatchIndex(data, -1) {
		lineStart := bytes.LastIndexByte(data[:loc[0]], '\n') + 1
		if bytes.HasPrefix(bytes.TrimSpace(data[lineStart:loc[0]]), []byte("#")) {
			continue
		}
		out.Write(data[last:loc[0]])
		last = loc[1]
		name := string(data[loc[2]:loc[3]])
		if v, ok := os.LookupEnv(name); ok {
			out.WriteString(v)
			continue
		}
		if loc[4] >= 0 {
			out.Write(data[loc[4]+2 : loc[5]])
			continue
		}
		line := 1 + bytes.Count(data[:loc[0]], []byte("\n"))
		return nil, &Error{File: file, Line: line, Option: "${" + name + "}", Problem: "environment variable not set"}
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

func readRaw(file string, data []byte, seen map[string]bool) (*rawRule, error) {
	abs, _ := filepath.Abs(file)
	if seen[abs] {
		return nil, &Error{File: file, Line: 1, Option: "import", Problem: "import cycle"}
	}
	seen[abs] = true
	data, err := expandEnv(file, data)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, syntaxError(file, err)
	}
	raw := &rawRule{file: file, vals: map[string]optValue{}}
	var mvs []*ast.MappingValueNode
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		switch body := f.Docs[0].Body.(type) {
		case *ast.MappingNode:
			mvs = body.Values
		case *ast.MappingValueNode:
			mvs = []*ast.MappingValueNode{body}
		default:
			return nil, &Error{File: file, Line: body.GetToken().Position.Line, Option: "rule", Problem: "must be a YAML mapping"}
		}
	}
	var own []string
	for _, mv := range mvs {
		key := mv.Key.GetToken().Value
		ov := optValue{file: file, line: mv.Key.GetToken().Position.Line, node: mv.Value}
		if err := yaml.NodeToValue(mv.Value, &ov.v); err != nil {
			return nil, ov.errf(key, "%s", yamlerr.Problem(err))
		}
		if _, dup := raw.vals[key]; dup {
			return nil, ov.errf(key, "duplicate option")
		}
		raw.vals[key] = ov
		own = append(own, key)
	}
	imp, ok := raw.vals["import"]
	if !ok {
		raw.order = own
		return raw, nil
	}
	name, ok := imp.v.(string)
	if !ok || name == "" {
		return nil, imp.errf("import", "must be a file path")
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(file), path)
	}
	pdata, err := os.ReadFile(path)
	if err != nil {
		return nil, imp.errf("import", "%v", errors.Unwrap(err))
	}
	parent, err := readRaw(path, pdata, seen)
	if err != nil {
		return nil, err
	}
	// Child overrides parent; keep the parent's order for options it alone sets.
	merged := &rawRule{file: file, vals: parent.vals}
	for _, k := range parent.order {
		if _, over := raw.vals[k]; !over {
			merged.order = append(merged.order, k)
		}
	}
	for _, k := range own {
		merged.vals[k] = raw.vals[k]
		merged.order = append(merged.order, k)
	}
	return merged, nil
}

// syntaxError reshapes go-yaml's "[line:col] problem" into the package format.
func syntaxError(file string, err error) error {
	line, p := yamlerr.Locate(err)
	return &Error{File: file, Line: line, Option: "yaml", Problem: p}
}

// alerterPrefixes are ElastAlert2 alerter option families; irflow notifies
// through its own workflow, so these are accepted and listed in Rule.Ignored,
// with transportOptions (options.go).
var alerterPrefixes = []string{"slack_", "sns_", "aws_", "email_", "smtp_", "pagerduty_",
	"opsgenie_", "jira_", "http_post", "ms_teams_", "teams_", "telegram_", "discord_",
	"mattermost_", "alertmanager_", "victorops_", "gitter_", "servicenow_", "chatwork_",
	"dingtalk_", "exotel_", "twilio_", "zabbix_", "hive_", "googlechat_", "pagertree_",
	"line_", "rocket_chat_", "squadcast_", "tencent_sms_", "lark_", "iris_", "ses_",
	"datadog_", "gelf_", "stomp_", "workwechat_", "kibana_", "generate_kibana_", "pipe_"}

type setter func(r *Rule, o optValue, name string) error

var setters map[string]setter

// strSetter, durSetter and intSetter make the setter of a string, duration
// or integer option from where it is stored (baseline.go uses them too).
func strSetter(dst func(*Rule) *string) setter {
	return func(r *Rule, o optValue, name string) error {
		s, err := asString(o, name)
		*dst(r) = s
		return err
	}
}

func durSetter(dst func(*Rule) *time.Duration) setter {
	return func(r *Rule, o optValue, name string) error {
		d, err := asDuration(o, name)
		*dst(r) = d
		return err
	}
}

func intSetter(dst func(*Rule) *int) setter {
	return func(r *Rule, o optValue, name string) error {
		n, err := asInt(o, name)
		*dst(r) = n
		return err
	}
}

func init() {
	str, dur, integer := strSetter, durSetter, intSetter
	num := func(dst func(*Rule) *float64) setter {
		return func(r *Rule, o optValue, name string) error {
			f, err := asNumber(o, name)
			*dst(r) = f
			return err
		}
	}
	optNum := func(dst func(*Rule) **float64) setter {
		return func(r *Rule, o optValue, name string) error {
			f, err := asNumber(o, name)
			*dst(r) = &f
			return err
		}
	}
	optInt := func(dst func(*Rule) **int) setter {
		return func(r *Rule, o optValue, name string) error {
			n, err := asInt(o, name)
			*dst(r) = &n
			return err
		}
	}
	boolean := func(dst func(*Rule) *bool) setter {
		return func(r *Rule, o optValue, name string) error {
			b, ok := o.v.(bool)
			if !ok {
				return o.errf(name, "must be true or false")
			}
			*dst(r) = b
			return nil
		}
	}
	strs := func(dst func(*Rule) *[]string) setter {
		return func(r *Rule, o optValue, name string) error {
			l, err := asStrings(o, name)
			*dst(r) = l
			return err
		}
	}
	setters = map[string]setter{
		"import":              func(*Rule, optValue, string) error { return nil },
		"name":                str(func(r *Rule) *string { return &r.Name }),
		"type":                str(func(r *Rule) *string { return &r.Type }),
		"index":               str(func(r *Rule) *string { return &r.Index }),
		"filter":              setFilter(false),
		"match_bucket_filter": setFilter(true),
		"query_key":           strs(func(r *Rule) *[]string { return &r.QueryKey }),
		"compare_key":         strs(func(r *Rule) *[]string { return &r.CompareKey }),
		"timeframe":           dur(func(r *Rule) *time.Duration { return &r.Timeframe }),
		"run_every":           dur(func(r *Rule) *time.Duration { return &r.RunEvery }),
		"buffer_time":         dur(func(r *Rule) *time.Duration { return &r.BufferTime }),
		"query_delay":         dur(func(r *Rule) *time.Duration { return &r.QueryDelay }),
		"realert":             dur(func(r *Rule) *time.Duration { return &r.Realert }),
		"exponential_realert": dur(func(r *Rule) *time.Duration { return &r.ExponentialRealert }),
		"terms_window_size":   dur(func(r *Rule) *time.Duration { return &r.TermsWindowSize }),
		"window_step_size":    dur(func(r *Rule) *time.Duration { return &r.WindowStepSize }),
		"num_events":          integer(func(r *Rule) *int { return &r.NumEvents }),
		"threshold":           num(func(r *Rule) *float64 { return &r.Threshold }),
		"threshold_ref":       optNum(func(r *Rule) **float64 { return &r.ThresholdRef }),
		"threshold_cur":       optNum(func(r *Rule) **float64 { return &r.ThresholdCur }),
		"spike_height":        num(func(r *Rule) *float64 { return &r.SpikeHeight }),
		"spike_type":          str(func(r *Rule) *string { return &r.SpikeType }),
		"alert_on_new_data":   boolean(func(r *Rule) *bool { return &r.AlertOnNewData }),
		"field_value":         str(func(r *Rule) *string { return &r.FieldValue }),
		"ignore_null":         boolean(func(r *Rule) *bool { return &r.IgnoreNull }),
		"blacklist":           setList(func(r *Rule) *[]string { return &r.Blacklist }),
		"whitelist":           setList(func(r *Rule) *[]string { return &r.Whitelist }),
		"forget_keys":         boolean(func(r *Rule) *bool { return &r.ForgetKeys }),
		"use_strftime_index":  boolean(func(r *Rule) *bool { return &r.UseStrftimeIndex }),
		"alert_text_kw":       setAlertTextKW,
		"alert_missing_value": func(r *Rule, o optValue, name string) error {
			s, ok := o.v.(string)
			if !ok {
				return o.errf(name, "must be a string")
			}
			r.AlertMissingValue = &s
			return nil
		},
		"alert_subject_max_len":    optInt(func(r *Rule) **int { return &r.AlertSubjectMaxLen }),
		"aggregation":              setAggregation,
		"aggregation_key":          func(r *Rule, o optValue, name string) error { _, err := keyOption(o, name); return err },
		"realert_key":              func(r *Rule, o optValue, name string) error { _, err := asString(o, name); return err },
		"use_keyword_postfix":      setUseKeywordPostfix,
		"max_scrolling_count":      setMaxScrollingCount,
		"use_run_every_query_size": setUseRunEveryQuerySize,
		"fields":                   setFields,
		"alert_on_missing_field":   boolean(func(r *Rule) *bool { return &r.AlertOnMissing }),
		"cardinality_field":        str(func(r *Rule) *string { return &r.CardinalityField }),
		"max_cardinality":          optInt(func(r *Rule) **int { return &r.MaxCardinality }),
		"min_cardinality":          optInt(func(r *Rule) **int { return &r.MinCardinality }),
		"metric_agg_key":           str(func(r *Rule) *string { return &r.MetricAggKey }),
		"metric_agg_type":          str(func(r *Rule) *string { return &r.MetricAggType }),
		"max_threshold":            optNum(func(r *Rule) **float64 { return &r.MaxThreshold }),
		"min_threshold":            optNum(func(r *Rule) **float64 { return &r.MinThreshold }),
		"min_denominator":          integer(func(r *Rule) *int { return &r.MinDenominator }),
		"max_percentage":           optNum(func(r *Rule) **float64 { return &r.MaxPercentage }),
		"min_percentage":           optNum(func(r *Rule) **float64 { return &r.MinPercentage }),
		"timestamp_field":          str(func(r *Rule) *string { return &r.TimestampField }),
		"timestamp_type":           str(func(r *Rule) *string { return &r.TimestampType }),
		"use_count_query":          boolean(func(r *Rule) *bool { return &r.UseCountQuery }),
		"use_terms_query":          boolean(func(r *Rule) *bool { return &r.UseTermsQuery }),
		"terms_size":               integer(func(r *Rule) *int { return &r.TermsSize }),
		"top_count_keys":           strs(func(r *Rule) *[]string { return &r.TopCountKeys }),
		"top_count_number":         integer(func(r *Rule) *int { return &r.TopCountNumber }),
		"raw_count_keys": func(r *Rule, o optValue, name string) error {
			var b bool
			err := boolean(func(*Rule) *bool { return &b })(r, o, name)
			r.RawCountKeys = &b
			return err
		},
		"include":            strs(func(r *Rule) *[]string { return &r.Include }),
		"alert_text":         str(func(r *Rule) *string { return &r.AlertText }),
		"alert_text_args":    strs(func(r *Rule) *[]string { return &r.AlertTextArgs }),
		"alert_subject":      str(func(r *Rule) *string { return &r.AlertSubject }),
		"alert_subject_args": strs(func(r *Rule) *[]string { return &r.AlertSubjectArgs }),
		"is_enabled":         boolean(func(r *Rule) *bool { return &r.Enabled }),
		"owner":              str(func(r *Rule) *string { return &r.Owner }),
		"priority":           integer(func(r *Rule) *int { return &r.Priority }),
		"category":           str(func(r *Rule) *string { return &r.Category }),
		"description":        str(func(r *Rule) *string { return &r.Description }),
		"env":                str(func(r *Rule) *string { return &r.Env }),
		"severity":           setSeverity,
		"slack_channel_override": func(r *Rule, o optValue, name string) error {
			l, err := asStrings(o, name)
			if err != nil {
				return err
			}
			// ElastAlert2 posts to every listed channel; irflow announces an
			// incident once, in one channel, so a list of several is refused.
			switch {
			case len(l) > 1:
				return o.errf(name, "not supported with %d channels (irflow announces an incident once, in one channel)", len(l))
			case len(l) == 1 && !incident.ValidChannel(l[0]):
				return o.errf(name, "%q is not a Slack channel name (#lowercase-name) or ID", l[0])
			case len(l) == 1:
				r.SlackChannel = l[0]
			}
			return nil
		},
	}
	for k, s := range baselineSetters() {
		setters[k] = s
	}
}

func setSeverity(r *Rule, o optValue, name string) error {
	s, err := asString(o, name)
	if err != nil {
		return err
	}
	if _, err := incident.ParseSeverity(s); err != nil {
		return o.errf(name, "%v", err)
	}
	r.Severity = s
	return nil
}

func setFields(r *Rule, o optValue, name string) error {
	switch v := o.v.(type) {
	case string:
		r.Fields = [][]string{{v}}
		return nil
	case []any:
		for _, item := range v {
			sub := optValue{file: o.file, line: o.line, v: item}
			l, err := asStrings(sub, name)
			if err != nil {
				return err
			}
			r.Fields = append(r.Fields, l)
		}
		if len(r.Fields) == 0 {
			return o.errf(name, "must not be empty")
		}
		return nil
	}
	return o.errf(name, "must be a field name or a list of them")
}

func setFilter(bucket bool) setter {
	return func(r *Rule, o optValue, name string) error {
		list, ok := o.v.([]any)
		if !ok {
			return o.errf(name, "must be a list of queries")
		}
		seq, _ := o.node.(*ast.SequenceNode)
		for i, item := range list {
			line := o.line
			if seq != nil && i < len(seq.Values) {
				line = seq.Values[i].GetToken().Position.Line
			}
			m, ok := item.(map[string]any)
			if !ok {
				return &Error{File: o.file, Line: line, Option: name, Problem: "each entry must be a query object"}
			}
			m = normalize(m).(map[string]any)
			// ElastAlert's older "- query: {query_string: ...}" form is not valid
			// inside bool.filter; unwrap it so the raw filter passes through.
			if inner, ok := m["query"].(map[string]any); ok && len(m) == 1 {
				m = inner
			}
			f, err := CompileFilter(m)
			if err != nil {
				return &Error{File: o.file, Line: line, Option: name, Problem: err.Error()}
			}
			if bucket {
				r.MatchBucketFilter = append(r.MatchBucketFilter, f)
				r.RawMatchBucketFilter = append(r.RawMatchBucketFilter, m)
			} else {
				r.Filter = append(r.Filter, f)
				r.RawFilter = append(r.RawFilter, m)
			}
		}
		return nil
	}
}

// normalize turns decoded YAML into JSON-shaped values (map[string]any,
// []any, float64, string, bool, nil).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

func asString(o optValue, name string) (string, error) {
	switch v := o.v.(type) {
	case string:
		return v, nil
	case nil:
		return "", o.errf(name, "must not be empty")
	}
	return "", o.errf(name, "must be a string")
}

func asStrings(o optValue, name string) ([]string, error) {
	switch v := o.v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			switch s := e.(type) {
			case string:
				out = append(out, s)
			case bool, nil:
				return nil, o.errf(name, "entries must be strings")
			default:
				if f, ok := toFloat(s); ok {
					out = append(out, formatNumber(f))
					continue
				}
				return nil, o.errf(name, "entries must be strings")
			}
		}
		return out, nil
	}
	return nil, o.errf(name, "must be a string or a list of strings")
}

func asNumber(o optValue, name string) (float64, error) {
	if f, ok := toFloat(o.v); ok {
		return f, nil
	}
	return 0, o.errf(name, "must be a number")
}

func asInt(o optValue, name string) (int, error) {
	f, ok := toFloat(o.v)
	if !ok || f != float64(int(f)) {
		return 0, o.errf(name, "must be an integer")
	}
	if f < 0 {
		return 0, o.errf(name, "must not be negative")
	}
	return int(f), nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint:
		return float64(n), true
	}
	return 0, false
}

var durationUnits = map[string]time.Duration{
	"seconds": time.Second, "minutes": time.Minute, "hours": time.Hour,
	"days": 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// asDuration reads an ElastAlert2 duration map such as {minutes: 5}; several
// units add up as in Python's timedelta.
func asDuration(o optValue, name string) (time.Duration, error) {
	mn, ok := o.node.(*ast.MappingNode)
	var mvs []*ast.MappingValueNode
	if ok {
		mvs = mn.Values
	} else if mv, ok := o.node.(*ast.MappingValueNode); ok {
		mvs = []*ast.MappingValueNode{mv}
	} else {
		return 0, o.errf(name, "must be a map like {minutes: 5}")
	}
	var total time.Duration
	for _, mv := range mvs {
		unit := mv.Key.GetToken().Value
		at := optValue{file: o.file, line: mv.Key.GetToken().Position.Line}
		per, ok := durationUnits[unit]
		if !ok {
			return 0, at.errf(name, "unknown unit %q (want seconds, minutes, hours, days, weeks)", unit)
		}
		if err := yaml.NodeToValue(mv.Value, &at.v); err != nil {
			return 0, at.errf(name, "%s", yamlerr.Problem(err))
		}
		f, ok := toFloat(at.v)
		if !ok || f < 0 {
			return 0, at.errf(name, "%s must be a non-negative number", unit)
		}
		total += time.Duration(f * float64(per))
	}
	return total, nil
}

// build applies options in file order, then defaults and per-type checks.
func build(raw *rawRule) (*Rule, error) {
	r := &Rule{File: raw.file, Realert: realertDefault(raw), Enabled: true}
	var ignored []string
	for _, k := range raw.order {
		o := raw.vals[k]
		if set, ok := setters[k]; ok {
			if err := set(r, o, k); err != nil {
				return nil, err
			}
			continue
		}
		if why, ok := unsupportedOptions[k]; ok {
			return nil, o.errf(k, "not supported (%s)", why)
		}
		check, transport := transportOptions[k]
		if transport || hasAlerterPrefix(k) {
			if check != nil {
				if err := check(o, k); err != nil {
					return nil, err
				}
			}
			ignored = append(ignored, k)
			continue
		}
		return nil, o.errf(k, "unknown option")
	}
	sort.Strings(ignored)
	r.Ignored = ignored
	if r.TimestampField == "" {
		r.TimestampField = "@timestamp"
	}
	if r.RunEvery == 0 {
		r.RunEvery = time.Minute
	}
	if r.BufferTime == 0 {
		r.BufferTime = 15 * time.Minute
	}
	if r.TermsWindowSize == 0 {
		r.TermsWindowSize = 30 * 24 * time.Hour
	}
	if r.TermsSize == 0 {
		r.TermsSize = 50
	}
	if err := validate(r, raw); err != nil {
		return nil, err
	}
	r.comp() // resolve field paths now, so a loaded Rule is safe to share
	return r, nil
}

func hasAlerterPrefix(k string) bool {
	for _, p := range alerterPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// at is where an error about opt points: the option's line, else the line
// of type (or line 1 when type itself is missing).
func (raw *rawRule) at(opt string) optValue {
	if o, ok := raw.vals[opt]; ok {
		return o
	}
	if o, ok := raw.vals["type"]; ok {
		return o
	}
	return optValue{file: raw.file, line: 1}
}

// validate checks cross-option requirements; missing options are reported at
// the line of type (or line 1 when type itself is missing).
func validate(r *Rule, raw *rawRule) error {
	at := raw.at
	missing := func(opt string) error {
		return at("type").errf(opt, "missing (required by type %s)", r.Type)
	}
	if r.Name == "" {
		return at("name").errf("name", "missing")
	}
	if r.Type == "" {
		return at("type").errf("type", "missing")
	}
	known := false
	for _, t := range Types {
		known = known || t == r.Type
	}
	if !known {
		return at("type").errf("type", "unknown rule type %q (want %s)", r.Type, strings.Join(Types, ", "))
	}
	if r.Index == "" {
		return at("index").errf("index", "missing")
	}
	switch r.TimestampType {
	case "", "iso", "unix", "unix_ms":
	default:
		return at("timestamp_type").errf("timestamp_type", "unknown %q (want iso, unix, unix_ms)", r.TimestampType)
	}
	has := func(opt string) bool { _, ok := raw.vals[opt]; return ok }
	need := func(opts ...string) error {
		for _, o := range opts {
			if !has(o) {
				return missing(o)
			}
		}
		return nil
	}
	oneOf := func(a, b string) error {
		if !has(a) && !has(b) {
			return at("type").errf(a, "missing (type %s needs %s or %s)", r.Type, a, b)
		}
		return nil
	}
	spikeType := func() error {
		switch r.SpikeType {
		case "up", "down", "both":
		default:
			return at("spike_type").errf("spike_type", "unknown %q (want up, down, both)", r.SpikeType)
		}
		if r.SpikeHeight <= 0 {
			return at("spike_height").errf("spike_height", "must be greater than 0")
		}
		return nil
	}
	aggType := func() error {
		switch r.MetricAggType {
		case "min", "max", "avg", "sum", "cardinality", "value_count":
			return nil
		}
		return at("metric_agg_type").errf("metric_agg_type", "unknown %q (want min, max, avg, sum, cardinality, value_count)", r.MetricAggType)
	}
	var err error
	switch r.Type {
	case TypeFrequency:
		err = need("num_events", "timeframe")
		if err == nil && r.NumEvents < 1 {
			err = at("num_events").errf("num_events", "must be at least 1")
		}
	case TypeSpike:
		if err = need("timeframe", "spike_height", "spike_type"); err == nil {
			err = spikeType()
		}
	case TypeFlatline:
		err = need("timeframe", "threshold")
	case TypeNewTerm:
		if !has("fields") && !has("query_key") {
			err = at("type").errf("fields", "missing (type new_term needs fields or query_key)")
		} else if len(r.Fields) == 0 {
			r.Fields = [][]string{r.QueryKey}
		}
		if err == nil && r.UseTermsQuery && (len(r.Fields) != 1 || len(r.Fields[0]) != 1) {
			err = at("use_terms_query").errf("use_terms_query", "needs a single non-composite field")
		}
	case TypeCardinality:
		if err = need("timeframe", "cardinality_field"); err == nil {
			err = oneOf("max_cardinality", "min_cardinality")
		}
	case TypeChange:
		err = need("query_key", "compare_key", "ignore_null")
	case TypeBlacklist:
		err = need("compare_key", "blacklist")
	case TypeWhitelist:
		err = need("compare_key", "whitelist", "ignore_null")
	case TypeMetricAggregation:
		if err = need("metric_agg_key", "metric_agg_type"); err == nil {
			if err = aggType(); err == nil {
				err = oneOf("max_threshold", "min_threshold")
			}
		}
	case TypeSpikeAggregation:
		if err = need("timeframe", "metric_agg_key", "metric_agg_type", "spike_height", "spike_type"); err == nil {
			if err = aggType(); err == nil {
				err = spikeType()
			}
		}
	case TypePercentageMatch:
		if err = need("match_bucket_filter"); err == nil {
			err = oneOf("max_percentage", "min_percentage")
		}
	}
	if err == nil {
		err = validateOptions(r, raw)
	}
	if err == nil {
		err = validateBaseline(r, raw)
	}
	return err
}
