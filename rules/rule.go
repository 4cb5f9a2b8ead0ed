// Package rules loads, validates and evaluates ElastAlert2-compatible detection
// rules. It is pure Go: the evaluator works on in-memory events and a
// serializable State, so a Temporal workflow can carry the state between sweeps,
// and query.go builds the OpenSearch request a sweep sends instead.
package rules

import (
	"encoding/json"
	"time"
)

// Rule types, spelled as in ElastAlert2.
const (
	TypeAny               = "any"
	TypeBlacklist         = "blacklist"
	TypeWhitelist         = "whitelist"
	TypeChange            = "change"
	TypeFrequency         = "frequency"
	TypeSpike             = "spike"
	TypeFlatline          = "flatline"
	TypeNewTerm           = "new_term"
	TypeCardinality       = "cardinality"
	TypeMetricAggregation = "metric_aggregation"
	TypeSpikeAggregation  = "spike_aggregation"
	TypePercentageMatch   = "percentage_match"
)

// Types lists the supported rule types in the order docs and errors print them.
var Types = []string{TypeAny, TypeBlacklist, TypeWhitelist, TypeChange, TypeFrequency,
	TypeSpike, TypeFlatline, TypeNewTerm, TypeCardinality, TypeMetricAggregation,
	TypeSpikeAggregation, TypePercentageMatch, TypeAnomaly, TypeRare}

