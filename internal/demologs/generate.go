// Package demologs generates realistic, deterministic demo logs for irflow's dev
// mode and tests: application logs (uc-be-*), front-end logs (us-fe-*) and AWS WAF
// logs (waf-logs-*), with incident scenarios (a 5xx spike, a WAF SQLi burst, a login
// brute force, a slow key route) that play in turn every few minutes.
//
// Output is a pure function of the seed and the time: every second of traffic is
// drawn from its own generator, so generating [a,c) yields exactly the documents of
// [a,b) followed by those of [b,c). The live Feeder relies on that.
package demologs

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Index name prefixes; the date suffix is the event's UTC day (uc-be-2026.11.22).
const (
	AppIndexPrefix      = "uc-be-"
	FrontendIndexPrefix = "us-fe-"
	WAFIndexPrefix      = "waf-logs-"
)

// Doc is one log event: the index it belongs in, a stable ID and its JSON source.
type Doc struct {
	Index string
	// ID is derived from the seed, the second and the event's rank in it, so
	// indexing a range twice (a retried bulk, a dev restart) overwrites, not duplicates.
	ID     string
	Time   time.Time
	Source map[string]any
}

// Options tune the generated traffic. Zero values take the defaults.
type Options struct {
	AppPerSecond      float64 // default 5
	FrontendPerSecond float64 // default 2
	WAFPerSecond      float64 // default 3
	// ScenarioEvery is the period at which a scenario starts; default 5m, negative disables.
	ScenarioEvery time.Duration
	// ScenarioLength is how long each scenario lasts; default 90s (capped at ScenarioEvery).
	ScenarioLength time.Duration
	// Scenarios play in this order, one per period; default AllScenarios.
	Scenarios []ScenarioKind
}

func (o Options) withDefaults() Options {
	if o.AppPerSecond == 0 {
		o.AppPerSecond = 5
	}
	if o.FrontendPerSecond == 0 {
		o.FrontendPerSecond = 2
	}
	if o.WAFPerSecond == 0 {
		o.WAFPerSecond = 3
	}
	if o.ScenarioEvery == 0 {
		o.ScenarioEvery = 5 * time.Minute
	}
	if o.ScenarioLength == 0 {
		o.ScenarioLength = 90 * time.Second
	}
	if o.ScenarioLength > o.ScenarioEvery && o.ScenarioEvery > 0 {
		o.ScenarioLength = o.ScenarioEvery
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios
	}
	return o
}

// Generate yields the documents with from <= @timestamp < to in time order.
// Time is truncated to whole seconds.
func Generate(seed int64, from, to time.Time, opts Options) iter.Seq[Doc] {
	o := opts.withDefaults()
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	return func(yield func(Doc) bool) {
		var batch []Doc
		for sec := from; sec.Before(to); sec = sec.Add(time.Second) {
			batch = generateSecond(seed, sec, o, batch[:0])
			for _, d := range batch {
				if !yield(d) {
					return
				}
			}
		}
	}
}

// generateSecond appends one second of traffic, baseline plus any active scenario.
func generateSecond(seed int64, sec time.Time, o Options, out []Doc) []Doc {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(sec.Unix())))
	for range poisson(rng, o.AppPerSecond) {
		out = append(out, appDoc(rng, at(rng, sec), nil))
	}
	for range poisson(rng, o.FrontendPerSecond) {
		out = append(out, frontendDoc(rng, at(rng, sec)))
	}
	for range poisson(rng, o.WAFPerSecond) {
		out = append(out, wafDoc(rng, at(rng, sec), nil))
	}
	if sc, ok := activeScenario(seed, sec, o); ok {
		out = sc.play(rng, sec, out)
	}
	slices.SortStableFunc(out, func(a, b Doc) int { return a.Time.Compare(b.Time) })
	for i := range out {
		out[i].ID = fmt.Sprintf("demo-%d-%d-%d", seed, sec.Unix(), i)
	}
	return out
}

// at is a random instant within the second, at millisecond resolution.
func at(rng *rand.Rand, sec time.Time) time.Time {
	return sec.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
}

// poisson draws an event count with mean lambda (Knuth; lambda is small here).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// weighted picks xs[i] with probability w[i]/sum(w).
func weighted[T any](rng *rand.Rand, xs []T, w []int) T {
	total := 0
	for _, x := range w {
		total += x
	}
	n := rng.IntN(total)
	for i, x := range w {
		if n < x {
			return xs[i]
		}
		n -= x
	}
	return xs[len(xs)-1]
}

func indexName(prefix string, t time.Time) string {
	return prefix + t.UTC().Format("2006.01.02")
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// WriteNDJSON writes each document's source as one JSON line, with its index in an
// "_index" field so NDJSON consumers (starter rules test) can match index patterns.
func WriteNDJSON(w io.Writer, docs iter.Seq[Doc]) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for d := range docs {
		line := make(map[string]any, len(d.Source)+1)
		for k, v := range d.Source {
			line[k] = v
		}
		line["_index"] = d.Index
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("write ndjson: %w", err)
		}
	}
	return nil
}

// WriteBulk writes documents as an OpenSearch _bulk request body and returns how many.
func WriteBulk(w io.Writer, docs iter.Seq[Doc]) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	for d := range docs {
		if err := writeBulkDoc(enc, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func writeBulkDoc(enc *json.Encoder, d Doc) error {
	if err := enc.Encode(map[string]any{"index": map[string]string{"_index": d.Index, "_id": d.ID}}); err != nil {
		return fmt.Errorf("write bulk: %w", err)
	}
	if err := enc.Encode(d.Source); err != nil {
		return fmt.Errorf("write bulk: %w", err)
	}
	return nil
}
