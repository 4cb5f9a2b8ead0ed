package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/rules"
)

// progressMinBytes is the data size above which `rules test` draws a progress
// bar (only when stderr is a terminal).
const progressMinBytes = 8 << 20

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "validate ElastAlert2 and Sigma rule files and backtest them on NDJSON events or OpenSearch history",
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesTestCmd(), newRulesSigmaCmd()) // sigma: rules_sigma.go
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
	// History in OpenSearch instead of --data.
	url, index, from, to string
}

func newRulesTestCmd() *cobra.Command {
	f := &rulesTestFlags{}
	cmd := &cobra.Command{
		Use:   "test --rule FILE (--data EVENTS.ndjson | --opensearch URL --from TIME [--to TIME] [--index PATTERN])",
		Short: "backtest a rule over NDJSON events, or over history in OpenSearch, and print its matches",
		Long: "Backtest a rule in consecutive sweeps of --run-every (default: the rule's run_every).\n" +
			"\n" +
			"With --data, events are sorted by the rule's timestamp_field and replayed through the\n" +
			"Go evaluator, from the sweep holding the first event to the one holding the last.\n" +
			"\n" +
			"With --opensearch, the rule's index (or --index) is swept over (--from, --to] by the\n" +
			"same code the rule's Schedule runs: aggregation queries for counting types, pages of\n" +
			"documents otherwise, one state carried from sweep to sweep. --from is rounded down to a\n" +
			"multiple of the sweep length (the Schedule fires on those); the last sweep ends at --to\n" +
			"rounded up, but never after now minus query_delay. TIME is RFC 3339\n" +
			"(2026-11-22T10:00:00Z), now, or now-DURATION (now-90m, now-30d, now-2w; or -30d). The first\n" +
			"sweep starts at --from (a new_term rule's first sweep loads its known terms from\n" +
			"terms_window_size before --from, as a live first sweep does). A progress bar shows on\n" +
			"stderr when it is a terminal.\n" +
			"\n" +
			"Each match prints as one line (one JSON object with --json), then a summary line\n" +
			"(on stderr with --json, so stdout stays NDJSON): \"N matches, M events, K sweeps\" for\n" +
			"--data; \"N matches, K sweeps over (FROM, TO], Q queries, B bytes\" for --opensearch.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			if f.url != "" {
				return runRulesHistory(cmd, f, time.Now())
			}
			return runRulesTest(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rule, "rule", "", "rule file (required)")
	fl.StringVar(&f.data, "data", "", "NDJSON events, one JSON object per line (- for stdin); or use --opensearch")
	fl.StringVar(&f.url, "opensearch", "", "OpenSearch URL (like http://127.0.0.1:9200): backtest over the history stored there")
	fl.StringVar(&f.index, "index", "", "with --opensearch: index pattern to sweep instead of the rule's index")
	fl.StringVar(&f.from, "from", "", "with --opensearch: start of the history (RFC 3339, now, now-30d; required)")
	fl.StringVar(&f.to, "to", "now", "with --opensearch: end of the history (RFC 3339, now, now-1h)")
	fl.BoolVar(&f.asJSON, "json", false, "print matches as NDJSON")
	fl.DurationVar(&f.runEvery, "run-every", 0, "sweep length (default: the rule's run_every)")
	_ = cmd.MarkFlagRequired("rule")
	return cmd
}

// check refuses flag combinations by name before any work.
func (f *rulesTestFlags) check(cmd *cobra.Command) error {
	switch {
	case f.data != "" && f.url != "":
		return fail("--data and --opensearch: give one (events from a file, or history from OpenSearch)")
	case f.data == "" && f.url == "":
		return fail("--data or --opensearch: required")
	case f.runEvery < 0:
		return fail("--run-every: must be positive, like 1m")
	}
	if f.data != "" {
		for _, name := range []string{"index", "from", "to"} {
			if cmd.Flags().Changed(name) {
				return fail("--%s: only with --opensearch (--data replays the whole file)", name)
			}
		}
	}
	if f.url != "" && f.from == "" {
		return fail("--from: required with --opensearch (RFC 3339, or now-DURATION like now-30d)")
	}
	return nil
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
	summary := fmt.Sprintf("%d matches, %d events, %d sweeps", len(res.Matches), res.Events, res.Sweeps)
	return printMatches(cmd, r, res.Matches, f.asJSON, summary)
}

