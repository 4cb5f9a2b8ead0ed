// Package anomalydata generates the planted-anomaly event set that the
// anomaly rule type is held to (tests and `make bench`): per-key request
// counts with a daily pattern and Poisson noise, with spikes, steps and slow
// drifts planted on some keys (the truth), and nightly batch peaks on others
// that are seasonal and must not alert.
package anomalydata

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"

	"github.com/irflow/irflow/rules"
)

// Anomaly is one planted anomaly: key and the span in which an alert for it
// is right.
type Anomaly struct {
	Kind     string    `json:"kind"` // spike, step, drift
	Key      string    `json:"key"`
	From, To time.Time `json:"-"`
}

// Set is a generated event set and its truth.
type Set struct {
	Events []rules.Event
	Truth  []Anomaly
	Start  time.Time
	Span   time.Duration // the generator's bucket: counts are drawn per span
}

// Config sizes a set. Anomalies sit in the last half, so a baseline of up
// to Days/2 is full when they start.
type Config struct {
	Seed  int64
	Days  int
	Span  time.Duration // bucket of the generator (the rule's bucket_span)
	Rate  float64       // mean events per key and bucket at the daily mean
	Quiet int           // keys with the daily pattern only
	Batch int           // keys with a nightly batch (8x from 02:00 to 03:00): seasonal, must not alert
	Spike int           // keys with one bucket at 5x
	Step  int           // keys whose level goes to 2.5x and stays
	Drift int           // keys ramping from 1x to 4x over a day, then staying
}

// Start is the first instant of every set (a Monday, UTC).
var Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Generate builds the set: events with @timestamp and ns (the key), sorted.
func Generate(c Config) Set {
	rng := rand.New(rand.NewSource(c.Seed))
	set := Set{Start: Start, Span: c.Span}
	buckets := int(time.Duration(c.Days) * 24 * time.Hour / c.Span)
	half := buckets / 2
	type plan struct {
		key      string
		kind     string
		at       int // bucket the anomaly starts at
		batchKey bool
	}
	var plans []plan
	n := 0
	add := func(kind string, count int) {
		for range count {
			p := plan{key: fmt.Sprintf("ns%02d", n), kind: kind}
			n++
			// Somewhere in the last half, at least a day before the end.
			p.at = half + rng.Intn(max(1, buckets-half-int(24*time.Hour/c.Span)))
			plans = append(plans, p)
		}
	}
	add("quiet", c.Quiet)
	add("batch", c.Batch)
	add("spike", c.Spike)
	add("step", c.Step)
	add("drift", c.Drift)
	day := int(24 * time.Hour / c.Span)
	for _, p := range plans {
		from := Start.Add(time.Duration(p.at) * c.Span)
		switch p.kind {
		case "spike":
			set.Truth = append(set.Truth, Anomaly{Kind: p.kind, Key: p.key, From: from, To: from.Add(c.Span)})
		case "step", "drift":
			set.Truth = append(set.Truth, Anomaly{Kind: p.kind, Key: p.key, From: from, To: Start.Add(time.Duration(buckets) * c.Span)})
		}
		phase := rng.Float64() * 2 // hours of shift of the daily peak per key
		for b := range buckets {
			t := Start.Add(time.Duration(b) * c.Span)
			hour := float64(t.Hour()) + float64(t.Minute())/60
			lambda := c.Rate * (1 + 0.8*math.Sin(2*math.Pi*(hour-8-phase)/24))
			switch {
			case p.kind == "batch" && t.Hour() == 2:
				lambda *= 8
			case p.kind == "spike" && b == p.at:
				lambda *= 5
			case p.kind == "step" && b >= p.at:
				lambda *= 2.5
			case p.kind == "drift" && b >= p.at:
				lambda *= 1 + 3*math.Min(1, float64(b-p.at)/float64(day))
			}
			for range poisson(rng, lambda) {
				at := t.Add(time.Duration(rng.Int63n(int64(c.Span/time.Millisecond))) * time.Millisecond)
				set.Events = append(set.Events, rules.Event{"@timestamp": at.Format(time.RFC3339Nano), "ns": p.key, "status": 500})
			}
		}
	}
	sort.SliceStable(set.Events, func(i, j int) bool {
		return set.Events[i]["@timestamp"].(string) < set.Events[j]["@timestamp"].(string)
	})
	return set
}

func poisson(rng *rand.Rand, lambda float64) int {
	if lambda > 50 {
		return max(0, int(math.Round(rng.NormFloat64()*math.Sqrt(lambda)+lambda)))
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

// Score is precision and recall of matches against the truth: a match is
// right when its key has a planted anomaly whose span holds the match's
// bucket; an anomaly is found when at least one match is right for it.
type Score struct {
	Matches   int     `json:"matches"`
	Right     int     `json:"right"`
	Planted   int     `json:"planted"`
	Found     int     `json:"found"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Missed lists the planted anomalies no match found, as kind/key.
	Missed []string `json:"missed,omitempty"`
}

// Evaluate scores matches. slack widens each span at its end (a rule whose
// match time is its window's end, as anomaly stamps the bucket end).
func (s Set) Evaluate(ms []rules.Match, slack time.Duration) Score {
	sc := Score{Matches: len(ms), Planted: len(s.Truth)}
	found := make([]bool, len(s.Truth))
	for _, m := range ms {
		right := false
		for i, a := range s.Truth {
			if a.Key == m.Key && !m.Time.Before(a.From) && !m.Time.After(a.To.Add(slack)) {
				right, found[i] = true, true
			}
		}
		if right {
			sc.Right++
		}
	}
	for i, f := range found {
		if f {
			sc.Found++
		} else {
			sc.Missed = append(sc.Missed, s.Truth[i].Kind+"/"+s.Truth[i].Key)
		}
	}
	sc.Precision, sc.Recall = 1, 1
	if sc.Matches > 0 {
		sc.Precision = float64(sc.Right) / float64(sc.Matches)
	}
	if sc.Planted > 0 {
		sc.Recall = float64(sc.Found) / float64(sc.Planted)
	}
	return sc
}
