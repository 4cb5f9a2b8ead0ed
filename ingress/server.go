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
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
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
	labels  *sourceLabels
	tokens  []*token
	clears  chan struct{}
	cleared *recent
	ready   *readiness
	handler http.Handler
}

// token is one configured secret, kept as its SHA-256, and the sources it
// may send alerts as.
type token struct {
	// name is the token's name in the config; names that share one secret
	// share one token, named "a, b", with the sources of both.
	name    string
	sum     [32]byte
	any     bool
	sources map[string]bool // folded like fingerprints fold names
	list    []string        // as configured, for messages
	// defaultSource is the source of an irflow alert sent without one.
	defaultSource string
}

func (t *token) may(source string) bool { return t.any || t.sources[foldName(source)] }

func (t *token) forbid(source string) error {
	return incident.Errorf(codeForbiddenSource, "token %q may not send alerts as source %q (it may send as: %s)", t.name, source, strings.Join(t.list, ", "))
}

// Budgets and bounds.
const (
	// answerMargin is how long before write_timeout the ingress stops
	// waiting for Temporal and answers 503, so the answer still gets out.
	answerMargin = time.Second
	// maxRemembered bounds the SNS message IDs and the source clears kept
	// for deduplication (a few MB at most).
	maxRemembered = 1 << 16
	// minClearMemory is how long a source clear is remembered at least:
	// Alertmanager re-sends a resolved alert with the next notifications of
	// its group, and retries a failed webhook, within minutes.
	minClearMemory = time.Hour
)

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
	sns, err := newSNSVerifier(cfg.SNS, cfg.SNSHTTPClient)
	if err != nil {
		return nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	s := &Server{
		cfg:     cfg,
		inc:     inc,
		log:     logger,
		mux:     http.NewServeMux(),
		sns:     sns,
		m:       m,
		clears:  make(chan struct{}, cfg.MaxInflight),
		cleared: newRecent(max(minClearMemory, time.Duration(cfg.SNS.MaxAge)), maxRemembered),
		ready:   &readiness{ready: inc.Ready},
	}
	s.tokens = buildTokens(&cfg.Ingress)
	known := []string{SourceElastAlert, SourceAlertmanager, SourceCloudWatch}
	for _, t := range s.tokens {
		for _, src := range t.list {
			if src != config.AnySource {
				known = append(known, src)
			}
		}
	}
	s.labels = newSourceLabels(known...)
	s.co = newCoalescer(inc.Send, time.Duration(cfg.CoalesceWindow), time.Duration(cfg.SendTimeout), cfg.MaxInflight)
	s.co.onSend = func(requests, count int) {
		s.m.signals.Inc()
		s.m.coalesced.Add(float64(count - 1))
	}
	jsonOnly := []string{"application/json"}
	s.route(route{path: "/v1/alerts", name: "alerts", method: http.MethodPost, mediaTypes: jsonOnly, auth: true, alerts: true}, s.handleAlerts)
	s.route(route{path: "/v1/alerts/elastalert", name: "elastalert", method: http.MethodPost, mediaTypes: jsonOnly, auth: true, alerts: true, source: SourceElastAlert}, s.handleElastAlert)
	s.route(route{path: "/v1/alerts/alertmanager", name: "alertmanager", method: http.MethodPost, mediaTypes: jsonOnly, auth: true, alerts: true, source: SourceAlertmanager}, s.handleAlertmanager)
	// SNS posts text/plain; accept JSON too for replays with curl.
	s.route(route{path: "/sns", name: "sns", method: http.MethodPost, mediaTypes: []string{"text/plain", "application/json"}, alerts: true, source: SourceCloudWatch}, s.handleSNS)
	s.route(route{path: "/healthz", name: "healthz", method: http.MethodGet}, func(c *call) {
		writeJSON(c.w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route(route{path: "/readyz", name: "readyz", method: http.MethodGet}, s.handleReady)
	metrics := promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})
	s.mux.Handle("/metrics", s.instrument("metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Scrapers GET; anything else is not a scrape (the HTTP fuzzer found POST answered 200).
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, incident.Errorf(codeMethod, "method %s not allowed, use GET", r.Method), nil)
			return
		}
		metrics.ServeHTTP(w, r)
	})))
	s.mux.Handle("/", s.instrument("unknown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, incident.Errorf(codeRouteNotFound, "no route for %s %s", r.Method, r.URL.Path), nil)
	})))
	s.handler = s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux answers a "*" target with a bare 400; every refusal here
		// is JSON with a reason.
		if r.RequestURI == "*" {
			writeError(w, incident.Errorf(incident.EINVALID, "request target * is not a route"), nil)
			return
		}
		s.mux.ServeHTTP(w, r)
	}))
	return s, nil
}

