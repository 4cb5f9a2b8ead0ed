package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/demologs"
)

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "demo", Short: "Demo data: the logs `starter dev` feeds into OpenSearch"}
	var out string
	var seed int64
	var dur time.Duration
	var end string
	logs := &cobra.Command{
		Use:   "logs --out FILE.ndjson [--for 30m] [--end RFC3339] [--seed 1]",
		Short: "Write demo app, front-end and WAF logs (with incident scenarios) as NDJSON",
		Long: `logs writes the same documents starter dev indexes: uc-be-* app logs, us-fe-*
front-end logs and waf-logs-* AWS WAF logs, one JSON object a line with its
_index, including the scenarios (5xx spike, WAF core-rule-set burst, login
failures from one IP, slow route) every few minutes. Use it to backtest rules:

  bin/starter demo logs --out /tmp/demo.ndjson --for 30m
  bin/starter rules test --rule deploy/rules/<rule>.yaml --data /tmp/demo.ndjson`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fail("--out: required (a path, or - for stdout)")
			}
			if dur <= 0 {
				return fail("--for: must be positive, like 30m")
			}
			to := time.Now().UTC()
			if end != "" {
				t, err := time.Parse(time.RFC3339, end)
				if err != nil {
					return fail("--end: want RFC3339 like 2026-11-22T10:00:00Z: %v", err)
				}
				to = t
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return fail("--out: %v", err)
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 1<<16)
			if err := demologs.WriteNDJSON(bw, demologs.Generate(seed, to.Add(-dur), to, demologs.Options{})); err != nil {
				return fmt.Errorf("write demo logs: %w", err)
			}
			return bw.Flush()
		},
	}
	logs.Flags().StringVar(&out, "out", "", "NDJSON file to write, or - for stdout")
	logs.Flags().DurationVar(&dur, "for", 30*time.Minute, "how much time the logs cover, ending at --end")
	logs.Flags().StringVar(&end, "end", "", "end of the range (RFC3339; default now)")
	logs.Flags().Int64Var(&seed, "seed", 1, "the same seed gives the same logs")
	cmd.AddCommand(logs)
	return cmd
}
