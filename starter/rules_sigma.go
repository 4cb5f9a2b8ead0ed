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
			"evaluator compiled from the same detection.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := rules.LoadSigma(args[0])
			if err != nil {
				return incident.Errorf(incident.EINVALID, "%v", err)
			}
			out := struct {
				Rule           string         `json:"rule"`
				Index          string         `json:"index"`
				TimestampField string         `json:"timestamp_field"`
				Severity       string         `json:"severity,omitempty"`
				Tags           []string       `json:"tags,omitempty"`
				Query          map[string]any `json:"query"`
			}{r.Name, r.Index, r.TimestampField, r.Severity, r.Tags, r.RawFilter[0]}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	})
	return cmd
}