// buildTokens turns ingress.tokens and ingress.token_sources into tokens,
// one per distinct secret, in name order.
func buildTokens(cfg *config.Ingress) []*token {
	var out []*token
	bySum := map[[32]byte]*token{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Tokens)) {
		sum := sha256.Sum256([]byte(cfg.Tokens[name]))
		t := bySum[sum]
		if t == nil {
			t = &token{name: name, sum: sum, sources: map[string]bool{}}
			bySum[sum] = t
			out = append(out, t)
		} else {
			t.name += ", " + name
		}
		for _, src := range cfg.SourcesOf(name) {
			if src == config.AnySource {
				t.any = true
			} else {
				t.sources[foldName(src)] = true
			}
			if !slices.Contains(t.list, src) {
				t.list = append(t.list, src)
			}
		}
	}
	for _, t := range out {
		// The token's (first) name when it may use it, as before sources were
		// bound; else its only source; else its name, which it is then refused.
		first, _, _ := strings.Cut(t.name, ", ")
		t.defaultSource = first
		if !t.may(first) && !t.any && len(t.sources) == 1 {
			for _, src := range t.list {
				t.defaultSource = src
			}
		}
	}
	return out
}

// Handler returns the HTTP handler for every ingress route.
func (s *Server) Handler() http.Handler { return s.handler }

// Handle mounts another handler (such as /slack/interactions) on the same
// mux, with the same metrics and panic recovery. pattern is a ServeMux
// pattern and becomes the endpoint label.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

// route is one endpoint and the checks done before its handler runs, so
// every endpoint answers them the same way.
type route struct {
	path, name, method string
	// mediaTypes are the Content-Types accepted; nil: any.
	mediaTypes []string
	// auth: a bearer token is required.
	auth bool
	// alerts: an alert endpoint, whose refusals are counted in
	// irflow_alerts_rejected_total.
	alerts bool
	// source is what every alert of the endpoint is sent as; "" when each
	// alert names its own.
	source string
}

// call is one request on a route, past the checks.
type call struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
	// ctx ends shortly before write_timeout, so the answer still gets out.
	ctx    context.Context
	body   []byte
	tok    *token
	alerts bool
}

// refuse answers err and counts it when the route takes alerts. source is
// the source the refused request was for, "" when unknown.
func (c *call) refuse(source string, err error, warnings []string) {
	status := writeError(c.w, err, warnings)
	if c.alerts && (status/100 == 4 || status == http.StatusServiceUnavailable) {
		c.s.m.rejected.WithLabelValues(c.s.labels.label(source), ErrorReason(err)).Inc()
	}
}

