// OpenSearch plumbing shared by rules_sweep.go and rules_elastalert.go: a
// client that counts requests and response bytes, bulk indexing, one sweep.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/rules"
)

// countingTransport counts requests and response body bytes (as received,
// before any decompression the client might do; none is requested here).
type countingTransport struct {
	next     http.RoundTripper
	requests atomic.Int64
	bytes    atomic.Int64
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	res, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	res.Body = &countingBody{ReadCloser: res.Body, n: &t.bytes}
	return res, nil
}

func (t *countingTransport) reset() (requests, bytes int64) {
	return t.requests.Swap(0), t.bytes.Swap(0)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type osBench struct {
	ctx context.Context
	c   *opensearchgo.Client
	ct  *countingTransport
}

func (o *osBench) do(res *opensearchapi.Response, err error, v any) error {
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.IsError() {
		return fmt.Errorf("%s: %.500s", res.Status(), b)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// putTemplate maps every string of the bench indices as keyword, as irflow
// expects for query keys and compared fields (docs/rules.md).
func (o *osBench) putTemplate() error {
	body := `{"index_patterns": ["bench-*"], "template": {
		"settings": {"number_of_shards": 1, "number_of_replicas": 0},
		"mappings": {"dynamic_templates": [{"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
			"properties": {"@timestamp": {"type": "date"}}}}}`
	res, err := o.c.Indices.PutIndexTemplate("bench", strings.NewReader(body), o.c.Indices.PutIndexTemplate.WithContext(o.ctx))
	return o.do(res, err, nil)
}

func (o *osBench) bulk(index string, body []byte) error {
	res, err := o.c.Bulk(bytes.NewReader(body), o.c.Bulk.WithIndex(index), o.c.Bulk.WithContext(o.ctx))
	var resp struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Error any `json:"error"`
		} `json:"items"`
	}
	if err := o.do(res, err, &resp); err != nil {
		return err
	}
	if resp.Errors {
		for _, it := range resp.Items {
			for _, v := range it {
				if v.Error != nil {
					return fmt.Errorf("bulk into %s: %v", index, v.Error)
				}
			}
		}
	}
	return nil
}

func (o *osBench) refresh(index string) error {
	res, err := o.c.Indices.Refresh(o.c.Indices.Refresh.WithIndex(index), o.c.Indices.Refresh.WithContext(o.ctx))
	return o.do(res, err, nil)
}

// sweep runs one sweep of r over (start, end] through the client and returns
// the matches; documents are paged with search_after.
func (o *osBench) sweep(r *rules.Rule, st *rules.State, start, end time.Time) ([]rules.Match, error) {
	var after []any
	var docs []rules.Event
	for {
		s := r.BuildSearch(start, end, after)
		body, err := json.Marshal(s.Body)
		if err != nil {
			return nil, err
		}
		var resp map[string]any
		res, err := o.c.Search(o.c.Search.WithContext(o.ctx), o.c.Search.WithIndex(s.Index), o.c.Search.WithBody(bytes.NewReader(body)))
		if err := o.do(res, err, &resp); err != nil {
			return nil, fmt.Errorf("search %s: %w", s.Index, err)
		}
		if !s.Docs {
			return r.AggregationMatches(st, resp, start, end)
		}
		hits, _ := resp["hits"].(map[string]any)
		list, _ := hits["hits"].([]any)
		for _, h := range list {
			hm, _ := h.(map[string]any)
			src, _ := hm["_source"].(map[string]any)
			docs = append(docs, rules.Event(src))
			after, _ = hm["sort"].([]any)
		}
		if len(list) < rules.PageSize {
			return r.EvaluateHits(st, docs, start, end)
		}
	}
}
