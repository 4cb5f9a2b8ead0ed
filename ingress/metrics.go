package ingress

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/irflow/irflow/incident"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	accepted  *prometheus.CounterVec
	signals   prometheus.Counter
	coalesced prometheus.Counter
	clears    *prometheus.CounterVec
	sns       *prometheus.CounterVec
	panics    prometheus.Counter
	received  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_ingress_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "irflow_ingress_request_duration_seconds", Help: "HTTP request latency, including the wait for Temporal.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_ingress_alerts_accepted_total", Help: "Alerts durably signalled to an incident, by endpoint.",
		}, []string{"endpoint"}),
		signals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "irflow_ingress_signals_total", Help: "Occurrence signals sent to Temporal (after coalescing).",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "irflow_ingress_coalesced_total", Help: "Alerts that rode in another alert's signal instead of their own.",
		}),
		clears: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_ingress_clears_total", Help: "Source clears (resolved, OK) by result: cleared or not_found.",
		}, []string{"result"}),
		sns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_ingress_sns_messages_total", Help: "SNS messages by type and result (ok, rejected, confirmed, insufficient_data, invalid, error).",
		}, []string{"type", "result"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "irflow_ingress_panics_total", Help: "Handler panics recovered; any value above zero is a bug.",
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_alerts_received_total", Help: "Alerts (firing or resolved) decoded from authenticated requests, by source, whatever happened to them next.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_alerts_rejected_total", Help: "Requests to the alert endpoints answered with a refusal (4xx) or 503, by source and reason.",
		}, []string{"source", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.accepted, m.signals, m.coalesced, m.clears, m.sns, m.panics, m.received, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts requests and observes latency under a fixed endpoint
// label, so unknown paths cannot blow up label cardinality.
func (s *Server) instrument(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			s.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
			s.m.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// recoverer turns a panic into a 500 and a log line; decoders are fuzzed so
// this is a seatbelt, not a plan.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.m.panics.Inc()
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				writeError(w, incident.Errorf(incident.EINTERNAL, "internal error"), nil)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// Source label values for a source the request did not reveal.
const sourceUnknown, sourceOther = "unknown", "other"

// maxExtraSources bounds the source label for sources no token names (a "*"
// token can send any), so a sender cannot grow the metrics without bound.
const maxExtraSources = 64

// sourceLabels turns a source name into a metrics label value: names are
// folded like fingerprints fold them; configured sources always keep their
// own value, the first maxExtraSources others too, the rest are "other".
type sourceLabels struct {
	mu    sync.Mutex
	known map[string]bool
	extra int
}

func newSourceLabels(names ...string) *sourceLabels {
	l := &sourceLabels{known: map[string]bool{sourceUnknown: true}}
	for _, n := range names {
		l.known[foldName(n)] = true
	}
	return l
}

func (l *sourceLabels) label(source string) string {
	s := foldName(source)
	if s == "" {
		return sourceUnknown
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known[s] {
		return s
	}
	if l.extra >= maxExtraSources {
		return sourceOther
	}
	l.extra++
	l.known[s] = true
	return s
}

// foldName is how incident.Fingerprint compares names.
func foldName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
