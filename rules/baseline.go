package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Baseline rule types (irflow's own, not ElastAlert2's): anomaly scores each
// bucket of a per-key metric against the key's own history, rare flags
// by_field values an over_field entity has seldom shown. See anomaly.go and
// rare.go.
const (
	TypeAnomaly = "anomaly"
	TypeRare    = "rare"
)

// BaselineOptions are the options of the anomaly and rare types.
type BaselineOptions struct {
	// BucketSpan is anomaly's bucket: each complete bucket of the metric is
	// one value, scored once.
	BucketSpan time.Duration `json:"bucket_span,omitempty"`
	// BaselineWindow is how much history a key's baseline (anomaly) or a
	// pair's count (rare, default 30 days) covers.
	BaselineWindow time.Duration `json:"baseline_window,omitempty"`
	// MinBaselineBuckets is how many baseline values (in the bucket's season
	// slot) anomaly needs before it scores (default 5).
	MinBaselineBuckets int `json:"min_baseline_buckets,omitempty"`
	// Seasonality: none, or hour_of_day and/or day_of_week (UTC); a bucket
	// is compared only with buckets of the same slot.
	Seasonality []string `json:"seasonality,omitempty"`
	// Method is mad (median and median absolute deviation over the window,
	// default) or ewma (exponentially weighted mean and variance).
	Method string `json:"method,omitempty"`
	// Direction is which way a bucket must leave its baseline to match: up
	// (default), down or both, as ElastAlert2's spike_type.
	Direction string `json:"direction,omitempty"`

	ByField   string `json:"by_field,omitempty"`
	OverField string `json:"over_field,omitempty"`
	MaxSeen   int    `json:"max_seen,omitempty"` // default 1
}

// baselineOptions lists the options only anomaly and rare read, with the
// types that read each.
var baselineOptions = map[string][]string{
	"bucket_span":          {TypeAnomaly},
	"baseline_window":      {TypeAnomaly, TypeRare},
	"min_baseline_buckets": {TypeAnomaly},
	"seasonality":          {TypeAnomaly},
	"method":               {TypeAnomaly},
	"direction":            {TypeAnomaly},
	"by_field":             {TypeRare},
	"over_field":           {TypeRare},
	"max_seen":             {TypeRare},
}

// baselineSetters are load.go's setters for BaselineOptions.
func baselineSetters() map[string]setter {
	dur, str, integer := durSetter, strSetter, intSetter
	return map[string]setter{
		"bucket_span":          dur(func(r *Rule) *time.Duration { return &r.BucketSpan }),
		"baseline_window":      dur(func(r *Rule) *time.Duration { return &r.BaselineWindow }),
		"min_baseline_buckets": integer(func(r *Rule) *int { return &r.MinBaselineBuckets }),
		"method":               str(func(r *Rule) *string { return &r.Method }),
		"direction":            str(func(r *Rule) *string { return &r.Direction }),
		"by_field":             str(func(r *Rule) *string { return &r.ByField }),
		"over_field":           str(func(r *Rule) *string { return &r.OverField }),
		"max_seen":             integer(func(r *Rule) *int { return &r.MaxSeen }),
		"seasonality": func(r *Rule, o optValue, name string) error {
			l, err := asStrings(o, name)
			r.Seasonality = l
			return err
		},
	}
}

// validateBaseline refuses the baseline options on other types, and checks
// and defaults them on anomaly and rare. Errors name the option.
func validateBaseline(r *Rule, raw *rawRule) error {
	at := raw.at
	has := func(opt string) bool { _, ok := raw.vals[opt]; return ok }
	for _, opt := range raw.order {
		types, ok := baselineOptions[opt]
		if ok && !slices.Contains(types, r.Type) {
			return at(opt).errf(opt, "not supported with type %s (only %s read it)", r.Type, strings.Join(types, " and "))
		}
	}
	refuse := func(opts ...string) error {
		for _, opt := range opts {
			if has(opt) {
				return at(opt).errf(opt, "not supported with type %s", r.Type)
			}
		}
		return nil
	}
	need := func(opts ...string) error {
		for _, opt := range opts {
			if !has(opt) {
				return at("type").errf(opt, "missing (required by type %s)", r.Type)
			}
		}
		return nil
	}
	switch r.Type {
	case TypeAnomaly:
		if err := need("bucket_span", "baseline_window", "threshold"); err != nil {
			return err
		}
		return validateAnomaly(r, at, has)
	case TypeRare:
		if err := need("by_field"); err != nil {
			return err
		}
		// The key is the (over_field, by_field) pair; a metric or score
		// would be ignored.
		if err := refuse("query_key", "threshold", "metric_agg_key", "metric_agg_type"); err != nil {
			return err
		}
		if r.BaselineWindow == 0 {
			r.BaselineWindow = 30 * 24 * time.Hour
		}
		if r.BaselineWindow < 0 {
			return at("baseline_window").errf("baseline_window", "must be positive")
		}
		if !has("max_seen") {
			r.MaxSeen = 1
		}
		if r.MaxSeen < 1 || r.MaxSeen > MaxRareSeen {
			return at("max_seen").errf("max_seen", "must be between 1 and %d", MaxRareSeen)
		}
		r.QueryKey = []string{r.ByField}
		if r.OverField != "" {
			r.QueryKey = []string{r.OverField, r.ByField}
		}
	}
	return nil
}

