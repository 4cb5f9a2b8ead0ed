package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/irflow/irflow/rules/internal/yamlerr"
)

// Options are the ElastAlert2 options that act outside a rule type's own
// fields: what a flatline remembers, how the alert text renders, which index
// names a sweep reads. Rule embeds it.
type Options struct {
	// ForgetKeys is flatline's forget_keys: after a match, the key is
	// forgotten until it is seen again, instead of firing every run.
	ForgetKeys bool `json:"forget_keys,omitempty"`
	// UseStrftimeIndex: Index is a strftime pattern (%Y, %m, %d, %H, ...)
	// and a sweep reads every index its window touches (IndexFor).
	UseStrftimeIndex bool `json:"use_strftime_index,omitempty"`
	// AlertTextKW maps a match field to a {name} in alert_text
	// (alert_text_kw); alert_text_args wins when both are set, as in ElastAlert2.
	AlertTextKW map[string]string `json:"alert_text_kw,omitempty"`
	// AlertMissingValue replaces MissingValue when set (alert_missing_value).
	AlertMissingValue *string `json:"alert_missing_value,omitempty"`
	// AlertSubjectMaxLen cuts a custom alert_subject (default 2048 characters).
	AlertSubjectMaxLen *int `json:"alert_subject_max_len,omitempty"`
	// RawCountKeys is raw_count_keys (default true): top_count_keys fields
	// are counted on their ".keyword" sub-field, as ElastAlert2 does.
	RawCountKeys *bool `json:"raw_count_keys,omitempty"`
	// UseKeywordPostfix is use_keyword_postfix (default true): new_term
	// loads its known terms from each field's ".keyword" sub-field.
	UseKeywordPostfix *bool `json:"use_keyword_postfix,omitempty"`
	// UseRunEveryQuerySize is use_run_every_query_size: aggregation types
	// aggregate over each run_every instead of the last buffer_time.
	UseRunEveryQuerySize bool `json:"use_run_every_query_size,omitempty"`
	// TopCountNumber is top_count_number: how many values of each
	// top_count_keys field a match lists (default 5).
	TopCountNumber int `json:"top_count_number,omitempty"`
}

// transportOptions are ElastAlert2 options about delivering an alert (which
// alerter, its text layout, how a batch is summarised) or about how pages of
// a query are fetched, never about which matches a rule produces. They are
// accepted and listed in Rule.Ignored. check, when set, refuses the values
// that are not only that.
var transportOptions = map[string]func(o optValue, name string) error{
	"alert":                   nil,
	"alert_text_type":         checkAlertTextType,
	"summary_table_fields":    nil,
	"summary_table_type":      nil,
	"summary_table_max_rows":  nil,
	"summary_prefix":          nil,
	"summary_suffix":          nil,
	"aggregate_by_match_time": nil,
	"aggregation_alert_time_compared_with_timestamp_field": nil,
	"email":                   nil,
	"email_reply_to":          nil,
	"from_addr":               nil,
	"cc":                      nil,
	"bcc":                     nil,
	"command":                 nil,
	"fail_on_non_zero_exit":   nil,
	"use_kibana4_dashboard":   nil,
	"use_local_time":          nil,
	"custom_pretty_ts_format": nil,
	// ElastAlert2 scrolls through every page of max_query_size documents;
	// irflow pages through every hit with search_after: the same events.
	"max_query_size":   nil,
	"scroll_keepalive": nil,
}

// checkAlertTextType refuses alert_text_jinja: irflow renders alert_subject
// and alert_text itself, with {0}-style arguments, not Jinja.
func checkAlertTextType(o optValue, name string) error {
	s, err := asString(o, name)
	if err != nil {
		return err
	}
	switch s {
	case "alert_text_only", "exclude_fields", "aggregation_summary_only":
		return nil
	case "alert_text_jinja":
		return o.errf(name, "not supported (alert_text_jinja: irflow renders alert_subject and alert_text with {0}-style arguments, not Jinja templates)")
	}
	return o.errf(name, "unknown %q (want alert_text_only, exclude_fields, aggregation_summary_only, alert_text_jinja)", s)
}

