package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// A new_term rule's known terms (its vocabulary) live in the OpenSearch index
// TermsIndex, one document per (rule, field, term), not in rules.State: a 1M-term
// field would be tens of MB in every sweep's payload (Temporal's limit is 2 MB).
// The state only says whether the rule was seeded (LastRunEnd is set after the
// first sweep). Each document holds first_seen, the time of the term's first
// event (for seeded terms, the start of the seeding step that found it): a
// term is known to a sweep when first_seen is at or before the sweep's start.
// A term that an earlier attempt of the same sweep wrote (first_seen inside
// the window) is therefore new again when the attempt is retried, so a sweep
// whose result was lost still alerts. A seed marker document per rule holds
// the start of the last seeding's window: terms first seen before it belong to
// an earlier life of the rule's sweep workflow and are not known (ElastAlert2
// too forgets all but terms_window_size when a rule starts). They are left in
// place rather than deleted, as delete_by_query needs the reindex module.

// TermsIndex is the index holding new_term vocabularies.
const TermsIndex = "irflow-terms"

// termsBatch is the composite page size while seeding and the number of terms
// per _mget and _bulk request; well under the default search.max_buckets
// (65,535). A variable so tests can prove paging with a few thousand terms.
var termsBatch = 5000

const termsMapping = `{
  "settings": {"index": {"number_of_shards": 1}},
  "mappings": {"dynamic": false, "properties": {
    "rule": {"type": "keyword"},
    "field": {"type": "keyword"},
    "first_seen": {"type": "date"}
  }}
}`

// termDoc is one known term. The term itself is kept in _source only: the _id
// (a hash of rule, field and term) is what lookups use.
type termDoc struct {
	Rule      string    `json:"rule"`
	Field     string    `json:"field"`
	Term      string    `json:"term"`
	FirstSeen time.Time `json:"first_seen"`
}

// seedMarker records a rule's last seeding: the window [From, End) and how
// far it got, so an attempt that timed out resumes at the next step instead of
// starting over. Done is the end of the last step written; seeding is complete
// when Done equals End. Terms first seen before From are not known.
type seedMarker struct {
	Rule string    `json:"rule"`
	From time.Time `json:"seed_from"`
	End  time.Time `json:"seed_end"`
	Done time.Time `json:"seed_done"`
}

func termID(rule, field, value string) string {
	h := sha256.Sum256([]byte(rule + "\x00" + field + "\x00" + value))
	return hex.EncodeToString(h[:16])
}

func seedMarkerID(rule string) string {
	h := sha256.Sum256([]byte(rule + "\x00seed"))
	return hex.EncodeToString(h[:16])
}

// seedTerms prepares a new_term rule's vocabulary before a sweep from start:
// a state that still carries known terms (written before the vocabulary moved
// to TermsIndex) has them moved there; a rule's first sweep loads the terms of
// terms_window_size before start, as ElastAlert2 does before a rule's first run.
func (s *Search) seedTerms(ctx context.Context, r *rules.Rule, st *rules.State, start time.Time, res *SweepResult) error {
	switch {
	case len(st.Terms) > 0:
		if err := s.migrateTerms(ctx, r, st, start, res); err != nil {
			return fmt.Errorf("rule %s: move known terms to %s: %w", r.Name, TermsIndex, err)
		}
	case st.LastRunEnd.IsZero():
		if err := s.seedVocabulary(ctx, r, start, res); err != nil {
			return fmt.Errorf("rule %s: seed terms: %w", r.Name, err)
		}
	}
	return nil
}

