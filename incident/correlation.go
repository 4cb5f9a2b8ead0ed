package incident

import "time"

// MetricSummary is one CloudWatch metric around an alert: its level in the
// window before the alert against the baseline before that window.
type MetricSummary struct {
	// Label is how people see it ("WAF BlockedRequests shop-acl").
	Label      string      `json:"label"`
	Namespace  string      `json:"namespace"`
	Metric     string      `json:"metric"`
	Stat       string      `json:"stat"`
	Dimensions []Dimension `json:"dimensions,omitempty"`
	// Baseline and Window are the mean per period; Peak the window's highest.
	Baseline float64 `json:"baseline"`
	Window   float64 `json:"window"`
	Peak     float64 `json:"peak"`
	// ChangePct is Window against Baseline in percent; absent when the
	// baseline is zero (any activity is then new).
	ChangePct *float64 `json:"change_pct,omitempty"`
	// Sparkline draws the periods, baseline tail then window, in ▁▂▃▄▅▆▇█.
	Sparkline string `json:"sparkline"`
	// Anomalous says the window's peak is out of the baseline's range: above
	// its median by more than 3 robust standard deviations (1.4826 × MAD)
	// and by more than half the median.
	Anomalous bool      `json:"anomalous"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
}

// Dimension is one CloudWatch dimension of a metric.
type Dimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