// unsupportedOptions change which matches a rule produces or what they carry,
// and irflow does not implement them: a rule that sets one is refused with
// "not supported (why)".
var unsupportedOptions = map[string]string{
	"bucket_interval":           "irflow aggregates each sweep's window as one bucket",
	"sync_bucket_interval":      "irflow aggregates each sweep's window as one bucket",
	"percentile_range":          "percentiles aggregations are not implemented",
	"metric_agg_script":         "irflow runs no scripts; aggregate a field with metric_agg_key",
	"allow_buffer_time_overlap": "irflow's aggregation windows never overlap: each sweep starts where the last ended",
	"query_timezone":            "irflow queries in UTC",
	"timestamp_format":          "custom timestamp formats are not implemented; use timestamp_type iso, unix or unix_ms",
	"timestamp_to_datetime":     "custom timestamp conversion is not implemented; use timestamp_type iso, unix or unix_ms",
	"ignore_null_counts":        "not implemented",
	"scan_entire_timeframe":     "irflow keeps each key's window in the rule's state across sweeps, so a sweep reads only what is new; re-reading the timeframe would count events twice",
	"limit_execution":           "a rule's Schedule fires every run_every; cron-limited runs are not implemented",
	"match_enhancements":        "Python enhancement modules cannot run in irflow",
	"run_enhancements_first":    "Python enhancement modules cannot run in irflow",
	"attach_related":            "frequency sweeps count in OpenSearch aggregations and keep no documents to attach as related_events",
	"es_host":                   "irflow sweeps every rule against search.url (IRFLOW_OPENSEARCH_URL); per-rule clusters are not supported",
	"es_port":                   "irflow sweeps every rule against search.url (IRFLOW_OPENSEARCH_URL); per-rule clusters are not supported",
	"es_url_prefix":             "irflow sweeps every rule against search.url (IRFLOW_OPENSEARCH_URL); per-rule clusters are not supported",
	"es_username":               "irflow sweeps every rule against search.url with the worker's credentials",
	"es_password":               "irflow sweeps every rule against search.url with the worker's credentials",
	"use_ssl":                   "irflow sweeps every rule against search.url; its scheme decides TLS",
	"verify_certs":              "irflow sweeps every rule against search.url with the worker's TLS settings",
	"doc_type":                  "OpenSearch has no mapping types, and ElastAlert2 2.19 does not read it either",
	"owner_email":               "ElastAlert2 2.19 does not read it; use owner",
	"query_key_is_ignored":      "ElastAlert2 2.19 does not read it",
}

// realertDefault is ElastAlert2's default realert: one minute, or none when
// the rule aggregates (every match then joins the batch).
func realertDefault(raw *rawRule) time.Duration {
	if _, ok := raw.vals["aggregation"]; ok {
		return 0
	}
	return time.Minute
}

// setAggregation accepts ElastAlert2's two forms, a duration map or
// {schedule: cron}. Its batching is irflow's incident (every match of a key
// lands on one incident, which announces once); what it changes about which
// matches fire, the realert default of 0, is applied in build.
func setAggregation(r *Rule, o optValue, name string) error {
	if m, ok := o.v.(map[string]any); ok {
		if s, ok := m["schedule"]; ok {
			if _, isStr := s.(string); !isStr || len(m) != 1 {
				return o.errf(name, "schedule must be a cron string, alone")
			}
			return nil
		}
	}
	_, err := asDuration(o, name)
	return err
}

// keyOption reads an option that names fields, like query_key: a name or a
// list of names, a list joined with "," (aggregation_key) as ElastAlert2 does.
func keyOption(o optValue, name string) (string, error) {
	l, err := asStrings(o, name)
	return strings.Join(l, ","), err
}

// checkAggregationKey refuses an aggregation_key other than the query_key:
// irflow groups a rule's matches into incidents by query_key only.
func checkAggregationKey(r *Rule, o optValue, name string) error {
	k, err := keyOption(o, name)
	if err != nil {
		return err
	}
	if k != strings.Join(r.QueryKey, ",") {
		return o.errf(name, "not supported (irflow groups a rule's matches into one incident per query_key value, not per %s; only the query_key is accepted)", k)
	}
	return nil
}

// checkRealertKey refuses a realert_key other than the rule's name:
// ElastAlert2 shares the silence of one realert_key between every rule that
// names it, and irflow keeps silences in each rule's own state.
func checkRealertKey(r *Rule, o optValue, name string) error {
	s, err := asString(o, name)
	if err != nil {
		return err
	}
	if s != r.Name {
		return o.errf(name, "not supported (irflow keeps realert silences per rule, so rules cannot share one; only the rule's name is accepted)")
	}
	return nil
}

func setUseKeywordPostfix(r *Rule, o optValue, name string) error {
	b, ok := o.v.(bool)
	if !ok {
		return o.errf(name, "must be true or false")
	}
	r.UseKeywordPostfix = &b
	return nil
}

// seedField is the field a new_term rule's known terms are loaded from: as
// in ElastAlert2, name.keyword unless use_keyword_postfix is false (an index
// that maps strings as keyword, like irflow's template, needs it false).
func (r *Rule) seedField(name string) string {
	if (r.UseKeywordPostfix == nil || *r.UseKeywordPostfix) && !strings.HasSuffix(name, ".keyword") {
		return name + ".keyword"
	}
	return name
}

