package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxAnomalyValues bounds the baseline an anomaly rule keeps in State (the
// sweep workflow's payload): a mad key holds baseline_window/bucket_span
// values, an ewma key three per season slot, and the keys kept are at most
// MaxAnomalyValues divided by that (the most recently active first). About
// 1 MB of JSON at worst.
const MaxAnomalyValues = 100_000

// maxAnomalyRing is the longest baseline a key may hold (one rule file).
const maxAnomalyRing = 20_000

// AnomalyState is an anomaly rule's memory: each key's baseline, and for the
// Go evaluator the partial value of the bucket still open at the run's end
// (a sweep reads an open bucket again from its start instead).
type AnomalyState struct {
	// Since is where the rule's view of the data starts (its first run, or
	// the first run after a gap): a bucket starting at or before it is
	// partly unseen and never scored.
	Since time.Time `json:"since"`
	// Shape names the options the baselines were built with (anomalyShape):
	// a rule file changed in any of them starts again, and a sweep seeds
	// again; a change of threshold or direction keeps the baselines.
	Shape   string                 `json:"shape,omitempty"`
	Keys    map[string]*AnomalyKey `json:"keys,omitempty"`
	Pending map[string]*anomalyAcc `json:"pending,omitempty"`
}

// AnomalyKey is one key's baseline. Times are bucket starts in Unix seconds.
type AnomalyKey struct {
	Last int64 `json:"last"` // the newest bucket scored
	Seen int64 `json:"seen"` // the newest bucket holding documents
	// V (mad): the values of the buckets up to Last, oldest first, at most
	// baseline_window/bucket_span; null for a bucket without a value.
	V []sample `json:"v,omitempty"`
	// E (ewma): mean, variance and count for each season slot.
	E []sample `json:"e,omitempty"`
}

// anomalyAcc accumulates one key's bucket in the Go evaluator, as the
// metric aggregation would.
type anomalyAcc struct {
	B        int64           `json:"b"`
	Docs     float64         `json:"docs"`
	N        float64         `json:"n,omitempty"`
	Sum      float64         `json:"sum,omitempty"`
	Min      float64         `json:"min,omitempty"`
	Max      float64         `json:"max,omitempty"`
	Distinct map[string]bool `json:"distinct,omitempty"`
}

func (a *anomalyAcc) add(typ string, f field, e Event) {
	a.Docs++
	if typ == "count" {
		return
	}
	v, ok := f.get(e)
	if !ok || v == nil {
		return
	}
	vals := []any{v}
	if l, isList := v.([]any); isList {
		vals = l
	}
	for _, x := range vals {
		switch typ {
		case "cardinality":
			if a.Distinct == nil {
				a.Distinct = map[string]bool{}
			}
			a.Distinct[keyString(x)] = true
			continue
		case "value_count":
			a.N++
			continue
		}
		num, ok := numberOf(x)
		if !ok {
			continue
		}
		if a.N == 0 || num < a.Min {
			a.Min = num
		}
		if a.N == 0 || num > a.Max {
			a.Max = num
		}
		a.Sum += num
		a.N++
	}
}

// value is the bucket's metric; NaN where OpenSearch returns null.
func (a *anomalyAcc) value(typ string) float64 {
	switch typ {
	case "count":
		return a.Docs
	case "cardinality":
		return float64(len(a.Distinct))
	case "value_count":
		return a.N
	case "sum":
		return a.Sum
	}
	if a.N == 0 {
		return math.NaN()
	}
	switch typ {
	case "min":
		return a.Min
	case "max":
		return a.Max
	}
	return a.Sum / a.N
}

func validateAnomaly(r *Rule, at func(string) optValue, has func(string) bool) error {
	if r.MetricAggType == "" {
		r.MetricAggType = "count"
	}
	switch r.MetricAggType {
	case "count":
		if has("metric_agg_key") {
			return at("metric_agg_key").errf("metric_agg_key", "not supported with metric_agg_type count")
		}
	case "min", "max", "avg", "sum", "cardinality", "value_count":
		if !has("metric_agg_key") {
			return at("type").errf("metric_agg_key", "missing (metric_agg_type %s needs a field)", r.MetricAggType)
		}
	default:
		return at("metric_agg_type").errf("metric_agg_type", "unknown %q (want count, min, max, avg, sum, cardinality, value_count)", r.MetricAggType)
	}
	span := r.BucketSpan
	if span < time.Second || span%time.Second != 0 {
		return at("bucket_span").errf("bucket_span", "must be a whole number of seconds, at least 1")
	}
	w := r.BaselineWindow
	if w < 2*span || w%span != 0 {
		return at("baseline_window").errf("baseline_window", "must be a multiple of bucket_span (%s), at least two", span)
	}
	if n := w / span; n > maxAnomalyRing {
		return at("baseline_window").errf("baseline_window", "holds %d buckets of bucket_span; at most %d", n, maxAnomalyRing)
	}
	switch r.Method {
	case "":
		r.Method = "mad"
	case "mad", "ewma":
	default:
		return at("method").errf("method", "unknown %q (want mad, ewma)", r.Method)
	}
	switch r.Direction {
	case "":
		r.Direction = "up"
	case "up", "down", "both":
	default:
		return at("direction").errf("direction", "unknown %q (want up, down, both)", r.Direction)
	}
	seen := map[string]bool{}
	for _, s := range r.Seasonality {
		if (s != "hour_of_day" && s != "day_of_week") || seen[s] {
			return at("seasonality").errf("seasonality", "unknown or repeated %q (want hour_of_day, day_of_week)", s)
		}
		seen[s] = true
	}
	if len(r.Seasonality) > 0 && (24*time.Hour)%span != 0 {
		return at("seasonality").errf("seasonality", "needs a bucket_span that divides a day, not %s", span)
	}
	if r.Threshold <= 0 {
		return at("threshold").errf("threshold", "must be greater than 0 (the score above which a bucket matches)")
	}
	if !has("min_baseline_buckets") {
		r.MinBaselineBuckets = min(5, r.perSlot())
	}
	if r.MinBaselineBuckets < 1 || r.MinBaselineBuckets > r.perSlot() {
		return at("min_baseline_buckets").errf("min_baseline_buckets", "must be between 1 and %d (the buckets of one season slot in baseline_window)", r.perSlot())
	}
	return nil
}

func (r *Rule) hasSeason(s string) bool { return slices.Contains(r.Seasonality, s) }

// slots is how many season slots a key's baseline has; slot the one a
// bucket starting at b (Unix seconds) falls in.
func (r *Rule) slots() int {
	n := 1
	if r.hasSeason("hour_of_day") {
		n *= 24
	}
	if r.hasSeason("day_of_week") {
		n *= 7
	}
	return n
}

func (r *Rule) slot(b int64) int {
	t := time.Unix(b, 0).UTC()
	s := 0
	if r.hasSeason("day_of_week") {
		s = int(t.Weekday())
	}
	if r.hasSeason("hour_of_day") {
		s = s*24 + t.Hour()
	}
	return s
}

// perSlot is how many buckets of one season slot baseline_window holds.
func (r *Rule) perSlot() int {
	ring := int(r.BaselineWindow / r.BucketSpan)
	used := 1
	if r.hasSeason("hour_of_day") {
		used = min(24, int(24*time.Hour/r.BucketSpan))
	}
	if r.hasSeason("day_of_week") {
		used *= 7
	}
	return max(1, ring/used)
}

// anomalyMaxKeys is how many keys the rule keeps a baseline for.
func (r *Rule) anomalyMaxKeys() int {
	per := int(r.BaselineWindow / r.BucketSpan)
	if r.Method == "ewma" {
		per = 3 * r.slots()
	}
	return max(1, MaxAnomalyValues/per)
}

// countLike metrics are 0 over a bucket without documents; the others have
// no value there.
func (r *Rule) countLike() bool {
	switch r.MetricAggType {
	case "count", "sum", "value_count", "cardinality":
		return true
	}
	return false
}

func (r *Rule) spanSeconds() int64 { return int64(r.BucketSpan / time.Second) }

func (r *Rule) floorBucket(t time.Time) int64 {
	s := r.spanSeconds()
	u := t.Unix()
	return u - ((u%s)+s)%s
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// deviationFloor keeps a flat baseline from making every wobble infinite:
// √expected for counts (Poisson noise), 5% of expected otherwise.
func (r *Rule) deviationFloor(expected float64) float64 {
	if r.countLike() {
		return math.Sqrt(math.Max(expected, 1))
	}
	return math.Max(0.05*math.Abs(expected), 1e-9)
}

// baseline is what bucket b of key k is compared with: the expected value,
// the deviation and how many buckets it rests on (0: not enough yet).
func (r *Rule) baseline(k *AnomalyKey, b int64) (expected, sigma float64, n int) {
	slot := r.slot(b)
	if r.Method == "ewma" {
		if len(k.E) < 3*(slot+1) {
			return 0, 0, 0
		}
		m, v, cnt := float64(k.E[3*slot]), float64(k.E[3*slot+1]), int(k.E[3*slot+2])
		if cnt < r.MinBaselineBuckets {
			return 0, 0, 0
		}
		return m, math.Max(math.Sqrt(v), r.deviationFloor(m)), cnt
	}
	span := r.spanSeconds()
	var vals []float64
	for i, v := range k.V {
		t := k.Last - int64(len(k.V)-1-i)*span
		if math.IsNaN(float64(v)) || r.slot(t) != slot {
			continue
		}
		vals = append(vals, float64(v))
	}
	if len(vals) < r.MinBaselineBuckets {
		return 0, 0, 0
	}
	m := median(vals)
	dev := make([]float64, len(vals))
	var sum float64
	for i, v := range vals {
		dev[i] = math.Abs(v - m)
		sum += dev[i]
	}
	mad := median(dev)
	sigma = math.Max(1.4826*mad, 1.2533*sum/float64(len(dev)))
	return m, math.Max(sigma, r.deviationFloor(m)), len(vals)
}

// push adds bucket b's value x to the key's baseline.
func (r *Rule) push(k *AnomalyKey, b int64, x float64) {
	span := r.spanSeconds()
	if r.Method == "ewma" {
		if math.IsNaN(x) {
			k.Last = b
			return
		}
		if len(k.E) == 0 {
			k.E = make([]sample, 3*r.slots())
		}
		s := 3 * r.slot(b)
		m, v, n := float64(k.E[s]), float64(k.E[s+1]), float64(k.E[s+2])
		if n == 0 {
			m, v = x, 0
		} else {
			a := 2 / float64(r.perSlot()+1)
			d := x - m
			m += a * d
			v = (1 - a) * (v + a*d*d)
		}
		k.E[s], k.E[s+1], k.E[s+2] = round6(m), round6(v), sample(min(n+1, float64(r.perSlot())))
		k.Last = b
		return
	}
	ring := int(r.BaselineWindow / r.BucketSpan)
	if len(k.V) > 0 {
		for gap := min((b-k.Last)/span-1, int64(ring)); gap > 0; gap-- {
			k.V = append(k.V, sample(math.NaN()))
		}
	}
	k.V = append(k.V, round6(x))
	if len(k.V) > ring {
		k.V = slices.Clone(k.V[len(k.V)-ring:])
	}
	k.Last = b
}

// anomalyAdvance scores the complete buckets [lo, hi) (Unix seconds) of every
// key, in time order, and adds them to the baselines. vals holds each key's
// buckets that had documents (NaN where the metric had no value); a known
// key's other buckets are empty (0 for counts), a new key starts at its first
// bucket. Both the Go evaluator and the sweep end here.
func (r *Rule) anomalyAdvance(st *State, lo, hi int64, vals map[string]map[int64]float64, emit func(Match)) {
	as := st.Anomaly
	if as.Keys == nil {
		as.Keys = map[string]*AnomalyKey{}
	}
	span := r.spanSeconds()
	keys := slices.Collect(maps.Keys(as.Keys))
	for key := range vals {
		if _, ok := as.Keys[key]; !ok {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		bv := vals[key]
		k := as.Keys[key]
		from := lo
		if k == nil {
			first := int64(math.MaxInt64)
			for b := range bv {
				if b >= lo && b < hi && b < first {
					first = b
				}
			}
			if first == math.MaxInt64 {
				continue
			}
			from = first
			k = &AnomalyKey{Last: first - span, Seen: first}
			as.Keys[key] = k
		} else if k.Last+span > from {
			from = k.Last + span // a bucket is scored once, even when a sweep is retried
		}
		for b := from; b < hi; b += span {
			x, has := bv[b]
			if has {
				k.Seen = b
			} else if r.countLike() {
				x = 0
			} else {
				x = math.NaN()
			}
			if !math.IsNaN(x) {
				if exp, sigma, n := r.baseline(k, b); n > 0 {
					if score := (x - exp) / sigma; r.beyond(score) {
						emit(r.anomalyMatch(key, b, x, exp, score, n))
					}
				}
			}
			r.push(k, b, x)
		}
	}
	// Forget keys silent for a whole baseline_window, then the least recently
	// active beyond the cap.
	horizon := hi - int64(r.BaselineWindow/time.Second)
	for key, k := range as.Keys {
		if k.Seen < horizon {
			delete(as.Keys, key)
		}
	}
	if n := r.anomalyMaxKeys(); len(as.Keys) > n {
		keys := slices.Collect(maps.Keys(as.Keys))
		sort.Slice(keys, func(i, j int) bool {
			a, b := as.Keys[keys[i]], as.Keys[keys[j]]
			if a.Seen != b.Seen {
				return a.Seen > b.Seen
			}
			return keys[i] < keys[j]
		})
		for _, key := range keys[n:] {
			delete(as.Keys, key)
		}
	}
}

// beyond says whether a bucket's score is past threshold in the rule's
// direction: above it (up), below its negative (down), or either (both).
func (r *Rule) beyond(score float64) bool {
	switch r.Direction {
	case "down":
		return score < -r.Threshold
	case "both":
		return math.Abs(score) > r.Threshold
	}
	return score > r.Threshold
}

func (r *Rule) anomalyMatch(key string, b int64, actual, expected, score float64, n int) Match {
	start := time.Unix(b, 0).UTC()
	end := start.Add(r.BucketSpan)
	doc := Event{
		r.TimestampField: end.Format(time.RFC3339Nano),
		"bucket_start":   start.Format(time.RFC3339Nano),
		"actual":         actual,
		"expected":       float64(round6(expected)),
		"score":          math.Round(score*1000) / 1000,
		"baseline_size":  n,
	}
	r.setKeyFields(doc, key)
	return Match{Time: end, Key: key, Fields: doc}
}

// anomalyShape is what a baseline value means: which metric of which key,
// over which buckets, kept how.
func (r *Rule) anomalyShape() string {
	return fmt.Sprintf("%s %s(%s) by %s every %ds over %ds %s", r.Method, r.MetricAggType, r.MetricAggKey,
		strings.Join(r.QueryKey, ","), r.spanSeconds(), int64(r.BaselineWindow/time.Second), strings.Join(r.Seasonality, ","))
}

// anomalyStale says whether st holds baselines of another shape: the rule
// file changed under the sweep workflow, which keeps its state. A state from
// before shapes were recorded is taken as it is.
func (r *Rule) anomalyStale(st *State) bool {
	return st.Anomaly != nil && st.Anomaly.Shape != "" && st.Anomaly.Shape != r.anomalyShape()
}

// anomalyBegin starts a run: on the first run, after the rule's shape
// changed, or after a gap (a sweep that could not reach back to the last
// one's end), the rule's view starts again at start. It returns the first
// bucket the run may score.
func (r *Rule) anomalyBegin(st *State, start time.Time) int64 {
	if st.Anomaly == nil || r.anomalyStale(st) {
		st.Anomaly = &AnomalyState{}
	}
	as := st.Anomaly
	as.Shape = r.anomalyShape()
	if as.Since.IsZero() || (!st.LastRunEnd.IsZero() && start.After(st.LastRunEnd)) {
		as.Since, as.Pending = start, nil
	}
	return max(r.floorBucket(start), r.floorBucket(as.Since)+r.spanSeconds())
}

// evalAnomaly is the Go evaluator: the run's events fill their buckets (the
// one left open by the last run included), the complete ones are scored,
// and the open one waits in Pending.
func (r *Rule) evalAnomaly(c *compiled, st *State, in []timed, runStart, runEnd time.Time, emit func(Match)) {
	lo := r.anomalyBegin(st, runStart)
	hi := r.floorBucket(runEnd)
	as := st.Anomaly
	accs := map[string]map[int64]*anomalyAcc{}
	for key, a := range as.Pending {
		accs[key] = map[int64]*anomalyAcc{a.B: a}
	}
	for _, ev := range in {
		key := c.key(ev.e)
		b := r.floorBucket(ev.t)
		if accs[key] == nil {
			accs[key] = map[int64]*anomalyAcc{}
		}
		a := accs[key][b]
		if a == nil {
			a = &anomalyAcc{B: b}
			accs[key][b] = a
		}
		a.add(r.MetricAggType, c.metric, ev.e)
	}
	vals := map[string]map[int64]float64{}
	as.Pending = nil
	for key, byB := range accs {
		for b, a := range byB {
			switch {
			case b >= hi && b >= lo:
				if as.Pending == nil {
					as.Pending = map[string]*anomalyAcc{}
				}
				as.Pending[key] = a
			case b >= lo:
				if vals[key] == nil {
					vals[key] = map[int64]float64{}
				}
				vals[key][b] = a.value(r.MetricAggType)
			}
		}
	}
	r.anomalyAdvance(st, lo, hi, vals, emit)
}

// anomalySweep is the aggregation side: per key (composite, paged) a
// date_histogram of bucket_span over the complete buckets [floor(start),
// floor(end)), with the metric inside. The bucket still open at end is read
// again, from its start, by the sweep that completes it.
type anomalySweep struct {
	r          *Rule
	start, end time.Time
	lo, hi     int64
	// from is the first bucket read: lo, or baseline_window earlier on a
	// rule's first sweep (seed).
	from    int64
	perPage int // keys a page asked for; 0: as many as maxPageBuckets allows
	comp    composite
	all     bool // no query_key: one "all" bucket
	allDone bool
	vals    map[string]map[int64]float64
}

func (r *Rule) newAnomalySweep(start, end time.Time, keysPerPage int) *anomalySweep {
	a := &anomalySweep{r: r, start: start, end: end, lo: r.floorBucket(start), hi: r.floorBucket(end),
		perPage: keysPerPage, all: len(r.QueryKey) == 0, vals: map[string]map[int64]float64{}}
	a.readFrom(a.lo)
	return a
}

// readFrom sets the first bucket read and the keys a page holds: each key
// brings up to one date_histogram bucket (and its metric) per bucket_span.
func (a *anomalySweep) readFrom(from int64) {
	a.from = from
	size := a.perPage
	if size <= 0 {
		per := 1 + 2*int(max(1, (a.hi-a.from)/a.r.spanSeconds()+1))
		size = max(1, min(maxKeysPerPage, maxPageBuckets/per))
	}
	a.comp = composite{fields: a.r.QueryKey, size: size}
}

// seed makes a rule's first sweep (no baseline in st yet, or one of another
// shape) read the baseline_window before the bucket holding start as well,
// in the same paged date_histogram, so the baselines start full, not empty.
func (a *anomalySweep) seed(st *State) {
	if st.Anomaly != nil && !st.Anomaly.Since.IsZero() && !a.r.anomalyStale(st) {
		return // the rule has swept before: its baselines are in st
	}
	a.readFrom(a.lo - int64(a.r.BaselineWindow/time.Second))
}

func (a *anomalySweep) leaf() map[string]any {
	r := a.r
	hist := map[string]any{"date_histogram": map[string]any{
		"field": r.TimestampField, "fixed_interval": strconv.FormatInt(r.spanSeconds(), 10) + "s", "min_doc_count": 1,
	}}
	if r.MetricAggType != "count" {
		hist["aggs"] = map[string]any{"m": map[string]any{r.MetricAggType: map[string]any{"field": r.MetricAggKey}}}
	}
	return map[string]any{"b": hist}
}

func (a *anomalySweep) next() (Search, bool) {
	if a.from >= a.hi || a.allDone || a.comp.done() {
		return Search{}, false
	}
	r := a.r
	from, to := time.Unix(a.from, 0).UTC(), time.Unix(a.hi, 0).UTC()
	aggs := a.comp.agg(a.leaf())
	if a.all {
		aggs = map[string]any{"all": map[string]any{"filter": map[string]any{"match_all": map[string]any{}}, "aggs": a.leaf()}}
	}
	return r.searchBody(r.IndexFor(from, to), r.rangeClause(map[string]time.Time{"gte": from, "lt": to}), nil, aggs), true
}

func (a *anomalySweep) add(resp map[string]any) error {
	if a.all {
		a.allDone = true
		all, ok := mapOf(resp["aggregations"])["all"].(map[string]any)
		if !ok {
			if shards, _ := number(mapOf(resp["_shards"])["total"]); shards == 0 {
				return nil
			}
			return fmt.Errorf("rule %s: response has no \"all\" aggregation", a.r.Name)
		}
		return a.addLeaf("", all)
	}
	page, err := a.comp.add(a.r.Name, resp)
	for _, b := range page {
		if err == nil {
			err = a.addLeaf(b.key(), b.leaf)
		}
	}
	return err
}

func (a *anomalySweep) addLeaf(key string, leaf map[string]any) error {
	list, _ := mapOf(leaf["b"])["buckets"].([]any)
	for _, x := range list {
		m := mapOf(x)
		ms, ok := number(m["key"])
		if !ok {
			return fmt.Errorf("rule %s: date_histogram bucket without a key", a.r.Name)
		}
		docs, _ := number(m["doc_count"])
		if docs == 0 {
			continue
		}
		v := docs
		if a.r.MetricAggType != "count" {
			if v, ok = number(m["m"]); !ok {
				v = math.NaN()
			}
		}
		if a.vals[key] == nil {
			a.vals[key] = map[int64]float64{}
		}
		a.vals[key][int64(ms)/1000] = v
	}
	return nil
}

func (a *anomalySweep) keys() int { return len(a.vals) }

func (a *anomalySweep) matches(st *State) ([]Match, error) {
	r := a.r
	if a.from < a.hi && !a.allDone && !a.comp.done() {
		return nil, fmt.Errorf("rule %s: sweep has pages left", r.Name)
	}
	var out []Match
	emit := func(m Match) {
		if !r.silenced(st, m) {
			out = append(out, m)
		}
	}
	if a.from < a.lo {
		// Seeding: the history before the bucket holding start fills the
		// baselines, unscored; then the view starts at start, as on any
		// first sweep (that bucket is left out, as the Go evaluator does).
		st.Anomaly = &AnomalyState{Since: time.Unix(a.from-r.spanSeconds(), 0).UTC(), Shape: r.anomalyShape()}
		r.anomalyAdvance(st, a.from, a.lo, a.vals, func(Match) {})
		st.Anomaly.Since = a.start
	}
	lo := r.anomalyBegin(st, a.start)
	// The sweep never carries an open bucket: it reads it again next time.
	st.Anomaly.Pending = nil
	r.anomalyAdvance(st, lo, a.hi, a.vals, emit)
	st.LastRunEnd = a.end
	return out, nil
}
