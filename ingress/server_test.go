package ingress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	srv := MustServer(t, Config{Ingress: config.Ingress{
		Tokens:       map[string]string{"ci": testToken, "grafana": "other-token"},
		TokenSources: map[string][]string{"ci": {"ci", "alertmanager", "elastalert"}},
	}}, rec)
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

// Each token may send only as its sources: by default the source named like
// the token, or those token_sources lists. A refused request moves nothing.
func TestTokensBoundToSources(t *testing.T) {
	rec := newRecorder()
	srv := MustServer(t, Config{Ingress: config.Ingress{
		Tokens: map[string]string{
			"ci": "ci-token", "alertmanager": "am-token", "hooks": "hooks-token", "grafana-prod": "grafana-token", "dev": "dev-token",
		},
		TokenSources: map[string][]string{
			"hooks": {"elastalert", "Uptime-Checker"}, "grafana-prod": {"grafana"}, "dev": {config.AnySource},
		},
	}}, rec)
	h := srv.Handler()
	resolved := []byte(`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"gone"},"endsAt":"2026-11-22T19:38:00Z"}]}`)
	firing := []byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"up"}}]}`)
	elastalert := []byte(`{"rule_name":"brute force","num_hits":3}`)
	for _, tc := range []struct {
		name, token, path string
		body              []byte
		want              int
		wantErr           string
		wantSource        string
	}{
		{"ci as alertmanager", "ci-token", "/v1/alerts", []byte(`{"source":"alertmanager","rule":"x"}`), 403,
			`token "ci" may not send alerts as source "alertmanager" (it may send as: ci)`, ""},
		{"ci as itself by default", "ci-token", "/v1/alerts", []byte(`{"rule":"x"}`), 202, "", "ci"},
		{"ci in any case", "ci-token", "/v1/alerts", []byte(`{"source":"CI","rule":"x"}`), 202, "", "CI"},
		{"one bad alert refuses the array", "ci-token", "/v1/alerts", []byte(`[{"source":"ci","rule":"a"},{"source":"cloudwatch","rule":"b"}]`), 403,
			`alerts[1].source: token "ci" may not send alerts as source "cloudwatch" (it may send as: ci)`, ""},
		{"ci clearing an Alertmanager incident", "ci-token", "/v1/alerts/alertmanager", resolved, 403,
			`token "ci" may not send alerts as source "alertmanager" (it may send as: ci)`, ""},
		{"ci firing through Alertmanager", "ci-token", "/v1/alerts/alertmanager", firing, 403, `may not send alerts as source "alertmanager"`, ""},
		{"ci through ElastAlert", "ci-token", "/v1/alerts/elastalert", elastalert, 403, `token "ci" may not send alerts as source "elastalert"`, ""},
		{"alertmanager token clears", "am-token", "/v1/alerts/alertmanager", resolved, 202, "", ""},
		{"alertmanager token fires", "am-token", "/v1/alerts/alertmanager", firing, 202, "", "alertmanager"},
		{"alertmanager token as elastalert", "am-token", "/v1/alerts/elastalert", elastalert, 403, `token "alertmanager" may not send alerts as source "elastalert"`, ""},
		{"listed source", "hooks-token", "/v1/alerts/elastalert", elastalert, 202, "", "elastalert"},
		{"listed source in another case", "hooks-token", "/v1/alerts", []byte(`{"source":"uptime-checker","rule":"x"}`), 202, "", "uptime-checker"},
		{"several sources, none named", "hooks-token", "/v1/alerts", []byte(`{"rule":"x"}`), 403,
			`token "hooks" may not send alerts as source "hooks" (it may send as: elastalert, Uptime-Checker)`, ""},
		{"its own name is not listed", "hooks-token", "/v1/alerts", []byte(`{"source":"hooks","rule":"x"}`), 403, `may not send alerts as source "hooks"`, ""},
		{"one listed source is the default", "grafana-token", "/v1/alerts", []byte(`{"rule":"x"}`), 202, "", "grafana"},
		{"any source", "dev-token", "/v1/alerts", []byte(`{"source":"anything","rule":"x"}`), 202, "", "anything"},
		{"any source, Alertmanager too", "dev-token", "/v1/alerts/alertmanager", firing, 202, "", "alertmanager"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			occs, clears := rec.counts()
			resp := do(t, h, "POST", tc.path, tc.body, "Content-Type", "application/json", "Authorization", "Bearer "+tc.token)
			if resp.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.want, resp.Raw)
			}
			occs2, clears2 := rec.counts()
			if tc.want == 403 {
				if resp.Body["error"] != tc.wantErr && !strings.Contains(resp.Body["error"].(string), tc.wantErr) {
					t.Fatalf("error %q, want %q", resp.Body["error"], tc.wantErr)
				}
				if resp.Body["reason"] != "forbidden_source" {
					t.Fatalf("reason %v", resp.Body["reason"])
				}
				if occs2 != occs || clears2 != clears {
					t.Fatalf("a refused request reached Temporal: occurrences %d→%d, clears %d→%d", occs, occs2, clears, clears2)
				}
				return
			}
			if tc.wantSource != "" {
				rec.mu.Lock()
				last := rec.occs[len(rec.occs)-1]
				rec.mu.Unlock()
				if occs2 != occs+1 || last.Alert.Source != tc.wantSource {
					t.Fatalf("occurrences %d→%d, last source %q; want one more from %q", occs, occs2, last.Alert.Source, tc.wantSource)
				}
			}
		})
	}
}

// Tokens that share one secret (a file from before sources were bound may
// use one for several senders) may send as the sources of all of them, so
// such a file keeps working the same on every start.
func TestTokensSharingASecret(t *testing.T) {
	rec := newRecorder()
	srv := MustServer(t, Config{Ingress: config.Ingress{Tokens: map[string]string{"elastalert": "shared", "alertmanager": "shared"}}}, rec)
	h := srv.Handler()
	for path, body := range map[string]string{
		"/v1/alerts/elastalert":   `{"rule_name":"r"}`,
		"/v1/alerts/alertmanager": `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"up"}}]}`,
	} {
		if r := do(t, h, "POST", path, []byte(body), "Content-Type", "application/json", "Authorization", "Bearer shared"); r.Status != 202 {
			t.Errorf("%s: status %d: %s", path, r.Status, r.Raw)
		}
	}
	r := do(t, h, "POST", "/v1/alerts", []byte(`{"source":"ci","rule":"r"}`), "Content-Type", "application/json", "Authorization", "Bearer shared")
	if msg, _ := r.Body["error"].(string); r.Status != 403 || msg != `token "alertmanager, elastalert" may not send alerts as source "ci" (it may send as: alertmanager, elastalert)` {
		t.Errorf("status %d error %q", r.Status, msg)
	}
}

// A resolved alert counts as a clean scan: the same one sent again
// (Alertmanager's next group notification, a retried webhook) counts once.
func TestSourceClearCountsOnce(t *testing.T) {
	fail := true
	var mu sync.Mutex
	rec := newRecorder()
	inner := rec.incidentsFunc.clear
	rec.incidentsFunc.clear = func(ctx context.Context, fp string, c workflows.SourceClear) error {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f {
			return incident.Errorf(incident.EUNAVAILABLE, "temporal down")
		}
		return inner(ctx, fp, c)
	}
	h := MustServer(t, Config{}, rec).Handler()
	body := func(endsAt string) []byte {
		return []byte(`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"gone","instance":"a"},"endsAt":"` + endsAt + `"}]}`)
	}
	detail := func(r response) any {
		results, _ := r.Body["results"].([]any)
		if len(results) != 1 {
			return nil
		}
		return results[0].(map[string]any)["detail"]
	}
	if r := postJSON(t, h, "/v1/alerts/alertmanager", body("2026-11-22T19:38:00Z")); r.Status != 503 {
		t.Fatalf("while Temporal is down: status %d", r.Status)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	for i, want := range []string{"cleared", "duplicate", "duplicate"} {
		r := postJSON(t, h, "/v1/alerts/alertmanager", body("2026-11-22T19:38:00Z"))
		if r.Status != 202 || detail(r) != want {
			t.Fatalf("copy %d: status %d detail %v, want 202 %s: %s", i, r.Status, detail(r), want, r.Raw)
		}
	}
	// The next resolution of the same alert is a new clear.
	if r := postJSON(t, h, "/v1/alerts/alertmanager", body("2026-11-22T21:00:00Z")); r.Status != 202 || detail(r) != "cleared" {
		t.Fatalf("a later resolution: status %d detail %v", r.Status, detail(r))
	}
	if _, clears := rec.counts(); clears != 2 {
		t.Fatalf("%d clears signalled, want 2", clears)
	}
}

// Every refusal names its reason in the body and in
// irflow_alerts_rejected_total{source,reason}; accepted alerts count in
// irflow_alerts_received_total{source}.
func TestRefusalsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := MustServer(t, Config{Registry: reg, Ingress: config.Ingress{
		MaxBodyBytes: 512, MaxAlerts: 2,
		Tokens:       map[string]string{"ci": "ci-token", "ea": "ea-token"},
		TokenSources: map[string][]string{"ea": {"elastalert"}},
		SNS:          config.SNSIngress{AllowedTopicARNs: []string{testTopic}},
	}}, newRecorder())
	h := srv.Handler()
	ci, ea := "Bearer ci-token", "Bearer ea-token"
	snsBody := []byte(`{"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:us-east-1:999999999999:irflow-alarms","Message":"{}",
		"Timestamp":"2026-11-22T19:45:12.512Z","SignatureVersion":"2","Signature":"AAAA","SigningCertURL":"https://sns.us-east-1.amazonaws.com/c.pem"}`)
	for _, tc := range []struct {
		name, method, path, auth, ctype string
		body                            []byte
		want                            int
		reason                          string
	}{
		{"no token", "POST", "/v1/alerts", "", "application/json", []byte(`{"rule":"x"}`), 401, "unauthorized"},
		{"no token for alertmanager", "POST", "/v1/alerts/alertmanager", "Bearer nope", "application/json", nil, 401, "unauthorized"},
		{"token for another source", "POST", "/v1/alerts/alertmanager", ci, "application/json", nil, 403, "forbidden_source"},
		{"alert for another source", "POST", "/v1/alerts", ci, "application/json", []byte(`{"source":"waf","rule":"x"}`), 403, "forbidden_source"},
		{"wrong method", "GET", "/v1/alerts", "", "", nil, 405, "method_not_allowed"},
		{"body too large", "POST", "/v1/alerts", ci, "application/json", []byte(`{"rule":"` + strings.Repeat("x", 600) + `"}`), 413, "too_large"},
		{"too many alerts", "POST", "/v1/alerts", ci, "application/json", []byte(`[{"rule":"a"},{"rule":"b"},{"rule":"c"}]`), 413, "too_large"},
		{"form body", "POST", "/v1/alerts", ci, "application/x-www-form-urlencoded", []byte(`rule=x`), 415, "unsupported_media_type"},
		{"invalid alert", "POST", "/v1/alerts", ci, "application/json", []byte(`{"source":"ci"}`), 400, "invalid"},
		{"invalid ElastAlert match", "POST", "/v1/alerts/elastalert", ea, "application/json", []byte(`{"num_hits":1}`), 400, "invalid"},
		{"SNS from an unknown topic", "POST", "/sns", "", "text/plain", snsBody, 403, "sns_topic"},
		{"SNS garbage", "POST", "/sns", "", "text/plain", []byte(`{"Type":"Nope"}`), 400, "invalid"},
		{"accepted", "POST", "/v1/alerts", ci, "application/json", []byte(`[{"rule":"a"},{"rule":"b"}]`), 202, ""},
		{"unknown path, not an alert endpoint", "GET", "/nope", "", "", nil, 404, "route_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{"Content-Type", tc.ctype}
			if tc.auth != "" {
				headers = append(headers, "Authorization", tc.auth)
			}
			r := do(t, h, tc.method, tc.path, tc.body, headers...)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Raw)
			}
			if tc.reason == "" {
				return
			}
			if msg, _ := r.Body["error"].(string); msg == "" || r.Body["reason"] != tc.reason || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("body %s (%s), want JSON with an error and reason %q", r.Raw, r.Header.Get("Content-Type"), tc.reason)
			}
		})
	}
	down := MustServer(t, Config{Registry: prometheus.NewRegistry()}, incidentsFunc{send: func(context.Context, workflows.Occurrence) (workflows.SendResult, error) {
		return workflows.SendResult{}, incident.Errorf(incident.EUNAVAILABLE, "down")
	}})
	if r := postJSON(t, down.Handler(), "/v1/alerts", []byte(`{"source":"ci","rule":"a"}`)); r.Status != 503 || r.Body["reason"] != "unavailable" {
		t.Fatalf("Temporal down: %d %s", r.Status, r.Raw)
	}

	got := scrape(t, h)
	for _, want := range []string{
		`irflow_alerts_rejected_total{reason="unauthorized",source="unknown"} 1`,
		`irflow_alerts_rejected_total{reason="unauthorized",source="alertmanager"} 1`,
		`irflow_alerts_rejected_total{reason="forbidden_source",source="alertmanager"} 1`,
		`irflow_alerts_rejected_total{reason="forbidden_source",source="waf"} 1`,
		`irflow_alerts_rejected_total{reason="method_not_allowed",source="unknown"} 1`,
		`irflow_alerts_rejected_total{reason="too_large",source="unknown"} 2`,
		`irflow_alerts_rejected_total{reason="unsupported_media_type",source="unknown"} 1`,
		`irflow_alerts_rejected_total{reason="invalid",source="unknown"} 1`,
		`irflow_alerts_rejected_total{reason="invalid",source="elastalert"} 1`,
		`irflow_alerts_rejected_total{reason="sns_topic",source="cloudwatch"} 1`,
		`irflow_alerts_rejected_total{reason="invalid",source="cloudwatch"} 1`,
		`irflow_alerts_received_total{source="ci"} 2`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(got, "route_not_found") {
		t.Error("an unknown path counted as a refused alert")
	}
	if d := scrape(t, down.Handler()); !strings.Contains(d, `irflow_alerts_rejected_total{reason="unavailable",source="ci"} 1`) ||
		!strings.Contains(d, `irflow_alerts_received_total{source="ci"} 1`) {
		t.Errorf("Temporal down: metrics\n%s", grepLines(d, "irflow_alerts_"))
	}
}

// scrape returns h's /metrics text.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	return do(t, h, "GET", "/metrics", nil).Raw
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /readyz needs no token: a flood of it makes one call to Temporal a second,
// not one per request.
func TestReadyzDoesNotAmplify(t *testing.T) {
	var calls atomic.Int64
	inc := incidentsFunc{ready: func(context.Context) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	}}
	h := MustServer(t, Config{}, inc).Handler()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := do(t, h, "GET", "/readyz", nil); r.Status != http.StatusOK {
				t.Errorf("status %d", r.Status)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 concurrent /readyz made %d Ready calls, want 1", n)
	}
	time.Sleep(readyTTL + 50*time.Millisecond)
	do(t, h, "GET", "/readyz", nil)
	if n := calls.Load(); n != 2 {
		t.Fatalf("after %s: %d Ready calls, want 2", readyTTL, n)
	}
}
