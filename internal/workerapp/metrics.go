package workerapp

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/workflows"
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
	own        map[string]ownMetric
}

// ownMetric is one of irflow's metrics that workflows and activities emit
// through the SDK's handler: it keeps its own labels (taken from the tags) and
// drops the SDK's.
type ownMetric struct {
	labels    []string
	counter   *prometheus.CounterVec
	gauge     *prometheus.GaugeVec
	histogram *prometheus.HistogramVec
}

// durationBuckets span a second to a week: how long people and sweeps take.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800}

// ownMetrics are the metrics named in workflows/metrics.go and
// activities/metrics.go (a test holds the names and labels together), with
// the labels those emit as tags.
func ownMetrics() map[string]ownMetric {
	counter := func(v *prometheus.CounterVec, labels ...string) ownMetric {
		return ownMetric{labels: labels, counter: v}
	}
	histogram := func(v *prometheus.HistogramVec, labels ...string) ownMetric {
		return ownMetric{labels: labels, histogram: v}
	}
	return map[string]ownMetric{
		workflows.MetricIncidentsOpened: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_incidents_opened_total", Help: "Incidents opened (a re-fire opens a new one), by severity and alert category.",
		}, []string{"severity", "category"}), "severity", "category"),
		workflows.MetricIncidentsResolved: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_incidents_resolved_total", Help: "Incidents resolved, by how: auto (irflow: clean re-scans, source clears) or operator (a person).",
		}, []string{"how"}), "how"),
		workflows.MetricAlertToNotify: histogram(prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "irflow_alert_to_notify_seconds", Help: "From an incident's first alert to its announcement.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600},
		}, nil)),
		workflows.MetricMTTA: histogram(prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "irflow_mtta_seconds", Help: "From an incident's opening to its first acknowledgement.", Buckets: durationBuckets,
		}, nil)),
		workflows.MetricMTTR: histogram(prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "irflow_mttr_seconds", Help: "From an incident's opening to its resolution.", Buckets: durationBuckets,
		}, nil)),
		activities.MetricRuleSweepDuration: histogram(prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "irflow_rule_sweep_duration_seconds", Help: "Duration of one rule sweep attempt (queries and evaluation), by rule.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"rule"}), "rule"),
		activities.MetricRuleSweepErrors: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_rule_sweep_errors_total", Help: "Failed rule sweep attempts, by rule.",
		}, []string{"rule"}), "rule"),
		activities.MetricRuleSweepLag: {labels: []string{"rule"}, gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irflow_rule_sweep_lag_seconds", Help: "How far behind now - query_delay the rule's covered span ended at its last sweep attempt, by rule.",
		}, []string{"rule"})},
		activities.MetricRuleRescanDrift: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_rule_rescan_drift_total", Help: "Rule re-scans whose rule file in search.rules_dir differs from the rule's Schedule (the Schedule's copy is used), by rule.",
		}, []string{"rule"}), "rule"),
		activities.MetricSlackAPIErrors: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_slack_api_errors_total", Help: "Slack Web API calls that failed, by method and Slack's error code (http_<status>, transport).",
		}, []string{"method", "error"}), "method", "error"),
		activities.MetricNotifyFailures: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_notify_failures_total", Help: "Failed notify attempts (post, edit or event), by notifier.",
		}, []string{"notifier"}), "notifier"),
		activities.MetricArchiveFailures: counter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irflow_archive_failures_total", Help: "Failed archive attempts (the activity retries for a day).",
		}, nil)),
	}
}

// NewMetricsHandler registers SDK metrics on reg as they first appear, and
// irflow's own (ownMetrics) at once, so they are on /metrics from the start.
func NewMetricsHandler(reg prometheus.Registerer) *MetricsHandler {
	own := ownMetrics()
	for name, m := range own {
		switch {
		case m.counter != nil:
			m.counter = register(reg, m.counter)
		case m.gauge != nil:
			m.gauge = register(reg, m.gauge)
		default:
			m.histogram = register(reg, m.histogram)
		}
		own[name] = m
	}
	return &MetricsHandler{reg: reg, tags: map[string]string{}, vecs: &vecs{
		counters: map[string]*prometheus.CounterVec{}, gauges: map[string]*prometheus.GaugeVec{}, histograms: map[string]*prometheus.HistogramVec{},
		own: own,
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

// ownLabels are the values of m's labels from the tags ("" when not tagged).
func (h *MetricsHandler) ownLabels(m ownMetric) prometheus.Labels {
	l := prometheus.Labels{}
	for _, k := range m.labels {
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
	if m, ok := h.vecs.own[name]; ok && m.counter != nil {
		return counter{m.counter.With(h.ownLabels(m))}
	}
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
	if m, ok := h.vecs.own[name]; ok && m.gauge != nil {
		return gauge{m.gauge.With(h.ownLabels(m))}
	}
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
	if m, ok := h.vecs.own[name]; ok && m.histogram != nil {
		return timer{m.histogram.With(h.ownLabels(m))}
	}
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