func (s *Server) route(rt route, h func(*call)) {
	s.mux.Handle(rt.path, s.instrument(rt.name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{s: s, w: w, r: r, ctx: r.Context(), alerts: rt.alerts}
		if r.Method != rt.method {
			w.Header().Set("Allow", rt.method)
			c.refuse(rt.source, incident.Errorf(codeMethod, "method %s not allowed, use %s", r.Method, rt.method), nil)
			return
		}
		if rt.auth {
			if c.tok = s.authenticate(r); c.tok == nil {
				c.refuse(rt.source, incident.Errorf(codeUnauthorized, "missing or wrong bearer token"), nil)
				return
			}
			if rt.source != "" && !c.tok.may(rt.source) {
				c.refuse(rt.source, c.tok.forbid(rt.source), nil)
				return
			}
		}
		if rt.mediaTypes != nil {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || !slices.Contains(rt.mediaTypes, mt) {
				c.refuse(rt.source, incident.Errorf(codeMediaType, "Content-Type %q not supported, use %s", r.Header.Get("Content-Type"), strings.Join(rt.mediaTypes, " or ")), nil)
				return
			}
		}
		if rt.method == http.MethodPost {
			body, err := s.readBody(w, r, start)
			if err != nil {
				c.refuse(rt.source, err, nil)
				return
			}
			c.body = body
			ctx, cancel := context.WithDeadline(r.Context(), start.Add(time.Duration(s.cfg.WriteTimeout)-answerMargin))
			defer cancel()
			c.ctx = ctx
		}
		h(c)
	})))
}

// readBody reads the body, at most max_body_bytes of it, by read_timeout
// after the headers. The deadline is the connection's (http.ResponseController),
// so a client trickling its body is answered 408 instead of holding the
// connection; under httptest, where there is no connection, there is none.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, start time.Time) ([]byte, error) {
	readTimeout := time.Duration(s.cfg.ReadTimeout)
	if err := http.NewResponseController(w).SetReadDeadline(start.Add(readTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("cannot set the body read deadline", "err", err)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return b, nil
	case errors.As(err, &tooBig):
		return nil, incident.Errorf(incident.ETOOLARGE, "body: larger than %d bytes", s.cfg.MaxBodyBytes)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return nil, incident.Errorf(codeTimeout, "body: not received within %s of the headers (ingress.read_timeout); %d bytes arrived", readTimeout, len(b))
	default:
		return nil, incident.Errorf(incident.EINVALID, "body: read: %v", err)
	}
}

// authenticate compares the bearer token with every configured token in
// constant time (over SHA-256 sums, so lengths do not leak either).
func (s *Server) authenticate(r *http.Request) *token {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *token
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found = t
		}
	}
	return found
}

func (s *Server) handleReady(c *call) {
	if err := s.ready.check(c.r.Context()); err != nil {
		s.log.Warn("not ready", "err", err)
		writeError(c.w, incident.Errorf(incident.EUNAVAILABLE, "temporal not reachable"), nil)
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]string{"status": "ready"})
}

// readiness runs one Incidents.Ready at a time and keeps its answer for
// readyTTL: /readyz needs no token, and a flood of it must not become a
// flood of calls to Temporal.
type readiness struct {
	ready   func(context.Context) error
	mu      sync.Mutex
	at      time.Time
	err     error
	running chan struct{}
}

const (
	readyTTL     = time.Second
	readyTimeout = 3 * time.Second
)

