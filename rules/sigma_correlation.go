package rules

import (
	"fmt"
	"time"

	"github.com/irflow/irflow/rules/sigma"
)

// parseCorrelation builds the irflow rule of a Sigma correlation rule whose
// referenced rules are in its file: event_count is a frequency rule,
// value_count a cardinality rule and temporal a temporal rule (temporal.go),
// each filtering on the referenced rules' detections (any of them) and
// grouping by group-by. The referenced rules raise nothing of their own
// (generate: false, the only value accepted): the file is one rule.
func parseCorrelation(sc *sigma.Correlation) (*Rule, error) {
	file := sc.File
	bad := func(line int, option, format string, args ...any) error {
		return &Error{File: file, Line: line, Option: option, Problem: fmt.Sprintf(format, args...)}
	}
	var first *sigma.Source
	var srcs []*sigma.Source
	var filters []Filter
	var queries []any
	var temporal []TemporalRule
	for _, sr := range sc.Rules {
		src, c, err := compileSigma(file, sr)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
		if first == nil {
			first = src
		} else if src.Index != first.Index || src.TimestampField != first.TimestampField {
			// One sweep reads one index pattern and orders by one timestamp.
			return nil, bad(sr.LogsourceLine(), fmt.Sprintf("logsource %s of rule %q", sr.Logsource, sr.Title),
				"maps to index %s, timestamp %s; the correlation's first rule to index %s, timestamp %s: not supported (a correlation reads one index and timestamp field)",
				src.Index, src.TimestampField, first.Index, first.TimestampField)
		}
		match := c.Match
		filters = append(filters, filterFunc(func(e Event) bool { return match(e) }))
		queries = append(queries, c.Query)
		temporal = append(temporal, TemporalRule{Name: sr.Ref(), Filter: filterFunc(func(e Event) bool { return match(e) }), Query: c.Query})
	}
	// group-by and condition.field: mapped by every referenced rule's
	// logsource to the same document field, read as is by both paths.
	mapField := func(line int, what, name string) (string, error) {
		out := ""
		for i, sr := range sc.Rules {
			src := srcs[i]
			to, ok := src.MapField(name)
			if !ok {
				return "", asRuleError(sc.FieldError(line, what, name, sr))
			}
			if src.KeywordSuffix != "" {
				// Aggregations would need the keyword copy, the Go evaluator
				// the field itself: one name cannot serve both.
				return "", bad(line, what+" "+name, "not supported on logsource %s (keyword_suffix %s in %s)", sr.Logsource, src.KeywordSuffix, sigma.MappingFile)
			}
			if i > 0 && to != out {
				return "", bad(line, what+" "+name, "maps to %s for rule %q and to %s for rule %q: not supported", out, sc.Rules[0].Title, to, sr.Title)
			}
			out = to
		}
		return out, nil
	}
	var qk []string
	for _, g := range sc.GroupBy {
		f, err := mapField(sc.GroupByLine, "correlation.group-by", g)
		if err != nil {
			return nil, err
		}
		qk = append(qk, f)
	}
	name := sigmaName(file, sc.Name)
	r := &Rule{
		File: file, Name: name, Index: first.Index, QueryKey: qk, Timeframe: sc.Timespan,
		RunEvery: time.Minute, BufferTime: 15 * time.Minute, Realert: time.Minute,
		TermsWindowSize: 30 * 24 * time.Hour, TermsSize: 50,
		TimestampField: first.TimestampField, Enabled: true,
		AlertSubject: sc.Title, AlertText: alertText(sc.Description, sc.Tags, sc.FalsePositives),
		Owner: first.Owner, Env: first.Env, Category: first.Category, SlackChannel: first.SlackChannel,
		Severity: sc.Severity(), Description: sc.Description, Tags: sc.Tags,
	}
	if len(filters) == 1 {
		r.Filter = filters
		r.RawFilter = []map[string]any{queries[0].(map[string]any)}
	} else {
		r.Filter = []Filter{filterFunc(func(e Event) bool {
			for _, f := range filters {
				if f.Match(e) {
					return true
				}
			}
			return false
		})}
		r.RawFilter = []map[string]any{{"bool": map[string]any{"should": queries, "minimum_should_match": 1}}}
	}
	cond := "correlation.condition." + sc.Op
	refuse := func(why string) error {
		return bad(sc.ConditionLine, cond+" for type "+sc.Type, "not supported (%s)", why)
	}
	n := sc.Value
	switch sc.Type {
	case sigma.EventCount:
		r.Type = TypeFrequency
		switch sc.Op {
		case "gte":
			r.NumEvents = n
		case "gt":
			r.NumEvents = n + 1
		case "lt", "lte":
			return nil, refuse("frequency fires when a count reaches a number; flatline fires on keys gone quiet, not on windows with few events")
		case "eq":
			return nil, refuse("frequency fires when the count reaches the number, before it is known not to grow past it")
		}
		if r.NumEvents < 1 {
			return nil, bad(sc.ConditionLine, cond, "must be at least 1 (a count of at least 0 holds without events)")
		}
	case sigma.ValueCount:
		r.Type = TypeCardinality
		f, err := mapField(sc.FieldLine, "correlation.condition.field", sc.Field)
		if err != nil {
			return nil, err
		}
		r.CardinalityField = f
		// cardinality fires when the distinct values exceed max_cardinality.
		switch sc.Op {
		case "gte":
			if n < 1 {
				return nil, bad(sc.ConditionLine, cond, "must be at least 1 (a count of at least 0 holds without events)")
			}
			n--
		case "gt":
		default:
			return nil, refuse("cardinality's min_cardinality fires on keys with few values after a whole timeframe since their first event, not on windows with few values")
		}
		r.MaxCardinality = &n
	case sigma.Temporal:
		r.Type = TypeTemporal
		r.Temporal = temporal
		r.NumEvents = len(temporal)
		switch sc.Op {
		case "":
		case "gte":
			r.NumEvents = n
		case "gt":
			r.NumEvents = n + 1
		default:
			return nil, refuse("a temporal match is reached when enough rules have matched; it cannot wait to see that no more will")
		}
		if r.NumEvents < 1 || r.NumEvents > len(temporal) {
			return nil, bad(sc.ConditionLine, cond, "must ask for 1 to %d of the referenced rules", len(temporal))
		}
	}
	r.comp()
	return r, nil
}
