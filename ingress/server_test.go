package ingress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/irflow/irflow/internal/config"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Ingress
		wantErr string
	}{
		{"no tokens", config.Ingress{}, "ingress.tokens: at least one source token is required"},
		{"empty token", config.Ingress{Tokens: map[string]string{"ci": ""}}, "ingress.tokens.ci: empty or contains whitespace"},
		{"negative body", config.Ingress{Tokens: map[string]string{"ci": "t"}, MaxBodyBytes: -1}, "ingress.max_body_bytes: -1 is negative"},
		{"long window", config.Ingress{Tokens: map[string]string{"ci": "t"}, CoalesceWindow: 2e9}, "ingress.coalesce_window: 2s is over 1s"},
		{"bad topic", config.Ingress{Tokens: map[string]string{"ci": "t"}, SNS: config.SNSIngress{AllowedTopicARNs: []string{"my-topic"}}}, "ingress.sns.allowed_topic_arns[0]: \"my-topic\" is not an SNS topic ARN"},
		{"bad pattern", config.Ingress{Tokens: map[string]string{"ci": "t"}, SNS: config.SNSIngress{HostPattern: "("}}, "ingress.sns.host_pattern:"},
		{"empty elastalert field", config.Ingress{Tokens: map[string]string{"ci": "t"}, ElastAlert: config.ElastAlert{QueryKeyFields: []string{""}}}, "ingress.elastalert.query_key_fields[0]: empty field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// starter serve prints only the user-facing message.
			_, err := NewServer(Config{Ingress: tt.cfg}, incidentsFunc{}, nil)
			if msg := incident.ErrorMessage(err); !strings.HasPrefix(msg, tt.wantErr) {
				t.Fatalf("NewServer message %q, want prefix %q", msg, tt.wantErr)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := MustServer(t, Config{Ingress: config.Ingress{MaxBodyBytes: 512}}, incidentsFunc{})
	h := srv.Handler()
	valid := []byte(`{"source":"ci","rule":"disk full"}`)
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		headers    []string
		wantStatus int
		wantError  string
		wantHeader [2]string
	}{
		{"no token", "POST", "/v1/alerts", valid, []string{"Content-Type", "application/json"}, 401, "bearer token", [2]string{"WWW-Authenticate", `Bearer realm="irflow"`}},
		{"wrong token", "POST", "/v1/alerts", valid, []string{"Content-Type", "application/json", "Authorization", "Bearer nope"}, 401, "bearer token", [2]string{}},
		{"basic auth", "POST", "/v1/alerts/alertmanager", valid, []string{"Content-Type", "application/json", "Authorization", "Basic " + testToken}, 401, "bearer token", [2]string{}},
		{"too large", "POST", "/v1/alerts", []byte(`{"source":"ci","rule":"` + strings.Repeat("x", 600) + `"}`), []string{"Content-Type", "application/json", "Authorization", "Bearer " + testToken}, 413, "body: larger than 512 bytes", [2]string{}},
		{"form body", "POST", "/v1/alerts", valid, []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer " + testToken}, 415, "not supported, use application/json", [2]string{}},
		{"no content type", "POST", "/v1/alerts/elastalert", valid, []string{"Authorization", "Bearer " + testToken}, 415, "not supported", [2]string{}},
		{"charset ok but field missing", "POST", "/v1/alerts", []byte(`[{"source":"ci","rule":"a"},{"source":"ci"}]`), []string{"Content-Type", "application/json; charset=utf-8", "Authorization", "Bearer " + testToken}, 400, "alerts[1].rule: required", [2]string{}},
		{"GET alerts", "GET", "/v1/alerts", nil, nil, 405, "method GET not allowed", [2]string{"Allow", "POST"}},
		{"POST healthz", "POST", "/healthz", nil, nil, 405, "use GET", [2]string{}},
		{"unknown path", "GET", "/v2/whatever", nil, nil, 404, "no route", [2]string{}},
		{"elastalert without rule", "POST", "/v1/alerts/elastalert", []byte(`{"num_hits":1}`), []string{"Content-Type", "application/json", "Authorization", "Bearer " + testToken}, 400, "rule_name: required", [2]string{}},
		{"alertmanager v3", "POST", "/v1/alerts/alertmanager", []byte(`{"version":"3"}`), []string{"Content-Type", "application/json", "Authorization", "Bearer " + testToken}, 400, `version: "3"`, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, h, tt.method, tt.path, tt.body, tt.headers...)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.Status, tt.wantStatus, resp.Raw)
			}
			if msg, _ := resp.Body["error"].(string); !strings.Contains(msg, tt.wantError) {
				t.Fatalf("error %q, want containing %q", msg, tt.wantError)
			}
			if tt.wantHeader[0] != "" && resp.Header.Get(tt.wantHeader[0]) != tt.wantHeader[1] {
				t.Fatalf("%s = %q, want %q", tt.wantHeader[0], resp.Header.Get(tt.wantHeader[0]), tt.wantHeader[1])
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	for code, want := range map[string]int{
		incident.EINVALID: 400, incident.ENOTFOUND: 404, incident.ECONFLICT: 409,
		incident.EUNAVAILABLE: 503, incident.ETOOLARGE: 413, incident.EINTERNAL: 500, "something-new": 500,
	} {
		if got := ErrorStatus(incident.Errorf(code, "x")); got != want {
			t.Errorf("%s → %d, want %d", code, got, want)
		}
	}
	if got := ErrorStatus(errors.New("plain")); got != 500 {
		t.Errorf("plain error → %d, want 500", got)
	}
}

func TestAcceptAlerts(t *testing.T) {
	rec := newRecorder()
	srv := MustServer(t, Config{Ingress: config.Ingress{Tokens: map[string]string{"ci": testToken, "grafana": "other-token"}}}, rec)
	h := srv.Handler()

	t.Run("single with warnings", func(t *testing.T) {
		resp := postJSON(t, h, "/v1/alerts", []byte(`{"source":"ci","rule":"disk full","env":"prod","colour":"red"}`))
		if resp.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		fp := incident.Fingerprint(incident.Alert{Source: "ci", Rule: "disk full", Env: "prod"})
		if resp.Body["incident_id"] != incident.ID(fp) || resp.Body["workflow_id"] != workflows.IncidentWorkflowID(fp) ||
			resp.Body["run_id"] != "run-1" || resp.Body["new"] != true || resp.Body["occurrences"] != float64(1) {
			t.Errorf("body = %s", resp.Raw)
		}
		w, _ := resp.Body["warnings"].([]any)
		if len(w) != 1 || w[0] != "colour: unknown field, ignored" {
			t.Errorf("warnings = %v", resp.Body["warnings"])
		}
	})
	t.Run("array", func(t *testing.T) {
		resp := postJSON(t, h, "/v1/alerts", []byte(`[{"rule":"a"},{"rule":"b","extra":1}]`))
		if resp.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		results, _ := resp.Body["results"].([]any)
		w, _ := resp.Body["warnings"].([]any)
		if len(results) != 2 || len(w) != 1 || w[0] != "alerts[1].extra: unknown field, ignored" {
			t.Fatalf("body = %s", resp.Raw)
		}
	})
	t.Run("source defaults to the token's name", func(t *testing.T) {
		resp := do(t, h, "POST", "/v1/alerts", []byte(`{"rule":"from grafana"}`), "Content-Type", "application/json", "Authorization", "Bearer other-token")
		if resp.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		rec.mu.Lock()
		last := rec.occs[len(rec.occs)-1]
		rec.mu.Unlock()
		if last.Alert.Source != "grafana" || last.Alert.Time.IsZero() || last.Count != 1 {
			t.Errorf("occurrence = %+v", last)
		}
	})
	t.Run("alertmanager fires and clears", func(t *testing.T) {
		resp := postJSON(t, h, "/v1/alerts/alertmanager", MustReadFile(t, "alertmanager_v4.json"))
		if resp.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		results, _ := resp.Body["results"].([]any)
		if len(results) != 2 {
			t.Fatalf("body = %s", resp.Raw)
		}
		first, second := results[0].(map[string]any), results[1].(map[string]any)
		if first["action"] != "occurrence" || second["action"] != "clear" || second["detail"] != "cleared" {
			t.Errorf("results = %s", resp.Raw)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if _, ok := rec.clears[second["fingerprint"].(string)]; !ok {
			t.Errorf("no clear for %v", second["fingerprint"])
		}
	})
	t.Run("elastalert", func(t *testing.T) {
		resp := postJSON(t, h, "/v1/alerts/elastalert", MustReadFile(t, "elastalert_spike.json"))
		if resp.Status != http.StatusAccepted || resp.Body["action"] != "occurrence" {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
	})
}

func TestClearWithoutIncident(t *testing.T) {
	inc := incidentsFunc{clear: func(context.Context, string, workflows.SourceClear) error {
		return incident.Errorf(incident.ENOTFOUND, "no running incident")
	}}
	srv := MustServer(t, Config{}, inc)
	body := `{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"gone"}}]}`
	resp := postJSON(t, srv.Handler(), "/v1/alerts/alertmanager", []byte(body))
	if resp.Status != http.StatusAccepted || !strings.Contains(resp.Raw, `"detail":"no running incident"`) {
		t.Fatalf("status %d: %s", resp.Status, resp.Raw)
	}
}

func TestTemporalDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"unavailable", incident.Errorf(incident.EUNAVAILABLE, "dial temporal: connection refused")},
		{"plain error", errors.New("rpc error: code = Unavailable")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			down := incidentsFunc{
				send: func(context.Context, workflows.Occurrence) (workflows.SendResult, error) {
					return workflows.SendResult{}, tt.err
				},
				clear: func(context.Context, string, workflows.SourceClear) error { return tt.err },
				ready: func(context.Context) error { return tt.err },
			}
			h := MustServer(t, Config{}, down).Handler()
			for _, r := range []response{
				postJSON(t, h, "/v1/alerts", []byte(`{"source":"ci","rule":"a"}`)),
				postJSON(t, h, "/v1/alerts/alertmanager", MustReadFile(t, "alertmanager_v4.json")),
				do(t, h, "GET", "/readyz", nil),
			} {
				if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
					t.Fatalf("status %d Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
				}
				if strings.Contains(r.Raw, "rpc error") {
					t.Fatalf("internal error leaked: %s", r.Raw)
				}
			}
		})
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := MustServer(t, Config{Registry: reg}, incidentsFunc{})
	srv.Handle("/slack/interactions", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	h := srv.Handler()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/slack/interactions": 204} {
		if r := do(t, h, "GET", path, nil); r.Status != want {
			t.Errorf("%s: status %d, want %d", path, r.Status, want)
		}
	}
	postJSON(t, h, "/v1/alerts", []byte(`{"source":"ci","rule":"a"}`))
	postJSON(t, h, "/v1/alerts", []byte(`{"source":"ci"}`))

	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`irflow_ingress_requests_total{code="202",endpoint="alerts"} 1`,
		`irflow_ingress_requests_total{code="400",endpoint="alerts"} 1`,
		`irflow_ingress_requests_total{code="204",endpoint="/slack/interactions"} 1`,
		`irflow_ingress_alerts_accepted_total{endpoint="alerts"} 1`,
		`irflow_ingress_signals_total 1`,
		`irflow_ingress_request_duration_seconds_count{endpoint="alerts"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
