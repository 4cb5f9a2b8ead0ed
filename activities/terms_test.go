package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/rules"
)

const termsMapping = `{"@timestamp":{"type":"date"},"user":{"type":"keyword"},"host":{"type":"keyword"}}`

func userEvent(t time.Time, user string) rules.Event {
	return rules.Event{"@timestamp": t.Format(time.RFC3339Nano), "user": user, "host": "h1"}
}

// termsRule is a new_term rule on user over index, named after it (the
// vocabulary in activities.TermsIndex is per rule name).
func termsRule(t *testing.T, index, extra string) *rules.Rule {
	return mustRule(t, fmt.Sprintf("name: %s\ntype: new_term\nindex: %s\nrealert: {minutes: 0}\nfields: [user]\nuse_keyword_postfix: false\nbuffer_time: {minutes: 1}\n%s", index, index, extra))
}

// vocabularySize counts a rule's term documents in activities.TermsIndex.
func vocabularySize(t *testing.T, c *opensearchgo.Client, rule string) int {
	t.Helper()
	res, err := c.Indices.Refresh(c.Indices.Refresh.WithIndex(activities.TermsIndex))
	mustOK(t, res, err)
	q := fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"rule":%q}},{"exists":{"field":"field"}}]}}}`, rule)
	res, err = c.Count(c.Count.WithIndex(activities.TermsIndex), c.Count.WithBody(strings.NewReader(q)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Count int }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.IsError() {
		t.Fatalf("count %s: %v", res.Status(), err)
	}
	return out.Count
}

func matchedUsers(ms []rules.Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%v@%s", m.Fields["user"], m.Time.Format("15:04:05")))
	}
	return out
}

func roundTripState(t *testing.T, st rules.State) (rules.State, int) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out rules.State
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out, len(b)
}

// TestNewTermSeedsInStepsPastMaxBuckets: with search.max_buckets lowered
// below one day's distinct terms, the one-request seed query fails, and
// seeding in window_step_size steps of composite pages (200 terms a page here)
// still learns every term. The sweep then agrees with the Go evaluator seeded
// from the same history, and the state it returns holds no terms.
func TestNewTermSeedsInStepsPastMaxBuckets(t *testing.T) {
	activities.SetTermsBatch(t, 200)
	start := base
	day := 24 * time.Hour
	var history []rules.Event
	add := func(from time.Time, lo, hi int) {
		for i := lo; i < hi; i++ {
			history = append(history, userEvent(from.Add(time.Duration(i)*time.Second), fmt.Sprintf("u%d", i)))
		}
	}
	add(start.Add(-3*day), 0, 1500)    // more terms than max_buckets in one step
	add(start.Add(-2*day), 1000, 2000) // 500 seen the day before: written once
	add(start.Add(-day), 2000, 2100)
	swept := []rules.Event{
		userEvent(start.Add(5*time.Second), "u5"),
		userEvent(start.Add(10*time.Second), "new-a"),
		userEvent(start.Add(20*time.Second), "u2050"),
		userEvent(start.Add(30*time.Second), "new-a"),
		userEvent(start.Add(40*time.Second), "new-b"),
	}
	old := userEvent(start.Add(-3*day-time.Hour), "too-old") // before terms_window_size: new
	client, index := mustIndex(t, termsMapping, append(append(append([]rules.Event{}, history...), old), append(swept, userEvent(start.Add(50*time.Second), "too-old"))...))
	r := termsRule(t, index, "terms_window_size: {days: 3}\nwindow_step_size: {days: 1}\n")

	res, err := client.Cluster.PutSettings(strings.NewReader(`{"transient":{"search.max_buckets":1000}}`))
	mustOK(t, res, err)
	t.Cleanup(func() {
		res, err := client.Cluster.PutSettings(strings.NewReader(`{"transient":{"search.max_buckets":null}}`))
		mustOK(t, res, err)
	})
	// The request seeding replaced: one terms aggregation of every term in
	// terms_window_size, as ElastAlert2 sends per step.
	body := []byte(`{"size": 0, "query": {"range": {"@timestamp": {"gte": "` + start.Add(-r.TermsWindowSize).Format(time.RFC3339) +
		`", "lt": "` + start.Format(time.RFC3339) + `"}}}, "aggs": {"values": {"terms": {"field": "user", "size": 2147483647}}}}`)
	res, err = client.Search(client.Search.WithIndex(index), client.Search.WithBody(strings.NewReader(string(body))))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "too_many_buckets") {
		t.Fatalf("one-request seed query answered %s %.300s with max_buckets 1000; the test proves nothing", res.Status(), b)
	}

	st := &rules.State{}
	sres, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, st, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(matchedUsers(ms)); got != "[new-a@12:00:10 new-b@12:00:40 too-old@12:00:50]" {
		t.Fatalf("matches %s", got)
	}
	if n := vocabularySize(t, client, r.Name); n != 2100+3 {
		t.Fatalf("vocabulary holds %d terms, want 2100 seeded + 3 new", n)
	}
	// The reference: ElastAlert2's in-memory seen_values, seeded from the same history.
	ref := &rules.State{}
	r.SeedTerms(ref, history)
	want, err := r.Evaluate(ref, append(swept, userEvent(start.Add(50*time.Second), "too-old")), start, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(matchedUsers(ms), matchedUsers(want)) {
		t.Fatalf("sweep %v, evaluator %v", matchedUsers(ms), matchedUsers(want))
	}
	// No terms in the state: only the sweep's few processed document ids
	// (late documents, about 60 bytes each) besides the run's end.
	if _, n := roundTripState(t, *st); st.Terms != nil || n > 200+60*len(st.Processed) {
		t.Fatalf("state is %d bytes with %d term fields and %d processed ids", n, len(st.Terms), len(st.Processed))
	}
	t.Logf("seed and sweep: %d requests, %d bytes read", sres.Queries, sres.Bytes)
}

// TestNewTermFirstSeenMidWindowOnce: a term first seen in the middle of the
// sweeps is new exactly once, though it recurs, across a worker restart (new
// client, state through JSON) and a retried sweep whose first result was lost.
func TestNewTermFirstSeenMidWindowOnce(t *testing.T) {
	start := base
	events := []rules.Event{
		userEvent(start.Add(-2*time.Hour), "a"),
		userEvent(start.Add(-time.Hour), "b"),
		userEvent(start.Add(30*time.Second), "a"),             // sweep 1
		userEvent(start.Add(time.Minute+10*time.Second), "b"), // sweep 2
		userEvent(start.Add(time.Minute+20*time.Second), "x"), // sweep 2: new
		userEvent(start.Add(time.Minute+50*time.Second), "x"),
		userEvent(start.Add(2*time.Minute+5*time.Second), "x"), // sweep 3
		userEvent(start.Add(3*time.Minute+5*time.Second), "x"), // sweep 4
		userEvent(start.Add(3*time.Minute+6*time.Second), "y"), // sweep 4: new
	}
	_, index := mustIndex(t, termsMapping, events)
	r := termsRule(t, index, "terms_window_size: {days: 1}\n")
	url := testenv.OpenSearch(t).URL()
	sweep := func(st rules.State, k int) (rules.State, []string) {
		t.Helper()
		// A new client each time: the worker restarted between sweeps.
		c, err := activities.NewSearchClient(url)
		if err != nil {
			t.Fatal(err)
		}
		st, _ = roundTripState(t, st)
		_, ms, err := (&activities.Search{Client: c}).Sweep(context.Background(), r, &st, start.Add(time.Duration(k)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return st, matchedUsers(ms)
	}
	var all []string
	st := rules.State{}
	st, ms := sweep(st, 1) // seeds (start−1m−1d, start], sweeps (start, start+1m]
	all = append(all, ms...)
	lost, ms := sweep(st, 2)
	if fmt.Sprint(ms) != "[x@12:01:20]" {
		t.Fatalf("sweep 2: %v", ms)
	}
	_ = lost // the result never reached the workflow: Temporal retries with st
	st, ms = sweep(st, 2)
	if fmt.Sprint(ms) != "[x@12:01:20]" {
		t.Fatalf("sweep 2 retried: %v, want x again (its first result was lost)", ms)
	}
	all = append(all, ms...)
	for k := 3; k <= 4; k++ {
		st, ms = sweep(st, k)
		all = append(all, ms...)
	}
	if fmt.Sprint(all) != "[x@12:01:20 y@12:03:06]" {
		t.Fatalf("matches over four sweeps: %v", all)
	}
	if st.Terms != nil {
		t.Fatalf("state carries terms %v", st.Terms)
	}
}

// TestNewTermMovesStateTerms: a state written before the vocabulary moved
// out of it (State.Terms, as old histories and continue-as-new inputs hold)
// still decodes, its terms stay known, and the next state no longer carries them.
func TestNewTermMovesStateTerms(t *testing.T) {
	start := base
	client, index := mustIndex(t, termsMapping, []rules.Event{
		userEvent(start.Add(10*time.Second), "a"),
		userEvent(start.Add(20*time.Second), "c"),
		userEvent(start.Add(70*time.Second), "b"),
		userEvent(start.Add(80*time.Second), "c"),
		userEvent(start.Add(90*time.Second), "d"),
	})
	r := termsRule(t, index, "")
	var st rules.State
	if err := json.Unmarshal([]byte(`{"last_run_end":"2024-03-01T12:00:00Z","terms":{"user":{"a":true,"b":true}}}`), &st); err != nil {
		t.Fatal(err)
	}
	s := &activities.Search{Client: client}
	_, ms, err := s.Sweep(context.Background(), r, &st, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(matchedUsers(ms)) != "[c@12:00:20]" || st.Terms != nil {
		t.Fatalf("first sweep: %v, state terms %v", matchedUsers(ms), st.Terms)
	}
	st, _ = roundTripState(t, st)
	if _, ms, err = s.Sweep(context.Background(), r, &st, start.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(matchedUsers(ms)) != "[d@12:01:30]" {
		t.Fatalf("second sweep: %v, want only d", matchedUsers(ms))
	}
	if n := vocabularySize(t, client, r.Name); n != 4 {
		t.Fatalf("vocabulary holds %d terms, want a b c d", n)
	}
}

// failAfter fails every request after the first n _search requests, like a
// seeding attempt that ran out of time.
type failAfter struct {
	n        int64
	searches atomic.Int64
}

func (f *failAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/_search") && f.searches.Add(1) > f.n {
		return nil, errors.New("attempt timed out")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestNewTermSeedingResumes: an attempt that fails part-way through seeding
// leaves its finished steps in the vocabulary; the retried attempt (same
// start) resumes after them and asks only for the remaining steps.
func TestNewTermSeedingResumes(t *testing.T) {
	start := base
	var events []rules.Event
	for d := range 4 {
		for i := range 30 {
			events = append(events, userEvent(start.Add(-time.Duration(4-d)*24*time.Hour+time.Duration(i)*time.Minute), fmt.Sprintf("d%d-u%d", d, i)))
		}
	}
	events = append(events, userEvent(start.Add(10*time.Second), "d0-u1"), userEvent(start.Add(20*time.Second), "new"),
		userEvent(start.Add(24*time.Hour-30*time.Second), "d0-u2"), userEvent(start.Add(24*time.Hour-20*time.Second), "d1-u2"))
	_, index := mustIndex(t, termsMapping, events)
	r := termsRule(t, index, "terms_window_size: {days: 4}\n")
	url := testenv.OpenSearch(t).URL()
	client := func(rt http.RoundTripper) *opensearchgo.Client {
		c, err := opensearchgo.NewClient(opensearchgo.Config{Addresses: []string{url}, Transport: rt})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	st := rules.State{}
	// Steps are one page each: fail on the third step's page.
	failing := &failAfter{n: 2}
	if _, _, err := (&activities.Search{Client: client(failing)}).Sweep(context.Background(), r, &st, start.Add(time.Minute)); err == nil {
		t.Fatal("first attempt did not fail")
	}
	if n := vocabularySize(t, client(nil), r.Name); n != 60 {
		t.Fatalf("after the failed attempt the vocabulary holds %d terms, want the first two days' 60", n)
	}
	// The retried attempt resumes at the third step and fails in the fourth.
	st = rules.State{}
	failing = &failAfter{n: 1}
	if _, _, err := (&activities.Search{Client: client(failing)}).Sweep(context.Background(), r, &st, start.Add(time.Minute)); err == nil {
		t.Fatal("second attempt did not fail")
	}
	if n := vocabularySize(t, client(nil), r.Name); n != 90 {
		t.Fatalf("after the second attempt the vocabulary holds %d terms, want three days' 90", n)
	}
	// The sweep was dropped; the next kick, four minutes later, resumes the
	// seeding at the step holding its last day.
	st = rules.State{}
	counting := &failAfter{n: 1 << 30}
	_, ms, err := (&activities.Search{Client: client(counting)}).Sweep(context.Background(), r, &st, start.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := counting.searches.Load(); got != 3 {
		t.Fatalf("the next kick sent %d searches, want 3 (two steps and the sweep)", got)
	}
	if len(ms) != 0 {
		t.Fatalf("matches %v", matchedUsers(ms))
	}
	if n := vocabularySize(t, client(nil), r.Name); n != 121 {
		t.Fatalf("vocabulary holds %d terms, want 120 seeded + new", n)
	}
	// A fresh state with a later start is a new life of the sweep workflow:
	// the vocabulary starts over from terms_window_size, as ElastAlert2 does,
	// so a day-0 term is new again and a day-1 term is not.
	st = rules.State{}
	if _, ms, err = (&activities.Search{Client: client(nil)}).Sweep(context.Background(), r, &st, start.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(matchedUsers(ms)) != "[d0-u2@11:59:30]" {
		t.Fatalf("new life: matches %v, want only d0-u2", matchedUsers(ms))
	}
}

// TestNewTermStateStaysSmallAt200kTerms: a field with 200k distinct terms in
// its history seeds into TermsIndex, and the state the sweep hands back to
// the workflow stays a few hundred bytes (in State.Terms it would be several
// MB, past Temporal's 2 MB payload limit).
func TestNewTermStateStaysSmallAt200kTerms(t *testing.T) {
	if testing.Short() {
		t.Skip("indexes 200k documents")
	}
	const n = 200_000
	start := base
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-newterm-200k-%d", time.Now().UnixNano())
	res, err := client.Indices.Create(index, client.Indices.Create.WithBody(strings.NewReader(
		`{"settings":{"refresh_interval":"-1"},"mappings":{"properties":`+termsMapping+`}}`)))
	mustOK(t, res, err)
	t.Cleanup(func() { _, _ = client.Indices.Delete([]string{index}) })
	history := make([]rules.Event, 0, n)
	for i := range n {
		// Spread over 10 days, so seeding takes 30 steps of up to 5000-term pages.
		history = append(history, userEvent(start.Add(-10*24*time.Hour+time.Duration(i)*4*time.Second), fmt.Sprintf("user-%07d", i)))
	}
	began := time.Now()
	for i := 0; i < n; i += 10_000 {
		var b strings.Builder
		for _, e := range history[i:min(i+10_000, n)] {
			doc, _ := json.Marshal(e)
			fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
		}
		res, err := client.Bulk(strings.NewReader(b.String()), client.Bulk.WithIndex(index))
		mustOK(t, res, err)
	}
	res, err = client.Indices.Refresh(client.Indices.Refresh.WithIndex(index))
	mustOK(t, res, err)
	res, err = client.Bulk(strings.NewReader(`{"index":{}}`+"\n"+`{"@timestamp":"`+start.Add(30*time.Second).Format(time.RFC3339)+`","user":"user-new"}`+"\n"+
		`{"index":{}}`+"\n"+`{"@timestamp":"`+start.Add(40*time.Second).Format(time.RFC3339)+`","user":"user-0001234"}`+"\n"),
		client.Bulk.WithIndex(index), client.Bulk.WithRefresh("true"))
	mustOK(t, res, err)
	t.Logf("indexed %d events in %s", n, time.Since(began).Round(time.Millisecond))

	r := termsRule(t, index, "")
	st := &rules.State{}
	began = time.Now()
	sres, ms, err := (&activities.Search{Client: client}).Sweep(context.Background(), r, st, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	seed := time.Since(began)
	if fmt.Sprint(matchedUsers(ms)) != "[user-new@12:00:30]" {
		t.Fatalf("matches %v", matchedUsers(ms))
	}
	_, size := roundTripState(t, *st)
	if size > 512 {
		t.Fatalf("state is %d bytes", size)
	}
	if got := vocabularySize(t, client, r.Name); got != n+1 {
		t.Fatalf("vocabulary holds %d terms, want %d", got, n+1)
	}
	// What the state would weigh with the terms inside it.
	ref := &rules.State{}
	r.SeedTerms(ref, history)
	inState, _ := json.Marshal(ref)
	t.Logf("first sweep with seeding: %s, %d requests, %d bytes read; state %d bytes (in State.Terms: %d bytes)",
		seed.Round(time.Millisecond), sres.Queries, sres.Bytes, size, len(inState))
}
