package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

func newRulesSigmaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sigma",
		Short: "inspect Sigma rules (docs/sigma.md)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show FILE",
		Short: "print the index and the OpenSearch query a Sigma rule compiles to",
		Long: "Print, as JSON, the index pattern, timestamp field and OpenSearch query the Sigma rule's\n" +
			"detection compiles to, with its logsource mapped through the nearest _sigma.yaml. A sweep\n" +
			"sends this query inside a bool filter with its time range; `rules test` runs the Go\n" +
			"evaluator compiled from the same detection.\n" +
			"\n" +
			"For a correlation rule, also the irflow rule it became: type (frequency for event_count,\n" +
			"cardinality for value_count, temporal), query_key (group-by), timeframe (timespan), the\n" +
			"threshold, and for temporal each referenced rule's query; query is then any of the\n" +
			"referenced rules' queries.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := rules.LoadSigma(args[0])
			if err != nil {
				return incident.Errorf(incident.EINVALID, "%v", err)
			}
			out := sigmaShow{Rule: r.Name, Index: r.Index, TimestampField: r.TimestampField, Severity: r.Severity, Tags: r.Tags, Query: r.RawFilter[0]}
			if r.Type != rules.TypeAny { // a correlation rule
				out.Type, out.QueryKey, out.NumEvents = r.Type, r.QueryKey, r.NumEvents
				out.Timeframe = r.Timeframe.String()
				out.CardinalityField, out.MaxCardinality = r.CardinalityField, r.MaxCardinality
				out.Rules = r.Temporal
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	})
	return cmd
}

// sigmaShow is what `rules sigma show` prints.
type sigmaShow struct {
	Rule           string   `json:"rule"`
	Index          string   `json:"index"`
	TimestampField string   `json:"timestamp_field"`
	Severity       string   `json:"severity,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	// A correlation rule's irflow rule.
	Type             string               `json:"type,omitempty"`
	QueryKey         []string             `json:"query_key,omitempty"`
	Timeframe        string               `json:"timeframe,omitempty"`
	NumEvents        int                  `json:"num_events,omitempty"`
	CardinalityField string               `json:"cardinality_field,omitempty"`
	MaxCardinality   *int                 `json:"max_cardinality,omitempty"`
	Rules            []rules.TemporalRule `json:"rules,omitempty"`
	Query            map[string]any       `json:"query"`
}