// migrateTerms writes the state's known terms to TermsIndex as known before
// start and empties st.Terms. The old state stays in the workflow until the
// sweep succeeds, so a failed attempt simply moves them again.
func (s *Search) migrateTerms(ctx context.Context, r *rules.Rule, st *rules.State, start time.Time, res *SweepResult) error {
	if err := s.ensureTermsIndex(ctx, res); err != nil {
		return err
	}
	w := s.termWriter(ctx, r.Name, res)
	for field, known := range st.Terms {
		for v := range known {
			if err := w.add(field, v, start); err != nil {
				return err
			}
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	st.Terms = nil
	return nil
}

// seedVocabulary loads the terms of terms_window_size before start into
// TermsIndex in window_step_size steps, each paged with a composite
// aggregation, so no request asks for more than termsBatch buckets. A seeding
// that an earlier attempt began resumes after its last finished step, so a
// vocabulary too big for one attempt's time still gets seeded over several.
func (s *Search) seedVocabulary(ctx context.Context, r *rules.Rule, start time.Time, res *SweepResult) error {
	if err := s.ensureTermsIndex(ctx, res); err != nil {
		return err
	}
	var m seedMarker
	found, err := s.getDoc(ctx, seedMarkerID(r.Name), &m, res)
	if err != nil {
		return err
	}
	steps := r.TermsSeedSteps(start)
	from := start
	if len(steps) > 0 {
		from = steps[0].From
	}
	switch {
	case found && m.End.Equal(start) && m.From.Equal(from):
		// A retried attempt of this sweep: resume.
	case found && m.Done.Before(m.End) && !m.End.After(start) && !m.From.After(from):
		// An unfinished seeding of an earlier kick whose sweep was dropped
		// (each attempt ran out of time): resume it, extended to start.
		m.End = start
		if err := s.putDoc(ctx, seedMarkerID(r.Name), m, res); err != nil {
			return err
		}
	default:
		// The rule's first seeding, or a new life of its sweep workflow.
		m = seedMarker{Rule: r.Name, From: from, End: start}
		if err := s.putDoc(ctx, seedMarkerID(r.Name), m, res); err != nil {
			return err
		}
	}
	fields := r.TermsFieldNames()
	w := s.termWriter(ctx, r.Name, res)
	// A term present on every day of the window is written once, not per step.
	w.seen = map[string]struct{}{}
	for _, step := range steps {
		if !step.To.After(m.Done) {
			continue
		}
		for i, field := range fields {
			var after map[string]any
			for {
				var resp map[string]any
				if err := s.search(ctx, r.TermsSeedPage(i, step, after, termsBatch), &resp, res); err != nil {
					return err
				}
				values, next, err := r.TermsFromSeedPage(i, resp, termsBatch)
				if err != nil {
					return err
				}
				for _, v := range values {
					// Known before start: first_seen is the step's start.
					if err := w.add(field, v, step.From); err != nil {
						return err
					}
				}
				if next == nil {
					break
				}
				after = next
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		m.Done = step.To
		if err := s.putDoc(ctx, seedMarkerID(r.Name), m, res); err != nil {
			return err
		}
	}
	return nil
}

// evaluateHits evaluates a document sweep's hits: new_term against the
// rule's vocabulary in TermsIndex (recording the sweep's new terms there),
// every other type with rules.EvaluateHits.
// Terms are known when first seen at or before knownAt: the end of what
// earlier sweeps processed (a document sweep re-reads buffer_time for late
// documents, so its start lies further back).
func (s *Search) evaluateHits(ctx context.Context, r *rules.Rule, st *rules.State, hits []rules.Event, start, end, knownAt time.Time, res *SweepResult) ([]rules.Match, error) {
	if r.Type != rules.TypeNewTerm {
		return r.EvaluateHits(st, hits, start, end)
	}
	terms, err := r.TermsIn(hits, start, end)
	if err != nil {
		return nil, err
	}
	known, err := s.knownTerms(ctx, r.Name, terms, knownAt, res)
	if err != nil {
		return nil, fmt.Errorf("rule %s: look up terms: %w", r.Name, err)
	}
	ms, fresh, err := r.EvaluateNewTerms(st, hits, start, end, func(t rules.Term) bool {
		return known[termID(r.Name, t.Field, t.Value)]
	})
	if err != nil {
		return nil, err
	}
	if len(fresh) > 0 {
		if err := s.ensureTermsIndex(ctx, res); err != nil {
			return nil, fmt.Errorf("rule %s: record new terms: %w", r.Name, err)
		}
		w := s.termWriter(ctx, r.Name, res)
		for _, t := range fresh {
			if err := w.add(t.Field, t.Value, t.First); err != nil {
				return nil, fmt.Errorf("rule %s: record new terms: %w", r.Name, err)
			}
		}
		if err := w.flush(); err != nil {
			return nil, fmt.Errorf("rule %s: record new terms: %w", r.Name, err)
		}
	}
	return ms, nil
}

// knownTerms looks terms up in TermsIndex, termsBatch ids per _mget (the
// first also reads the seed marker), and returns the ids of those known at
// start: first seen at or before it, and not before the last seeding's window.
func (s *Search) knownTerms(ctx context.Context, rule string, terms []rules.Term, start time.Time, res *SweepResult) (map[string]bool, error) {
	known := map[string]bool{}
	var from time.Time // no marker: a state moved out of State.Terms
	marker := seedMarkerID(rule)
	for first := true; len(terms) > 0; first = false {
		batch := terms[:min(len(terms), termsBatch)]
		terms = terms[len(batch):]
		ids := make([]string, 0, len(batch)+1)
		if first {
			ids = append(ids, marker)
		}
		for _, t := range batch {
			ids = append(ids, termID(rule, t.Field, t.Value))
		}
		body, err := json.Marshal(map[string]any{"ids": ids})
		if err != nil {
			return nil, err
		}
		var resp struct {
			Docs []struct {
				ID     string `json:"_id"`
				Found  bool   `json:"found"`
				Source struct {
					FirstSeen time.Time `json:"first_seen"`
					SeedFrom  time.Time `json:"seed_from"`
				} `json:"_source"`
				Error *struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"error"`
			} `json:"docs"`
		}
		req := opensearchapi.MgetRequest{Index: TermsIndex, Body: bytes.NewReader(body), SourceIncludes: []string{"first_seen", "seed_from"}}
		status, err := s.call(ctx, req, &resp, res)
		if status == 404 {
			// No vocabulary yet (a rule seeded before TermsIndex existed, whose
			// field never held a value): nothing is known.
			return known, nil
		}
		if err != nil {
			return nil, err
		}
		for _, d := range resp.Docs {
			switch {
			case d.Error != nil && d.Error.Type == "index_not_found_exception":
				return known, nil
			case d.Error != nil:
				return nil, fmt.Errorf("mget %s: %s: %s", TermsIndex, d.Error.Type, d.Error.Reason)
			case d.ID == marker:
				from = d.Source.SeedFrom
			case d.Found && !d.Source.FirstSeen.After(start) && !d.Source.FirstSeen.Before(from):
				known[d.ID] = true
			}
		}
	}
	return known, nil
}

// termWriter batches term documents into _bulk requests of termsBatch.
type termWriter struct {
	s    *Search
	ctx  context.Context
	rule string
	res  *SweepResult
	buf  bytes.Buffer
	n    int
	seen map[string]struct{} // ids already written, when set
}

func (s *Search) termWriter(ctx context.Context, rule string, res *SweepResult) *termWriter {
	return &termWriter{s: s, ctx: ctx, rule: rule, res: res}
}

func (w *termWriter) add(field, value string, firstSeen time.Time) error {
	id := termID(w.rule, field, value)
	if w.seen != nil {
		if _, ok := w.seen[id]; ok {
			return nil
		}
		w.seen[id] = struct{}{}
	}
	action, _ := json.Marshal(map[string]any{"index": map[string]any{"_index": TermsIndex, "_id": id}})
	doc, err := json.Marshal(termDoc{Rule: w.rule, Field: field, Term: value, FirstSeen: firstSeen.UTC()})
	if err != nil {
		return err
	}
	w.buf.Write(action)
	w.buf.WriteByte('\n')
	w.buf.Write(doc)
	w.buf.WriteByte('\n')
	if w.n++; w.n >= termsBatch {
		return w.flush()
	}
	return nil
}

func (w *termWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	var resp struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Error any `json:"error"`
		} `json:"items"`
	}
	req := opensearchapi.BulkRequest{Body: bytes.NewReader(w.buf.Bytes()), FilterPath: []string{"errors", "items.*.error"}}
	if _, err := w.s.call(w.ctx, req, &resp, w.res); err != nil {
		return err
	}
	if resp.Errors {
		for _, it := range resp.Items {
			for _, v := range it {
				if v.Error != nil {
					b, _ := json.Marshal(v.Error)
					return fmt.Errorf("bulk %s: %s", TermsIndex, incident.Truncate(string(b), 512))
				}
			}
		}
		return fmt.Errorf("bulk %s: errors", TermsIndex)
	}
	w.buf.Reset()
	w.n = 0
	return nil
}

// ensureTermsIndex creates TermsIndex with its mapping unless it exists.
func (s *Search) ensureTermsIndex(ctx context.Context, res *SweepResult) error {
	req := opensearchapi.IndicesCreateRequest{Index: TermsIndex, Body: strings.NewReader(termsMapping)}
	var resp struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	status, err := s.call(ctx, req, &resp, res)
	if status == 400 && resp.Error.Type == "resource_already_exists_exception" {
		return nil
	}
	return err
}

func (s *Search) getDoc(ctx context.Context, id string, v any, res *SweepResult) (bool, error) {
	var resp struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	status, err := s.call(ctx, opensearchapi.GetRequest{Index: TermsIndex, DocumentID: id}, &resp, res)
	if status == 404 {
		return false, nil
	}
	if err != nil || !resp.Found {
		return false, err
	}
	return true, json.Unmarshal(resp.Source, v)
}

func (s *Search) putDoc(ctx context.Context, id string, v any, res *SweepResult) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.call(ctx, opensearchapi.IndexRequest{Index: TermsIndex, DocumentID: id, Body: bytes.NewReader(body)}, nil, res)
	return err
}

// call runs one request, counts it in res and decodes a 2xx body into v (nil:
// discard). It returns the HTTP status with any error, so callers can accept
// an expected 404 or 400; the body is decoded into v for those as well.
func (s *Search) call(ctx context.Context, req opensearchapi.Request, v any, res *SweepResult) (int, error) {
	resp, err := req.Do(ctx, s.Client)
	if err != nil {
		return 0, fmt.Errorf("%T: %w", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	res.Queries++
	res.Bytes += int64(len(b))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%T: read response: %w", req, err)
	}
	if v != nil && len(b) > 0 {
		if err := json.Unmarshal(b, v); err != nil && !resp.IsError() {
			return resp.StatusCode, fmt.Errorf("%T: decode response: %w", req, err)
		}
	}
	if resp.IsError() {
		return resp.StatusCode, fmt.Errorf("%s %s: %s", TermsIndex, resp.Status(), incident.Truncate(string(b), 512))
	}
	return resp.StatusCode, nil
}