func (r *readiness) check(ctx context.Context) error {
	for {
		r.mu.Lock()
		if !r.at.IsZero() && time.Since(r.at) < readyTTL {
			err := r.err
			r.mu.Unlock()
			return err
		}
		if wait := r.running; wait != nil {
			r.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		r.running = done
		r.mu.Unlock()
		// Not the request's context: the answer serves everyone waiting.
		cctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		err := r.ready(cctx)
		cancel()
		r.mu.Lock()
		r.at, r.err, r.running = time.Now(), err, nil
		r.mu.Unlock()
		close(done)
		return err
	}
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
		return s.clear(ctx, r, it.Clear, now)
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

// clear passes a source clear to the incident r names. A clear counts as a
// clean re-scan, so one the source sends again (Alertmanager re-sends a
// resolved alert with its group's next notifications and retries failed
// webhooks; an OK alarm can reach two subscribed topics) must not count
// twice: a clear with the source's own time is remembered by incident,
// source and time, and a repeat is answered "duplicate" without a signal.
func (s *Server) clear(ctx context.Context, r Result, c workflows.SourceClear, now time.Time) (Result, error) {
	r.Action = "clear"
	finish := func(bool) {}
	if !c.At.IsZero() {
		key := r.Fingerprint + "\x00" + foldName(c.Source) + "\x00" + c.At.UTC().Format(time.RFC3339Nano)
		dup, f, err := s.cleared.claim(ctx, key)
		if err != nil {
			return r, incident.Errorf(incident.EUNAVAILABLE, "gave up waiting for the same clear: %v", err)
		}
		if dup {
			r.Detail = "duplicate"
			s.m.clears.WithLabelValues("duplicate").Inc()
			return r, nil
		}
		finish = f
	} else {
		c.At = now
	}
	select {
	case s.clears <- struct{}{}:
	case <-ctx.Done():
		finish(false)
		return r, incident.Errorf(incident.EUNAVAILABLE, "gave up waiting to clear: %v", ctx.Err())
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.SendTimeout))
	err := s.inc.Clear(cctx, r.Fingerprint, c)
	cancel()
	<-s.clears
	switch incident.ErrorCode(err) {
	case "":
		finish(true)
		r.Detail = "cleared"
		s.m.clears.WithLabelValues("cleared").Inc()
	case incident.ENOTFOUND:
		finish(false)
		r.Detail = "no running incident"
		s.m.clears.WithLabelValues("not_found").Inc()
	default:
		finish(false)
		s.log.Warn("clear failed", "fingerprint", r.Fingerprint, "err", err)
		return r, unavailable(err)
	}
	return r, nil
}

func nonNil(w []string) []string {
	if w == nil {
		return []string{}
	}
	return w
}

func (s *Server) handleAlerts(c *call) {
	alerts, single, warnings, err := incident.DecodeAlerts(c.body, incident.DecodeOptions{Lenient: true, DefaultSource: c.tok.defaultSource, MaxAlerts: s.cfg.MaxAlerts})
	if err != nil {
		c.refuse("", err, warnings)
		return
	}
	// Every alert is checked before any is sent: a refused request moves nothing.
	for i, a := range alerts {
		if !c.tok.may(a.Source) {
			err := c.tok.forbid(a.Source)
			if !single {
				err = incident.Errorf(codeForbiddenSource, "alerts[%d].source: %s", i, incident.ErrorMessage(err))
			}
			c.refuse(a.Source, err, warnings)
			return
		}
	}
	items := make([]Item, len(alerts))
	for i, a := range alerts {
		items[i] = Item{Alert: a}
	}
	s.answer(c, "alerts", items, single, warnings, http.StatusAccepted)
}

func (s *Server) handleElastAlert(c *call) {
	a, warnings, err := DecodeElastAlert(c.body, s.cfg.ElastAlert)
	if err != nil {
		c.refuse(SourceElastAlert, err, warnings)
		return
	}
	s.answer(c, "elastalert", []Item{{Alert: a}}, true, warnings, http.StatusAccepted)
}

func (s *Server) handleAlertmanager(c *call) {
	items, warnings, err := DecodeAlertmanager(c.body)
	if err != nil {
		c.refuse(SourceAlertmanager, err, warnings)
		return
	}
	s.answer(c, "alertmanager", items, false, warnings, http.StatusAccepted)
}

// answer delivers items and writes the response: one result object for a
// single alert, {"results": [...]} for several. It reports whether every
// item was delivered.
func (s *Server) answer(c *call, endpoint string, items []Item, single bool, warnings []string, status int) bool {
	for _, it := range items {
		s.m.received.WithLabelValues(s.labels.label(it.Alert.Source)).Inc()
	}
	results, err := s.deliver(c.ctx, endpoint, items)
	if err != nil {
		c.refuse(items[0].Alert.Source, err, warnings)
		return false
	}
	if len(warnings) > 0 {
		s.log.Info("alert accepted with warnings", "endpoint", endpoint, "warnings", warnings)
	}
	if single && len(results) == 1 {
		writeJSON(c.w, status, singleResponse{Result: results[0], Warnings: nonNil(warnings)})
		return true
	}
	writeJSON(c.w, status, multiResponse{Results: results, Warnings: nonNil(warnings)})
	return true
}

func (s *Server) handleSNS(c *call) {
	m, err := DecodeSNS(c.body)
	if err != nil {
		c.refuse(SourceCloudWatch, err, nil)
		return
	}
	if hdr := c.r.Header.Get("X-Amz-Sns-Message-Type"); hdr != "" && hdr != m.Type {
		c.refuse(SourceCloudWatch, incident.Errorf(incident.EINVALID, "x-amz-sns-message-type %q does not match Type %q", hdr, m.Type), nil)
		return
	}
	if err := s.sns.verify(c.ctx, m); err != nil {
		result := "rejected"
		if ErrorStatus(err) == http.StatusServiceUnavailable {
			result = "error"
		}
		s.m.sns.WithLabelValues(m.Type, result).Inc()
		s.log.Warn("sns message rejected", "topic", m.TopicArn, "type", m.Type, "message_id", m.MessageID, "err", err)
		c.refuse(SourceCloudWatch, err, nil)
		return
	}
	switch m.Type {
	case SNSSubscriptionConfirmation:
		if err := s.sns.confirm(c.ctx, m); err != nil {
			s.m.sns.WithLabelValues(m.Type, "error").Inc()
			s.log.Warn("sns subscription not confirmed", "topic", m.TopicArn, "err", err)
			c.refuse(SourceCloudWatch, err, nil)
			return
		}
		s.m.sns.WithLabelValues(m.Type, "confirmed").Inc()
		s.log.Info("sns subscription confirmed", "topic", m.TopicArn)
		writeJSON(c.w, http.StatusOK, map[string]string{"status": "confirmed", "topic_arn": m.TopicArn})
	case SNSUnsubscribeConfirmation:
		// Re-subscribing is an operator's decision; only record it.
		s.m.sns.WithLabelValues(m.Type, "ok").Inc()
		s.log.Warn("sns subscription removed", "topic", m.TopicArn)
		writeJSON(c.w, http.StatusOK, map[string]string{"status": "unsubscribed", "topic_arn": m.TopicArn})
	case SNSNotification:
		s.notification(c, m)
	}
}

// notification handles a verified SNS Notification once per MessageId: SNS
// delivers at least once, and a redelivered OK must not count as a second
// clean scan. A redelivery is answered 200 "duplicate" and not signalled.
func (s *Server) notification(c *call, m *SNSMessage) {
	dup, finish, err := s.sns.seen.claim(c.ctx, m.TopicArn+"\x00"+m.MessageID)
	if err != nil {
		s.m.sns.WithLabelValues(m.Type, "error").Inc()
		c.refuse(SourceCloudWatch, incident.Errorf(incident.EUNAVAILABLE, "gave up waiting for the same message: %v", err), nil)
		return
	}
	if dup {
		s.m.sns.WithLabelValues(m.Type, "duplicate").Inc()
		s.log.Info("sns message already handled", "topic", m.TopicArn, "message_id", m.MessageID)
		writeJSON(c.w, http.StatusOK, map[string]string{"status": "duplicate", "message_id": m.MessageID})
		return
	}
	item, state, warnings, err := DecodeCloudWatchAlarm(m.Message)
	if err != nil {
		finish(false)
		s.m.sns.WithLabelValues(m.Type, "invalid").Inc()
		c.refuse(SourceCloudWatch, err, warnings)
		return
	}
	if item == nil {
		finish(true)
		s.m.sns.WithLabelValues(m.Type, "insufficient_data").Inc()
		s.log.Info("cloudwatch alarm has insufficient data, no alert", "topic", m.TopicArn, "state", state)
		writeJSON(c.w, http.StatusOK, multiResponse{Results: []Result{}, Warnings: []string{"NewStateValue: INSUFFICIENT_DATA, no alert"}})
		return
	}
	// SNS needs a 2xx; 202 would do, 200 is what its docs show.
	ok := s.answer(c, "sns", []Item{*item}, true, warnings, http.StatusOK)
	finish(ok)
	if ok {
		s.m.sns.WithLabelValues(m.Type, "ok").Inc()
	} else {
		s.m.sns.WithLabelValues(m.Type, "error").Inc()
	}
}
