package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

func newSilenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Add, list and expire silences: matching incidents open and count, but are not announced or escalated",
		Long: "Matchers are Alertmanager's: NAME=VALUE, NAME!=VALUE, NAME=~REGEX, NAME!~REGEX (anchored).\n" +
			"Names: source, rule, env, service, category, severity, or any query_key name. See docs/silences.md.",
	}
	cmd.AddCommand(newSilenceAddCmd(g), newSilenceListCmd(g), newSilenceExpireCmd(g))
	return cmd
}

// parseTimeFlag reads an RFC 3339 time flag.
func parseTimeFlag(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fail("--%s: %q is not a time like 2026-12-01T22:00:00Z (RFC 3339)", flag, v)
	}
	return t, nil
}

// silenceRequest turns the add flags into a request, naming the flag that is wrong.
func silenceRequest(cmd *cobra.Command, matchers []string, dur time.Duration, until, starts, comment, by string, endOnResolve bool, now time.Time) (workflows.AddSilenceRequest, error) {
	req := workflows.AddSilenceRequest{Comment: comment, By: strings.TrimSpace(by), EndOnResolve: endOnResolve}
	if req.By == "" {
		return req, fail("--by: required (who is adding the silence)")
	}
	if len(matchers) == 0 {
		return req, fail("--match: at least one, like --match env=prod")
	}
	for _, m := range matchers {
		if _, err := incident.ParseMatcher(m); err != nil {
			return req, fail("--match %s", incident.ErrorMessage(err))
		}
		req.Matchers = append(req.Matchers, m)
	}
	from := now
	if cmd.Flags().Changed("starts") {
		t, err := parseTimeFlag("starts", starts)
		if err != nil {
			return req, err
		}
		req.StartsAt, from = t.UTC(), t
	}
	switch hasFor, hasUntil := cmd.Flags().Changed("for"), cmd.Flags().Changed("until"); {
	case hasFor == hasUntil:
		return req, fail("--for and --until: give one (--for 2h, or --until 2026-12-01T22:00:00Z)")
	case hasFor && dur <= 0:
		return req, fail("--for: must be positive, got %s", dur)
	case hasFor:
		req.EndsAt = from.Add(dur).UTC()
	default:
		t, err := parseTimeFlag("until", until)
		if err != nil {
			return req, err
		}
		req.EndsAt = t.UTC()
	}
	return req, nil
}

func newSilenceAddCmd(g *globals) *cobra.Command {
	var (
		matchers                   []string
		dur                        time.Duration
		until, starts, comment, by string
		endOnResolve               bool
	)
	cmd := &cobra.Command{
		Use:   "add --match NAME=VALUE [--match ...] (--for 2h | --until TIME) [--starts TIME] [--comment TEXT] --by NAME [--end-on-resolve]",
		Short: "Add a silence and print its ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := silenceRequest(cmd, matchers, dur, until, starts, comment, by, endOnResolve, time.Now())
			if err != nil {
				return err
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			s, err := ic.AddSilence(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&matchers, "match", nil, "a matcher, like env=prod or rule=~ssh-.* (repeat: all must hold)")
	fl.DurationVar(&dur, "for", 0, "how long from the start, like 2h")
	fl.StringVar(&until, "until", "", "when it ends (RFC 3339, like 2026-12-01T22:00:00Z)")
	fl.StringVar(&starts, "starts", "", "when it starts (RFC 3339); default now")
	fl.StringVar(&comment, "comment", "", "why, for the people who see it")
	fl.StringVar(&by, "by", os.Getenv("USER"), "who is adding it (default $USER)")
	fl.BoolVar(&endOnResolve, "end-on-resolve", false, "end the silence when the last incident it holds resolves")
	return cmd
}

func newSilenceListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List active and pending silences, and those that ended in the last day",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			list, err := ic.Silences(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tENDS\tMATCHERS\tCOMMENT\tBY")
			for _, s := range list {
				ms := make([]string, len(s.Matchers))
				for i, m := range s.Matchers {
					ms[i] = m.String()
				}
				by := s.CreatedBy
				if s.ExpiredBy != "" {
					by += " (expired by " + s.ExpiredBy + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State(now), s.EndedAt().Local().Format("2006-01-02 15:04"),
					strings.Join(ms, " "), dash(s.Comment), by)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no silences")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSilenceExpireCmd(g *globals) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "expire ID --by NAME",
		Short: "End a silence now: the open incidents it held are announced",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(by) == "" {
				return fail("--by: required (who is doing this)")
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			s, err := ic.ExpireSilence(ctx, args[0], strings.TrimSpace(by))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s expired; %d held incidents told\n", s.ID, len(s.Held))
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", os.Getenv("USER"), "who is doing this (default $USER)")
	return cmd
}