// runRulesHistory backtests the rule over OpenSearch through
// activities.Search.Backtest, the sweep code the Schedules run.
func runRulesHistory(cmd *cobra.Command, f *rulesTestFlags, now time.Time) error {
	r, err := rules.LoadFile(f.rule)
	if err != nil {
		return incident.Errorf(incident.EINVALID, "%v", err)
	}
	if f.index != "" {
		r.Index = f.index
	}
	every := f.runEvery
	if every == 0 {
		every = r.RunEvery
	}
	from, to, err := historyRange(f.from, f.to, now, every, r.QueryDelay)
	if err != nil {
		return err
	}
	client, err := activities.NewSearchClient(f.url)
	if err != nil {
		return fail("--opensearch: %v", err)
	}
	errOut := cmd.ErrOrStderr()
	if every > r.BufferTime {
		fmt.Fprintf(errOut, "note: sweeps of %s are longer than buffer_time %s: each sweep reads only the last %s of its span, here as in the Schedule\n",
			every, r.BufferTime, r.BufferTime)
	}
	var progress func(done, total int)
	if isTerminal(errOut) {
		bar := progressbar.NewOptions(int(to.Sub(from)/every),
			progressbar.OptionSetWriter(errOut),
			progressbar.OptionSetDescription("sweeping "+r.Name),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		progress = func(done, _ int) { _ = bar.Set(done) }
		defer bar.Finish()
	}
	res, err := (&activities.Search{Client: client}).Backtest(cmd.Context(), r, from, to, every, progress)
	if err != nil {
		return incident.Errorf(incident.EUNAVAILABLE, "%v", err)
	}
	summary := fmt.Sprintf("%d matches, %d sweeps over (%s, %s], %d queries, %d bytes", len(res.Matches), res.Sweeps,
		res.From.UTC().Format(time.RFC3339), res.To.UTC().Format(time.RFC3339), res.Queries, res.Bytes)
	return printMatches(cmd, r, res.Matches, f.asJSON, summary)
}

// historyRange turns --from and --to into whole sweeps: from rounded down to a
// multiple of every, to rounded up, but not past the last sweep the Schedule
// could have run by now (now minus query_delay, rounded down).
func historyRange(fromFlag, toFlag string, now time.Time, every, queryDelay time.Duration) (from, to time.Time, err error) {
	if from, err = parseWhen(fromFlag, now); err != nil {
		return from, to, fail("--from: %v", err)
	}
	if to, err = parseWhen(toFlag, now); err != nil {
		return from, to, fail("--to: %v", err)
	}
	if !from.Before(to) {
		return from, to, fail("--from %s is not before --to %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	latest := floorSweep(now.Add(-queryDelay), every)
	if from = floorSweep(from, every); !from.Before(latest) {
		return from, to, fail("--from %s: no whole sweep of %s between it and now", from.UTC().Format(time.RFC3339), every)
	}
	if up := floorSweep(to, every); up.Before(to) {
		to = up.Add(every)
	}
	if to.After(latest) {
		to = latest
	}
	return from, to, nil
}

// floorSweep rounds t down to a multiple of every since the Unix epoch, where
// a Temporal interval Schedule without offset fires (time.Truncate counts
// from year 1, which differs for lengths like 7m).
func floorSweep(t time.Time, every time.Duration) time.Time {
	epoch := time.Unix(0, 0).UTC()
	d := t.Sub(epoch)
	down := d / every * every
	if down > d {
		down -= every
	}
	return epoch.Add(down)
}

// parseWhen reads RFC 3339, "now" or "now-DURATION" ("-DURATION" for short;
// Go durations, plus d for days and w for weeks).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if rest, ok := strings.CutPrefix(strings.TrimPrefix(s, "now"), "-"); ok {
		d, err := parseAgo(rest)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 (2026-11-22T10:00:00Z), now or now-DURATION (now-30d), got %q", s)
	}
	return t, nil
}

func parseAgo(s string) (time.Duration, error) {
	for unit, size := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("bad duration %q (want like 30d, 2w, 90m)", s)
			}
			return time.Duration(v) * size, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (want like 30d, 2w, 90m)", s)
	}
	return d, nil
}

// printMatches prints one line per match (NDJSON with asJSON), then the
// summary: on stderr with asJSON, so stdout stays NDJSON.
func printMatches(cmd *cobra.Command, r *rules.Rule, ms []rules.Match, asJSON bool, summary string) error {
	out := cmd.OutOrStdout()
	summaryTo := out
	if asJSON {
		summaryTo = cmd.ErrOrStderr()
		enc := json.NewEncoder(out)
		for _, m := range ms {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
	} else {
		for _, m := range ms {
			fmt.Fprintln(out, describeMatch(r, m))
		}
	}
	fmt.Fprintln(summaryTo, summary)
	return nil
}

// matchFields are the ElastAlert2 fields worth a glance in the text output.
var matchFields = []string{"num_hits", "count", "threshold", "spike_count", "reference_count", "old_value",
	"new_value", "new_field", "missing_field", "metric_agg_value", "percentage", "denominator", "cardinality", rules.TemporalField}

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
