// OpenSearch plumbing shared by rules_sweep.go and rules_elastalert.go: a
// client that counts requests and response bytes, bulk indexing, one sweep
// through activities.Search.

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

	"github.com/irflow/irflow/activities"
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

// osBench holds one client built on a countingTransport, and the production
// activities.Search on that same client, so the bytes counted are the ones
// the worker's sweeps read.
type osBench struct {
	ctx    context.Context
	c      *opensearchgo.Client
	ct     *countingTransport
	search *activities.Search
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

// sweep runs one sweep of r over (start, end] through activities.Search,
// the production sweep (aggregation pages or search_after document pages):
// buffer_time is set to the window, so SweepWindow gives (start, end] to a
// first sweep (empty state).
func (o *osBench) sweep(r *rules.Rule, start, end time.Time) ([]rules.Match, error) {
	w := *r
	w.BufferTime, w.QueryDelay = end.Sub(start), 0
	_, ms, err := o.search.Sweep(o.ctx, &w, &rules.State{}, end)
	return ms, err
}