func setMaxScrollingCount(r *Rule, o optValue, name string) error {
	n, err := asInt(o, name)
	if err != nil {
		return err
	}
	if n != 0 {
		return o.errf(name, "not supported (irflow reads every page of a sweep, and a cap of %d pages would drop events; only 0, no cap, is accepted)", n)
	}
	return nil
}

func setUseRunEveryQuerySize(r *Rule, o optValue, name string) error {
	b, ok := o.v.(bool)
	if !ok {
		return o.errf(name, "must be true or false")
	}
	r.UseRunEveryQuerySize = b
	return nil
}

// aggregatesBuffer says each run aggregates over the last buffer_time, not
// only what is new since the last run: ElastAlert2's metric_aggregation,
// spike_aggregation and percentage_match query buffer_time each run unless
// use_run_every_query_size is true.
func (r *Rule) aggregatesBuffer() bool {
	switch r.Type {
	case TypeMetricAggregation, TypeSpikeAggregation, TypePercentageMatch:
		return !r.UseRunEveryQuerySize
	}
	return false
}

func setAlertTextKW(r *Rule, o optValue, name string) error {
	m, ok := o.v.(map[string]any)
	if !ok {
		return o.errf(name, "must be a map of field: name")
	}
	r.AlertTextKW = make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return o.errf(name, "%s: must be a string", k)
		}
		r.AlertTextKW[k] = s
	}
	return nil
}

// strftimeVerbs are the directives IndexFor expands (Python's, C locale).
var strftimeVerbs = map[byte]func(t time.Time) string{
	'Y': func(t time.Time) string { return t.Format("2006") },
	'y': func(t time.Time) string { return t.Format("06") },
	'm': func(t time.Time) string { return t.Format("01") },
	'd': func(t time.Time) string { return t.Format("02") },
	'H': func(t time.Time) string { return t.Format("15") },
	'j': func(t time.Time) string { return fmt.Sprintf("%03d", t.YearDay()) },
	'b': func(t time.Time) string { return t.Format("Jan") },
	'B': func(t time.Time) string { return t.Format("January") },
	'a': func(t time.Time) string { return t.Format("Mon") },
	'A': func(t time.Time) string { return t.Format("Monday") },
	'%': func(time.Time) string { return "%" },
}

// checkStrftime refuses directives finer than an hour (ElastAlert2 steps the
// window by hours when %H is present, by days otherwise, so it would miss
// indices) and ones IndexFor does not know.
func checkStrftime(index string) error {
	for i := 0; i < len(index); i++ {
		if index[i] != '%' {
			continue
		}
		if i+1 == len(index) {
			return fmt.Errorf("index %q ends with a lone %%", index)
		}
		i++
		if _, ok := strftimeVerbs[index[i]]; !ok {
			return fmt.Errorf("not supported (%%%c in index %q: indices are stepped by hours or days, so only %%Y, %%y, %%m, %%d, %%H, %%j, %%b, %%B, %%a, %%A and %%%% are)", index[i], index)
		}
	}
	return nil
}

func strftime(pattern string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '%' && i+1 < len(pattern) {
			if f, ok := strftimeVerbs[pattern[i+1]]; ok {
				b.WriteString(f(t))
				i++
				continue
			}
		}
		b.WriteByte(pattern[i])
	}
	return b.String()
}

// maxIndexList bounds the comma-joined index list; longer windows (a new_term
// history over an hourly pattern) read the wildcard form instead, which holds
// the same documents because the query's time range still applies.
const maxIndexList = 3000

// IndexFor is the index expression a search over (start, end] reads. Without
// use_strftime_index it is Index. With it, Index is a strftime pattern
// evaluated in UTC and the result names every index the window touches,
// hour by hour when the pattern has %H and day by day otherwise, comma-joined
// in time order (ElastAlert2's format_index). Zero times, or a list that
// would pass maxIndexList bytes, give the pattern with its directives
// replaced by one * (ElastAlert2's get_index without times).
func (r *Rule) IndexFor(start, end time.Time) string {
	if !r.UseStrftimeIndex || !strings.Contains(r.Index, "%") {
		return r.Index
	}
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return r.indexWildcard()
	}
	step := 24 * time.Hour
	start, end = start.UTC(), end.UTC()
	if strings.Contains(r.Index, "%H") {
		step = time.Hour
		start, end = start.Truncate(time.Hour), end.Truncate(time.Hour)
	} else {
		start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		end = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	}
	seen := map[string]bool{}
	var names []string
	n := 0
	for t := start; !t.After(end); t = t.Add(step) {
		name := strftime(r.Index, t)
		if seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
		if n += len(name) + 1; n > maxIndexList {
			return r.indexWildcard()
		}
	}
	return strings.Join(names, ",")
}