// Rule is one validated rule file (after import chains and ${VAR} expansion).
// Durations are zero when unset unless a default is documented.
type Rule struct {
	File string `json:"file"`
	Name string `json:"name"`
	Type string `json:"type"`

	Index string `json:"index"`
	// Filter holds the rule's filter list compiled for Go evaluation; RawFilter the
	// same list as written, to pass through to OpenSearch unchanged.
	Filter    []Filter         `json:"-"`
	RawFilter []map[string]any `json:"filter,omitempty"`
	// QueryKey has one field, or several for a compound query_key; the key of an
	// event is the values joined with ", " as ElastAlert2 does.
	QueryKey []string `json:"query_key,omitempty"`

	Timeframe          time.Duration `json:"timeframe,omitempty"`
	RunEvery           time.Duration `json:"run_every,omitempty"`   // default 1m
	BufferTime         time.Duration `json:"buffer_time,omitempty"` // default 15m
	QueryDelay         time.Duration `json:"query_delay,omitempty"`
	Realert            time.Duration `json:"realert"` // default 1m; 0 disables silencing
	ExponentialRealert time.Duration `json:"exponential_realert,omitempty"`

	NumEvents      int      `json:"num_events,omitempty"`
	Threshold      float64  `json:"threshold,omitempty"`
	ThresholdRef   *float64 `json:"threshold_ref,omitempty"`
	ThresholdCur   *float64 `json:"threshold_cur,omitempty"`
	SpikeHeight    float64  `json:"spike_height,omitempty"`
	SpikeType      string   `json:"spike_type,omitempty"`
	AlertOnNewData bool     `json:"alert_on_new_data,omitempty"`
	FieldValue     string   `json:"field_value,omitempty"`

	CompareKey []string `json:"compare_key,omitempty"`
	IgnoreNull bool     `json:"ignore_null,omitempty"`
	Blacklist  []string `json:"blacklist,omitempty"`
	Whitelist  []string `json:"whitelist,omitempty"`

	// Fields are the new_term fields; an entry with several names is a composite term.
	Fields          [][]string    `json:"fields,omitempty"`
	TermsWindowSize time.Duration `json:"terms_window_size,omitempty"` // default 30 days
	WindowStepSize  time.Duration `json:"window_step_size,omitempty"`  // seeding step; default 1 day
	AlertOnMissing  bool          `json:"alert_on_missing_field,omitempty"`

	CardinalityField string `json:"cardinality_field,omitempty"`
	MaxCardinality   *int   `json:"max_cardinality,omitempty"`
	MinCardinality   *int   `json:"min_cardinality,omitempty"`

	MetricAggKey  string   `json:"metric_agg_key,omitempty"`
	MetricAggType string   `json:"metric_agg_type,omitempty"`
	MaxThreshold  *float64 `json:"max_threshold,omitempty"`
	MinThreshold  *float64 `json:"min_threshold,omitempty"`

	// Temporal are a Sigma temporal correlation's rules (temporal.go).
	Temporal []TemporalRule `json:"temporal,omitempty"`

	MatchBucketFilter    []Filter         `json:"-"`
	RawMatchBucketFilter []map[string]any `json:"match_bucket_filter,omitempty"`
	MinDenominator       int              `json:"min_denominator,omitempty"`
	MaxPercentage        *float64         `json:"max_percentage,omitempty"`
	MinPercentage        *float64         `json:"min_percentage,omitempty"`

	TimestampField string   `json:"timestamp_field"` // default @timestamp
	TimestampType  string   `json:"timestamp_type"`  // iso (default), unix, unix_ms
	UseCountQuery  bool     `json:"use_count_query,omitempty"`
	UseTermsQuery  bool     `json:"use_terms_query,omitempty"`
	TermsSize      int      `json:"terms_size,omitempty"` // default 50
	TopCountKeys   []string `json:"top_count_keys,omitempty"`
	Include        []string `json:"include,omitempty"`

	AlertText        string   `json:"alert_text,omitempty"`
	AlertTextArgs    []string `json:"alert_text_args,omitempty"`
	AlertSubject     string   `json:"alert_subject,omitempty"`
	AlertSubjectArgs []string `json:"alert_subject_args,omitempty"`
	Enabled          bool     `json:"is_enabled"`

	// irflow extras.
	Owner       string `json:"owner,omitempty"`
	Priority    int    `json:"priority,omitempty"`
	Category    string `json:"category,omitempty"`
	Description string `json:"description,omitempty"`
	Env         string `json:"env,omitempty"`
	Severity    string `json:"severity,omitempty"`
	// Tags are a Sigma rule's tags (ATT&CK); alerts carry them in TagsField.
	Tags []string `json:"tags,omitempty"`

	// SlackChannel is slack_channel_override: the rule's incidents are
	// announced there, ahead of the configured routes.
	SlackChannel string `json:"slack_channel,omitempty"`
	// Ignored lists accepted ElastAlert2 options irflow does not act on (alerters
	// and the like), sorted, so the CLI can say so.
	Ignored         []string `json:"ignored,omitempty"`
	Options                  // ElastAlert2 options implemented in options.go
	BaselineOptions          // anomaly and rare (baseline.go)

	c *compiled // field paths resolved on first use
}

// Match is one alert produced by a rule: the triggering event (or a synthetic
// one for counting types) plus the ElastAlert2 match fields (num_hits,
// spike_count, old_value, metric_<field>_<agg>, ...).
type Match struct {
	Time   time.Time      `json:"time"`
	Key    string         `json:"key,omitempty"`
	Fields map[string]any `json:"fields"`
}

// MarshalJSON prints the match as ElastAlert2 would hand it to an alerter: the
// fields with @timestamp (RFC 3339) and key merged in.
func (m Match) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(m.Fields)+2)
	for k, v := range m.Fields {
		out[k] = v
	}
	out["@timestamp"] = m.Time.UTC().Format(time.RFC3339Nano)
	if m.Key != "" {
		out["key"] = m.Key
	}
	return json.Marshal(out)
}

// Counting reports whether OpenSearch can evaluate the rule with aggregations
// (size 0) instead of fetching documents. A spike on field_value compares
// the field's values event by event, so it reads the documents.
func (r *Rule) Counting() bool {
	switch r.Type {
	case TypeSpike:
		return r.FieldValue == ""
	case TypeFrequency, TypeFlatline, TypeCardinality, TypeMetricAggregation,
		TypeSpikeAggregation, TypePercentageMatch, TypeAnomaly, TypeRare, TypeTemporal:
		return true
	}
	return false
}
