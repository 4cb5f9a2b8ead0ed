// Package ingress holds irflow's HTTP entry points for alerts: its own JSON,
// ElastAlert2 http_post, Alertmanager webhooks and CloudWatch alarms through
// SNS. A 2xx means Temporal has durably accepted the signal.
package ingress

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/internal/config"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Incidents is what the handlers need from Temporal. The Temporal client in
// internal/client satisfies it; tests use a func adapter.
type Incidents interface {
	// Send SignalWithStarts incident-<fingerprint of occ.Alert> with an
	// occurrence signal and returns after Temporal accepted it (durable).
	Send(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error)
	// Clear signals a running incident that its source says the condition is
	// gone; an *incident.Error ENOTFOUND when no incident is running.
	Clear(ctx context.Context, fingerprint string, c workflows.SourceClear) error
	// Ready returns nil when Temporal is reachable.
	Ready(ctx context.Context) error
}

// Config is the ingress section of irflow's config (config.Ingress, from the
// file) plus what only a running process has. NewServer fills defaults.
type Config struct {
	config.Ingress
	// Registry receives ingress metrics and is served on /metrics. Default: a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// SNSHTTPClient fetches SNS signing certificates and confirms
	// subscriptions. Default: a client with a 10 s timeout.
	SNSHTTPClient *http.Client
}

// Server serves the ingress endpoints.
type Server struct {
	cfg     Config
	inc     Incidents
	log     *slog.Logger
	mux     *http.ServeMux
	co      *coalescer
	sns     *snsVerifier
	m       *metrics
	tokens  []tokenHash
	clears  chan struct{}
	handler http.Handler
}

type tokenHash struct {
	source string
	sum    [32]byte
}

// NewServer validates cfg and returns a server sending to inc.
func NewServer(cfg Config, inc Incidents, logger *slog.Logger) (*Server, error) {
	if inc == nil {
		return nil, errors.New("ingress: nil Incidents")
	}
	if logger == nil {
		logger = slog.Default()
	}
	cfg.SetDefaults()
	if err := cfg.RequireTokens(); err != nil {
		return nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	if err := cfg.Validate(); err != nil {
		// An *incident.Error, so callers that print only user-facing messages
		// (starter serve) show the field instead of "internal error".
		return nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("ingress metrics: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		inc:    inc,
		log:    logger,
		mux:    http.NewServeMux(),
		sns:    newSNSVerifier(cfg.SNS, cfg.SNSHTTPClient),
		m:      m,
		clears: make(chan struct{}, cfg.MaxInflight),
	}
	for name, tok := range cfg.Tokens {
		s.tokens = append(s.tokens, tokenHash{source: name, sum: sha256.Sum256([]byte(tok))})
	}
	s.co = newCoalescer(inc.Send, time.Duration(cfg.CoalesceWindow), time.Duration(cfg.SendTimeout), cfg.MaxInflight)
	s.co.onSend = func(requests, count int) {
		s.m.signals.Inc()
		s.m.coalesced.Add(float64(count - 1))
	}
	jsonOnly := []string{"application/json"}
	s.route("/v1/alerts", "alerts", http.MethodPost, jsonOnly, true, s.handleAlerts)
	s.route("/v1/alerts/elastalert", "elastalert", http.MethodPost, jsonOnly, true, s.handleElastAlert)
	s.route("/v1/alerts/alertmanager", "alertmanager", http.MethodPost, jsonOnly, true, s.handleAlertmanager)
	// SNS posts text/plain; accept JSON too for replays with curl.
	s.route("/sns", "sns", http.MethodPost, []string{"text/plain", "application/json"}, false, s.handleSNS)
	s.route("/healthz", "healthz", http.MethodGet, nil, false, func(w http.ResponseWriter, r *http.Request, _ []byte, _ string) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route("/readyz", "readyz", http.MethodGet, nil, false, s.handleReady)
	s.mux.Handle("/metrics", s.instrument("metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	s.mux.Handle("/", s.instrument("unknown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, incident.Errorf(codeRouteNotFound, "no route for %s %s", r.Method, r.URL.Path), nil)
	})))
	s.handler = s.recoverer(s.mux)
	return s, nil
}

// Handler returns the HTTP handler for every ingress route.
func (s *Server) Handler() http.Handler { return s.handler }

// Handle mounts another handler (such as /slack/interactions) on the same
// mux, with the same metrics and panic recovery. pattern is a ServeMux
// pattern and becomes the endpoint label.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte, source string)

// route registers path with method, content-type, auth and body-limit checks
// done before h runs, so every endpoint answers them the same way.
func (s *Server) route(path, endpoint, method string, mediaTypes []string, auth bool, h handlerFunc) {
	s.mux.Handle(path, s.instrument(endpoint, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, incident.Errorf(codeMethod, "method %s not allowed, use %s", r.Method, method), nil)
			return
		}
		var source string
		if auth {
			var ok bool
			if source, ok = s.authenticate(r); !ok {
				writeError(w, incident.Errorf(codeUnauthorized, "missing or wrong bearer token"), nil)
				return
			}
		}
		if mediaTypes != nil {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || !contains(mediaTypes, mt) {
				writeError(w, incident.Errorf(codeMediaType, "Content-Type %q not supported, use %s", r.Header.Get("Content-Type"), strings.Join(mediaTypes, " or ")), nil)
				return
			}
		}
		var body []byte
		if method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				writeError(w, incident.Errorf(incident.ETOOLARGE, "body: larger than %d bytes", s.cfg.MaxBodyBytes), nil)
				return
			case err != nil:
				writeError(w, incident.Errorf(incident.EINVALID, "body: read: %v", err), nil)
				return
			}
			body = b
		}
		h(w, r, body, source)
	})))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// authenticate compares the bearer token with every configured token in
