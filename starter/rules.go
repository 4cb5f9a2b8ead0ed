package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// progressMinBytes is the data size above which `rules test` draws a progress
// bar (only when stderr is a terminal).
const progressMinBytes = 8 << 20

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "validate ElastAlert2 rule files and backtest them on NDJSON events",
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesTestCmd())
	return cmd
}

func newRulesValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "check rule files (files or directories); exit 1 on any error",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := rules.Files(args...)
			if err != nil {
				return incident.Errorf(incident.EINVALID, "%v", err)
			}
			if len(files) == 0 {
				return incident.Errorf(incident.EINVALID, "no rule files (*.yaml, *.yml) in %s", strings.Join(args, " "))
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			bad := 0
			for _, f := range files {
				r, err := rules.LoadFile(f)
				if err != nil {
					bad++
					fmt.Fprintln(errOut, err)
					continue
				}
				fmt.Fprintf(out, "ok %s (%s, %s)\n", f, r.Name, r.Type)
				if !r.Enabled {
					fmt.Fprintln(out, "  disabled: is_enabled is false")
				}
				if len(r.Ignored) > 0 {
					fmt.Fprintf(out, "  ignored: %s\n", strings.Join(r.Ignored, ", "))
				}
			}
			if bad > 0 {
				return incident.Errorf(incident.EINVALID, "%d of %d rule files invalid", bad, len(files))
			}
			return nil
		},
	}
}

type rulesTestFlags struct {
	rule, data string
	asJSON     bool
	runEvery   time.Duration
}

func newRulesTestCmd() *cobra.Command {
	f := &rulesTestFlags{}
	cmd := &cobra.Command{
		Use:   "test --rule FILE --data EVENTS.ndjson",
		Short: "backtest a rule over NDJSON events in sweeps of run_every and print its matches",
		Long: "Backtest a rule: events are sorted by the rule's timestamp_field and replayed as\n" +
			"consecutive sweeps of --run-every (default: the rule's run_every). Each match prints\n" +
			"as one line (one JSON object with --json), then a summary line\n" +
			"\"N matches, M events, K sweeps\" (on stderr with --json, so stdout stays NDJSON).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRulesTest(cmd, f) },
	}
	cmd.Flags().StringVar(&f.rule, "rule", "", "rule file (required)")
	cmd.Flags().StringVar(&f.data, "data", "", "NDJSON events, one JSON object per line (required; - for stdin)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print matches as NDJSON")
	cmd.Flags().DurationVar(&f.runEvery, "run-every", 0, "sweep length (default: the rule's run_every)")
	_ = cmd.MarkFlagRequired("rule")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

func runRulesTest(cmd *cobra.Command, f *rulesTestFlags) error {
	r, err := rules.LoadFile(f.rule)
	if err != nil {
		return incident.Errorf(incident.EINVALID, "%v", err)
	}
	events, err := readEvents(f.data, cmd.ErrOrStderr())
	if err != nil {
		return incident.Errorf(incident.EINVALID, "%v", err)
	}
	res, err := rules.Backtest(r, events, f.runEvery)
	if err != nil {
		return incident.Errorf(incident.EINVALID, "%v", err)
	}
	out := cmd.OutOrStdout()
	summaryTo := out
	if f.asJSON {
		summaryTo = cmd.ErrOrStderr()
		enc := json.NewEncoder(out)
		for _, m := range res.Matches {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
	} else {
		for _, m := range res.Matches {
			fmt.Fprintln(out, describeMatch(r, m))
		}
	}
	fmt.Fprintf(summaryTo, "%d matches, %d events, %d sweeps\n", len(res.Matches), res.Events, res.Sweeps)
	return nil
}

// matchFields are the ElastAlert2 fields worth a glance in the text output.
var matchFields = []string{"num_hits", "count", "threshold", "spike_count", "reference_count", "old_value",
	"new_value", "new_field", "missing_field", "metric_agg_value", "percentage", "denominator", "cardinality"}

func describeMatch(r *rules.Rule, m rules.Match) string {
	var b strings.Builder
	b.WriteString(m.Time.UTC().Format(time.RFC3339Nano))
	if m.Key != "" {
		fmt.Fprintf(&b, " key=%q", m.Key)
	}
	for _, k := range matchFields {
		if v, ok := m.Fields[k]; ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	for _, k := range r.CompareKey {
		if v, ok := rules.Event(m.Fields).Get(k); ok {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
	}
	return b.String()
}

// readEvents reads NDJSON from a file (or stdin for "-"), drawing a progress
// bar on stderr for large files when stderr is a terminal.
func readEvents(path string, stderr io.Writer) ([]rules.Event, error) {
	var in io.Reader = os.Stdin
	var size int64
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil {
			size = st.Size()
		}
		in = fh
	}
	if size >= progressMinBytes && isTerminal(stderr) {
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("reading "+path),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		r := progressbar.NewReader(in, bar)
		in = &r
		defer bar.Finish()
	}
	var events []rules.Event
	err := rules.ReadNDJSON(in, func(_ int, e rules.Event) error {
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events %s: %w", path, err)
	}
	return events, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