func (r *Rule) indexWildcard() string {
	i, j := strings.Index(r.Index, "%"), strings.LastIndex(r.Index, "%")+2
	if j > len(r.Index) {
		j = len(r.Index)
	}
	return r.Index[:i] + "*" + r.Index[j:]
}

// setList reads blacklist/whitelist: strings, where an entry "!file PATH"
// (quoted in YAML, as ElastAlert2 wants; an unquoted !file tag works too)
// stands for the file's lines, each one entry with trailing whitespace cut,
// as ElastAlert2's expand_entries reads them. PATH is relative to the rule
// file, or absolute.
func setList(dst func(*Rule) *[]string) setter {
	return func(r *Rule, o optValue, name string) error {
		seq, isSeq := o.node.(*ast.SequenceNode)
		items := []ast.Node{o.node}
		if isSeq {
			items = seq.Values
		}
		var out []string
		for _, item := range items {
			at := optValue{file: o.file, line: item.GetToken().Position.Line, node: item}
			if tag, ok := item.(*ast.TagNode); ok && tag.Start.Value == "!file" {
				path := strings.TrimSpace(tag.Value.GetToken().Value)
				lines, err := readListFile(o.file, path)
				if err != nil {
					return at.errf(name, "!file %s: %v", path, err)
				}
				out = append(out, lines...)
				continue
			}
			if err := yaml.NodeToValue(item, &at.v); err != nil {
				return at.errf(name, "%s", yamlerr.Problem(err))
			}
			if _, isSeqItem := at.v.([]any); isSeqItem && isSeq {
				return at.errf(name, "entries must be strings")
			}
			l, err := asStrings(at, name)
			if err != nil {
				return err
			}
			for _, s := range l {
				if !strings.HasPrefix(s, "!file") {
					out = append(out, s)
					continue
				}
				f := strings.Fields(s)
				if len(f) < 2 {
					return at.errf(name, "%q: want \"!file PATH\"", s)
				}
				lines, err := readListFile(o.file, f[1])
				if err != nil {
					return at.errf(name, "!file %s: %v", f[1], err)
				}
				out = append(out, lines...)
			}
		}
		*dst(r) = out
		return nil
	}
}

func readListFile(ruleFile, path string) ([]string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(ruleFile), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return nil, pe.Err
		}
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		out = append(out, strings.TrimRight(sc.Text(), " \t\r\n\v\f"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %v", len(out)+1, err)
	}
	return out, nil
}

// falsy is Python truthiness for JSON values, which ElastAlert2's change rule
// uses for ignore_null: null, 0, "", [] and {} are skipped; booleans never are.
func falsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return false
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	if f, ok := toFloat(v); ok {
		return f == 0
	}
	return false
}

// validateOptions checks the options above against the rest of the rule,
// once every option is read (file order does not matter).
func validateOptions(r *Rule, raw *rawRule) error {
	if o, ok := raw.vals["aggregation_key"]; ok {
		if err := checkAggregationKey(r, o, "aggregation_key"); err != nil {
			return err
		}
	}
	if o, ok := raw.vals["realert_key"]; ok {
		if err := checkRealertKey(r, o, "realert_key"); err != nil {
			return err
		}
	}
	if o, ok := raw.vals["use_strftime_index"]; ok && r.UseStrftimeIndex {
		if err := checkStrftime(r.Index); err != nil {
			return o.errf("use_strftime_index", "%v", err)
		}
	}
	if o, ok := raw.vals["field_value"]; ok && r.Type != TypeSpike {
		return o.errf("field_value", "not supported with type %s (only spike counts field_value)", r.Type)
	}
	// ElastAlert2's rule types without add_count_data/add_terms_data fail on
	// these; irflow refuses them up front.
	if o, ok := raw.vals["use_count_query"]; ok && r.UseCountQuery {
		switch r.Type {
		case TypeFrequency, TypeFlatline, TypeSpike:
		default:
			return o.errf("use_count_query", "not supported with type %s (ElastAlert2 takes counts only for frequency, flatline and spike)", r.Type)
		}
	}
	if o, ok := raw.vals["use_terms_query"]; ok && r.UseTermsQuery {
		switch r.Type {
		case TypeFrequency, TypeFlatline, TypeSpike, TypeNewTerm:
		default:
			return o.errf("use_terms_query", "not supported with type %s (ElastAlert2 takes terms only for frequency, flatline, spike and new_term)", r.Type)
		}
		if len(r.QueryKey) == 0 {
			return o.errf("use_terms_query", "needs query_key")
		}
	}
	return nil
}