// constant time (over SHA-256 sums, so lengths do not leak either).
func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	source := ""
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			source = t.source
		}
	}
	return source, source != ""
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ []byte, _ string) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.inc.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeError(w, incident.Errorf(incident.EUNAVAILABLE, "temporal not reachable"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Result is the outcome of one alert in a response.
type Result struct {
	// Action is "occurrence" (the alert was signalled) or "clear" (a resolved
	// alert was passed to its incident).
	Action      string `json:"action"`
	Fingerprint string `json:"fingerprint"`
	IncidentID  string `json:"incident_id"`
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id"`
	// New is true when this signal opened the incident.
	New bool `json:"new"`
	// Occurrences is the Count of the signal that carried this alert: more
	// than 1 when duplicates arriving together were coalesced.
	Occurrences int `json:"occurrences"`
	// Detail explains a clear: "cleared" or "no running incident".
	Detail string `json:"detail,omitempty"`
}

type singleResponse struct {
	Result
	Warnings []string `json:"warnings"`
}

type multiResponse struct {
	Results  []Result `json:"results"`
	Warnings []string `json:"warnings"`
}

// deliver sends every item concurrently and waits for all of them. The first
// error fails the request: the sender retries the whole body, and duplicates
// only add to an occurrence count.
func (s *Server) deliver(ctx context.Context, endpoint string, items []Item) ([]Result, error) {
	now := time.Now().UTC()
	results := make([]Result, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.deliverOne(ctx, endpoint, items[i], now)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (s *Server) deliverOne(ctx context.Context, endpoint string, it Item, now time.Time) (Result, error) {
	fp := incident.Fingerprint(it.Alert)
	r := Result{Fingerprint: fp, IncidentID: incident.ID(fp), WorkflowID: workflows.IncidentWorkflowID(fp)}
	if it.Resolved {
		r.Action = "clear"
		c := it.Clear
		if c.At.IsZero() {
			c.At = now
		}
		select {
		case s.clears <- struct{}{}:
		case <-ctx.Done():
			return r, incident.Errorf(incident.EUNAVAILABLE, "gave up waiting to clear: %v", ctx.Err())
		}
		cctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.SendTimeout))
		err := s.inc.Clear(cctx, fp, c)
		cancel()
		<-s.clears
		switch incident.ErrorCode(err) {
		case "":
			r.Detail = "cleared"
			s.m.clears.WithLabelValues("cleared").Inc()
		case incident.ENOTFOUND:
			r.Detail = "no running incident"
			s.m.clears.WithLabelValues("not_found").Inc()
		default:
			s.log.Warn("clear failed", "fingerprint", fp, "err", err)
			return r, unavailable(err)
		}
		return r, nil
	}
	r.Action = "occurrence"
	a := it.Alert
	if a.Time.IsZero() {
		a.Time = now
	}
	res, count, err := s.co.submit(ctx, workflows.Occurrence{Count: 1, Alert: a, FirstSeen: now, LastSeen: now})
	if err != nil {
		s.log.Warn("send failed", "fingerprint", fp, "err", err)
		return r, unavailable(err)
	}
	s.m.accepted.WithLabelValues(endpoint).Inc()
	if res.IncidentID != "" {
		r.IncidentID = res.IncidentID
	}
	if res.WorkflowID != "" {
		r.WorkflowID = res.WorkflowID
	}
	r.RunID, r.New, r.Occurrences = res.RunID, res.New, count
	return r, nil
}

func nonNil(w []string) []string {
	if w == nil {
		return []string{}
	}
	return w
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request, body []byte, source string) {
	alerts, single, warnings, err := incident.DecodeAlerts(body, incident.DecodeOptions{Lenient: true, DefaultSource: source, MaxAlerts: s.cfg.MaxAlerts})
	if err != nil {
		writeError(w, err, warnings)
		return
	}
	items := make([]Item, len(alerts))
	for i, a := range alerts {
		items[i] = Item{Alert: a}
	}
	s.answer(w, r, "alerts", items, single, warnings, http.StatusAccepted)
}

func (s *Server) handleElastAlert(w http.ResponseWriter, r *http.Request, body []byte, _ string) {
	a, warnings, err := DecodeElastAlert(body, s.cfg.ElastAlert)
	if err != nil {
		writeError(w, err, warnings)
		return
	}
	s.answer(w, r, "elastalert", []Item{{Alert: a}}, true, warnings, http.StatusAccepted)
}

func (s *Server) handleAlertmanager(w http.ResponseWriter, r *http.Request, body []byte, _ string) {
	items, warnings, err := DecodeAlertmanager(body)
	if err != nil {
		writeError(w, err, warnings)
		return
	}
	s.answer(w, r, "alertmanager", items, false, warnings, http.StatusAccepted)
}

// answer delivers items and writes the response: one result object for a
// single alert, {"results": [...]} for several.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, endpoint string, items []Item, single bool, warnings []string, status int) {
	results, err := s.deliver(r.Context(), endpoint, items)
	if err != nil {
		writeError(w, err, warnings)
		return
	}
	if len(warnings) > 0 {
		s.log.Info("alert accepted with warnings", "endpoint", endpoint, "warnings", warnings)
	}
	if single && len(results) == 1 {
		writeJSON(w, status, singleResponse{Result: results[0], Warnings: nonNil(warnings)})
		return
	}
	writeJSON(w, status, multiResponse{Results: results, Warnings: nonNil(warnings)})
}

func (s *Server) handleSNS(w http.ResponseWriter, r *http.Request, body []byte, _ string) {
	m, err := DecodeSNS(body)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	if hdr := r.Header.Get("X-Amz-Sns-Message-Type"); hdr != "" && hdr != m.Type {
		writeError(w, incident.Errorf(incident.EINVALID, "x-amz-sns-message-type %q does not match Type %q", hdr, m.Type), nil)
		return
	}
	if err := s.sns.verify(r.Context(), m); err != nil {
		s.m.sns.WithLabelValues(m.Type, "rejected").Inc()
		s.log.Warn("sns message rejected", "topic", m.TopicArn, "type", m.Type, "err", err)
		writeError(w, err, nil)
		return
	}
	switch m.Type {
	case SNSSubscriptionConfirmation:
		if err := s.sns.confirm(r.Context(), m); err != nil {
			s.m.sns.WithLabelValues(m.Type, "error").Inc()
			s.log.Warn("sns subscription not confirmed", "topic", m.TopicArn, "err", err)
			writeError(w, err, nil)
			return
		}
		s.m.sns.WithLabelValues(m.Type, "confirmed").Inc()
		s.log.Info("sns subscription confirmed", "topic", m.TopicArn)
		writeJSON(w, http.StatusOK, map[string]string{"status": "confirmed", "topic_arn": m.TopicArn})
	case SNSUnsubscribeConfirmation:
		// Re-subscribing is an operator's decision; only record it.
		s.m.sns.WithLabelValues(m.Type, "ok").Inc()
		s.log.Warn("sns subscription removed", "topic", m.TopicArn)
		writeJSON(w, http.StatusOK, map[string]string{"status": "unsubscribed", "topic_arn": m.TopicArn})
	case SNSNotification:
		item, state, warnings, err := DecodeCloudWatchAlarm(m.Message)
		if err != nil {
			s.m.sns.WithLabelValues(m.Type, "invalid").Inc()
			writeError(w, err, warnings)
			return
		}
		if item == nil {
			s.m.sns.WithLabelValues(m.Type, "insufficient_data").Inc()
			s.log.Info("cloudwatch alarm has insufficient data, no alert", "topic", m.TopicArn, "state", state)
			writeJSON(w, http.StatusOK, multiResponse{Results: []Result{}, Warnings: []string{"NewStateValue: INSUFFICIENT_DATA, no alert"}})
			return
		}
		s.m.sns.WithLabelValues(m.Type, "ok").Inc()
		// SNS needs a 2xx; 202 would do, 200 is what its docs show.
		s.answer(w, r, "sns", []Item{*item}, true, warnings, http.StatusOK)
	}
}
