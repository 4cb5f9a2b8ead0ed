package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

const testToken = "s3cret-token-for-tests"

// incidentsFunc is a tiny Incidents adapter; nil funcs behave like a healthy
// Temporal that starts a new incident for every signal.
type incidentsFunc struct {
	send  func(context.Context, workflows.Occurrence) (workflows.SendResult, error)
	clear func(context.Context, string, workflows.SourceClear) error
	ready func(context.Context) error
}

func (f incidentsFunc) Send(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
	if f.send != nil {
		return f.send(ctx, occ)
	}
	fp := incident.Fingerprint(occ.Alert)
	return workflows.SendResult{IncidentID: incident.ID(fp), WorkflowID: workflows.IncidentWorkflowID(fp), RunID: "run-1", New: true}, nil
}

func (f incidentsFunc) Clear(ctx context.Context, fp string, c workflows.SourceClear) error {
	if f.clear != nil {
		return f.clear(ctx, fp, c)
	}
	return nil
}

func (f incidentsFunc) Ready(ctx context.Context) error {
	if f.ready != nil {
		return f.ready(ctx)
	}
	return nil
}

// recorder is an Incidents that remembers what it was asked.
type recorder struct {
	mu         sync.Mutex
	occs       []workflows.Occurrence
	clears     map[string]workflows.SourceClear
	clearCalls int
	incidentsFunc
}

func newRecorder() *recorder {
	r := &recorder{clears: map[string]workflows.SourceClear{}}
	r.incidentsFunc.send = func(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
		r.mu.Lock()
		r.occs = append(r.occs, occ)
		r.mu.Unlock()
		return incidentsFunc{}.Send(ctx, occ)
	}
	r.incidentsFunc.clear = func(_ context.Context, fp string, c workflows.SourceClear) error {
		r.mu.Lock()
		r.clears[fp] = c
		r.clearCalls++
		r.mu.Unlock()
		return nil
	}
	return r
}

func MustServer(tb testing.TB, cfg Config, inc Incidents) *Server {
	tb.Helper()
	if cfg.Tokens == nil {
		// Any source: tests of other things post as waf, ci, elastalert, ...;
		// the binding of tokens to sources has tests of its own.
		cfg.Tokens = map[string]string{"ci": testToken}
		cfg.TokenSources = map[string][]string{"ci": {config.AnySource}}
	}
	s, err := NewServer(cfg, inc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("NewServer: %v", err)
	}
	return s
}

func MustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request to h; headers alternate name, value.
func do(tb testing.TB, h http.Handler, method, path string, body []byte, headers ...string) response {
	tb.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.Body); err != nil && rec.Header().Get("Content-Type") != "" && bytes.HasPrefix(bytes.TrimSpace(rec.Body.Bytes()), []byte("{")) {
		tb.Fatalf("response body is not JSON: %v: %s", err, rec.Body.String())
	}
	return r
}

func postJSON(tb testing.TB, h http.Handler, path string, body []byte) response {
	tb.Helper()
	return do(tb, h, http.MethodPost, path, body, "Content-Type", "application/json", "Authorization", "Bearer "+testToken)
}

// counts returns how many occurrence signals and clears r received.
func (r *recorder) counts() (occurrences, clears int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.occs), r.clearCalls
}