// sample is a float that JSON-encodes in 6 significant digits (NaN, a
// bucket without a value, as null), so the baseline in State stays small.
// Values are rounded as they are stored, so a State that went through JSON
// scores exactly as the one that did not.
type sample float64

func round6(v float64) sample {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return sample(math.NaN())
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	return sample(f)
}

func (s sample) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(s)) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(s), 'g', 6, 64), nil
}

func (s *sample) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = sample(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("baseline value %s: %w", b, err)
	}
	*s = sample(f)
	return nil
}

// aggExt is a counting sweep that pages its own requests (anomaly's buckets,
// rare's two phases); AggSweep hands its calls over.
type aggExt interface {
	next() (Search, bool)
	add(resp map[string]any) error
	matches(st *State) ([]Match, error)
	keys() int
}

// Seed hands the sweep the state it will be evaluated against, before the
// first Next. An anomaly rule without a baseline yet (its first sweep, or
// its file changed what a baseline value means) then reads baseline_window
// of history before the sweep's window in the same paged requests and seeds
// its baselines from it, so it can alert on its first sweep instead of after
// min_baseline_buckets sweeps (weeks when seasonal). Other types ignore it:
// rare counts its window on every sweep.
func (a *AggSweep) Seed(st *State) {
	if s, ok := a.ext.(*anomalySweep); ok {
		s.seed(st)
	}
}

// baselineSweep is the aggExt of anomaly and rare rules, nil for other types.
func (r *Rule) baselineSweep(start, end time.Time, keysPerPage int) aggExt {
	switch r.Type {
	case TypeAnomaly:
		return r.newAnomalySweep(start, end, keysPerPage)
	case TypeRare:
		return r.newRareSweep(start, end, keysPerPage)
	}
	return nil
}

// rangeClause is a range on the timestamp with the given bounds ("gt",
// "gte", "lt", "lte" → time), in the rule's timestamp_type.
func (r *Rule) rangeClause(bounds map[string]time.Time) map[string]any {
	rng := map[string]any{}
	for op, t := range bounds {
		rng[op] = r.timeValue(t)
	}
	if r.TimestampType == "" || r.TimestampType == "iso" {
		rng["format"] = "strict_date_optional_time"
	}
	return map[string]any{"range": map[string]any{r.TimestampField: rng}}
}

// searchBody is a size-0 request over the range clause plus the rule's
// filters (and extra clauses) with aggs.
func (r *Rule) searchBody(index string, rng map[string]any, extra []any, aggs map[string]any) Search {
	filters := []any{rng}
	for _, f := range r.RawFilter {
		filters = append(filters, f)
	}
	filters = append(filters, extra...)
	return Search{Index: index, IgnoreUnavailable: r.UseStrftimeIndex, Body: map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": filters}},
		"aggs":             aggs,
	}}
}

// composite pages a composite aggregation named "keys" over fields.
type composite struct {
	fields  []string
	size    int
	after   map[string]any
	started bool
}

func (c *composite) done() bool { return c.started && c.after == nil }

func (c *composite) agg(leaf map[string]any) map[string]any {
	sources := make([]any, len(c.fields))
	for i, f := range c.fields {
		sources[i] = map[string]any{compositeSource(i): map[string]any{"terms": map[string]any{"field": f}}}
	}
	comp := map[string]any{"size": c.size, "sources": sources}
	if c.after != nil {
		comp["after"] = c.after
	}
	keys := map[string]any{"composite": comp}
	if len(leaf) > 0 {
		keys["aggs"] = leaf
	}
	return map[string]any{"keys": keys}
}

// compositeBucket is one key of a page: its values as OpenSearch returned
// them, and the bucket.
type compositeBucket struct {
	values []any
	leaf   map[string]any
}

func (b compositeBucket) key() string {
	parts := make([]string, len(b.values))
	for i, v := range b.values {
		parts[i] = keyString(v)
	}
	return strings.Join(parts, ", ")
}

func (c *composite) add(name string, resp map[string]any) ([]compositeBucket, error) {
	c.started = true
	aggs, ok := resp["aggregations"].(map[string]any)
	if shards, _ := number(mapOf(resp["_shards"])["total"]); !ok && shards == 0 {
		c.after = nil // an index pattern that matches no index: no keys
		return nil, nil
	}
	keys, ok := aggs["keys"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rule %s: response has no \"keys\" aggregation", name)
	}
	list, _ := keys["buckets"].([]any)
	out := make([]compositeBucket, 0, len(list))
	for _, b := range list {
		m, ok := b.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rule %s: keys: bucket is not an object", name)
		}
		km := mapOf(m["key"])
		vals := make([]any, len(c.fields))
		for i := range c.fields {
			vals[i] = km[compositeSource(i)]
		}
		out = append(out, compositeBucket{values: vals, leaf: m})
	}
	c.after = mapOf(keys["after_key"])
	if len(list) < c.size {
		c.after = nil
	}
	return out, nil
}
