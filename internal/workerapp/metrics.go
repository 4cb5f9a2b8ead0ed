package workerapp

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkLabels are the Temporal SDK tags kept as Prometheus labels; Prometheus wants
// one fixed label set per metric name, so other tags are dropped.
var sdkLabels = []string{"namespace", "task_queue", "workflow_type", "activity_type", "operation", "poller_type", "worker_type", "status_code"}

// MetricsHandler exposes the Temporal SDK's metrics (task latencies, poller
// counts, activity failures, ...) through a client_golang registry.
type MetricsHandler struct {
	reg  prometheus.Registerer
	tags map[string]string
	vecs *vecs
}

type vecs struct {
	mu         sync.Mutex
	counters   map[string]*prometheus.CounterVec
	gauges     map[string]*prometheus.GaugeVec
	histograms map[string]*prometheus.HistogramVec
}

// NewMetricsHandler registers SDK metrics on reg as they first appear.
func NewMetricsHandler(reg prometheus.Registerer) *MetricsHandler {
	return &MetricsHandler{reg: reg, tags: map[string]string{}, vecs: &vecs{
		counters: map[string]*prometheus.CounterVec{}, gauges: map[string]*prometheus.GaugeVec{}, histograms: map[string]*prometheus.HistogramVec{},
	}}
}

var _ client.MetricsHandler = (*MetricsHandler)(nil)

func (h *MetricsHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &MetricsHandler{reg: h.reg, tags: merged, vecs: h.vecs}
}

func (h *MetricsHandler) labels() prometheus.Labels {
	l := prometheus.Labels{}
	for _, k := range sdkLabels {
		l[k] = h.tags[k]
	}
	return l
}

func promName(name string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(name) }

// register registers c, or returns the collector already registered under its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (h *MetricsHandler) Counter(name string) client.MetricsCounter {
	h.vecs.mu.Lock()
	defer h.vecs.mu.Unlock()
	v, ok := h.vecs.counters[name]
	if !ok {
		v = register(h.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(name), Help: "Temporal SDK counter " + name}, sdkLabels))
		h.vecs.counters[name] = v
	}
	return counter{v.With(h.labels())}
}

func (h *MetricsHandler) Gauge(name string) client.MetricsGauge {
	h.vecs.mu.Lock()
	defer h.vecs.mu.Unlock()
	v, ok := h.vecs.gauges[name]
	if !ok {
		v = register(h.reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName(name), Help: "Temporal SDK gauge " + name}, sdkLabels))
		h.vecs.gauges[name] = v
	}
	return gauge{v.With(h.labels())}
}

func (h *MetricsHandler) Timer(name string) client.MetricsTimer {
	h.vecs.mu.Lock()
	defer h.vecs.mu.Unlock()
	v, ok := h.vecs.histograms[name]
	if !ok {
		v = register(h.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: promName(name) + "_seconds", Help: "Temporal SDK timer " + name, Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, sdkLabels))
		h.vecs.histograms[name] = v
	}
	return timer{v.With(h.labels())}
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(n int64) { c.c.Add(float64(n)) }

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }
