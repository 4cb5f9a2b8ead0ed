package rules

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

func (r *Rule) metricKey() string { return "metric_" + r.MetricAggKey + "_" + r.MetricAggType }

func groupByKey(c *compiled, in []timed) map[string][]Event {
	g := map[string][]Event{}
	for _, ev := range in {
		k := c.key(ev.e)
		g[k] = append(g[k], ev.e)
	}
	return g
}

// aggregate computes an OpenSearch metric aggregation over events; ok is false
// when OpenSearch would return null (no values for min/max/avg).
func aggregate(typ string, f field, events []Event) (float64, bool) {
	var sum, n float64
	min, max := math.Inf(1), math.Inf(-1)
	distinct := map[string]bool{}
	for _, e := range events {
		v, ok := f.get(e)
		if !ok || v == nil {
			continue
		}
		vals := []any{v}
		if l, isList := v.([]any); isList {
			vals = l
		}
		for _, x := range vals {
			if typ == "cardinality" {
				distinct[keyString(x)] = true
				continue
			}
			if typ == "value_count" {
				n++
				continue
			}
			num, ok := numberOf(x)
			if !ok {
				continue
			}
			sum += num
			n++
			min = math.Min(min, num)
			max = math.Max(max, num)
		}
	}
	switch typ {
	case "cardinality":
		return float64(len(distinct)), true
	case "value_count":
		return n, true
	case "sum":
		return sum, true
	case "min":
		return min, n > 0
	case "max":
		return max, n > 0
	case "avg":
		return sum / n, n > 0
	}
	return 0, false
}

// evalMetric aggregates each key's events in the run window and matches when
// the value crosses max_threshold (above) or min_threshold (below).
func (r *Rule) evalMetric(c *compiled, in []timed, runEnd time.Time, emit func(Match)) {
	groups := groupByKey(c, in)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		v, ok := aggregate(r.MetricAggType, c.metric, groups[k])
		if ok && r.crossed(v) {
			emit(r.metricMatch(runEnd, k, v))
		}
	}
}

func (r *Rule) crossed(v float64) bool {
	return (r.MaxThreshold != nil && v > *r.MaxThreshold) || (r.MinThreshold != nil && v < *r.MinThreshold)
}

func (r *Rule) metricMatch(t time.Time, key string, v float64) Match {
	doc := Event{r.TimestampField: t.UTC().Format(time.RFC3339Nano), r.metricKey(): v, "metric_agg_value": v}
	if len(r.QueryKey) > 1 {
		// ElastAlert2 names the compound key field after the joined field names.
		doc[strings.Join(r.QueryKey, ",")] = strings.ReplaceAll(key, ", ", ",")
	}
	r.setKeyFields(doc, key)
	return Match{Time: t, Key: key, Fields: doc}
}

// evalPercentage matches when the share of events passing match_bucket_filter
// is above max_percentage or below min_percentage, per key, over the run.
func (r *Rule) evalPercentage(c *compiled, in []timed, runEnd time.Time, emit func(Match)) {
	groups := groupByKey(c, in)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		total := len(groups[k])
		hit := 0
		for _, e := range groups[k] {
			ok := true
			for _, f := range r.MatchBucketFilter {
				ok = ok && f.Match(e)
			}
			if ok {
				hit++
			}
		}
		if m, ok := r.percentageMatch(runEnd, k, hit, total); ok {
			emit(m)
		}
	}
}

func (r *Rule) percentageMatch(t time.Time, key string, hit, total int) (Match, bool) {
	if total == 0 || total < r.MinDenominator {
		return Match{}, false
	}
	pct := float64(hit) / float64(total) * 100
	if !((r.MaxPercentage != nil && pct > *r.MaxPercentage) || (r.MinPercentage != nil && pct < *r.MinPercentage)) {
		return Match{}, false
	}
	doc := Event{r.TimestampField: t.UTC().Format(time.RFC3339Nano), "percentage": pct, "denominator": total}
	r.setKeyFields(doc, key)
	return Match{Time: t, Key: key, Fields: doc}, true
}
