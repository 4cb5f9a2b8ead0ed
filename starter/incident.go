package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress/console"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/workflows"
)

func newIncidentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "List, show, acknowledge, resolve, snooze and re-scan incidents",
		Long:  "IDs may be given with or without the incident- prefix.",
	}
	cmd.AddCommand(newListCmd(g), newShowCmd(g), newAckCmd(g), newResolveCmd(g), newSnoozeCmd(g), newRescanCmd(g))
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newListCmd(g *globals) *cobra.Command {
	var status, severity, rule, env, category, service, since, until string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--status open] [--severity high] [--rule R] [--env E] [--category C] [--service S] [--since 24h] [--until T] [--json]",
		Short: "List incidents from Temporal visibility (search attributes), newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := workflows.ListFilter{Rule: rule, Env: env, Category: category, Service: service, Limit: limit}
			now := time.Now()
			var err error
			if f.Since, err = console.ParseTime(since, now); err != nil {
				return fail("--since: %v", err)
			}
			if f.Until, err = console.ParseTime(until, now); err != nil {
				return fail("--until: %v", err)
			}
			if status != "" {
				st, err := incident.ParseStatus(status)
				if err != nil {
					return fail("--status: %v", err)
				}
				f.Status = st
			}
			if severity != "" {
				sev, err := incident.ParseSeverity(severity)
				if err != nil {
					return fail("--severity: %v", err)
				}
				f.Severity = sev
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			list, err := ic.List(ctx, f)
			if err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []workflows.Summary{}
				}
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tRULE\tENV\tSTARTED")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, s.Severity, s.Rule, dash(s.Env), s.StartedAt.Local().Format("2006-01-02 15:04:05"))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no incidents match:", f.Query())
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "open, acknowledged, snoozed or resolved")
	fl.StringVar(&severity, "severity", "", "info, low, medium, high or critical")
	fl.StringVar(&rule, "rule", "", "exact rule name")
	fl.StringVar(&env, "env", "", "environment")
	fl.StringVar(&category, "category", "", "alert category")
	fl.StringVar(&service, "service", "", "alert service (incidents opened since the IncidentService search attribute exists)")
	fl.StringVar(&since, "since", "", "started at or after: RFC 3339, or an age like 24h or 7d")
	fl.StringVar(&until, "until", "", "started before: RFC 3339, or an age like 1h")
	fl.IntVar(&limit, "limit", 50, "most incidents to list")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show an incident's full state and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			inc, err := ic.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), inc)
			}
			printIncident(cmd.OutOrStdout(), inc)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printIncident(w io.Writer, inc incident.Incident) {
	ts := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
	fmt.Fprintf(w, "%s %s\n", inc.Severity.Emoji(), inc.Title())
	fmt.Fprintf(w, "  id           %s (run %s)\n", inc.ID, inc.RunID)
	fmt.Fprintf(w, "  status       %s\n", inc.Status)
	fmt.Fprintf(w, "  severity     %s\n", inc.Severity)
	fmt.Fprintf(w, "  rule         %s (source %s, env %s)\n", inc.Alert.Rule, inc.Alert.Source, dash(inc.Alert.Env))
	fmt.Fprintf(w, "  occurrences  %d (first %s, last %s)\n", inc.Occurrences, ts(inc.FirstSeen), ts(inc.LastSeen))
	if inc.AcknowledgedBy != "" {
		fmt.Fprintf(w, "  acknowledged %s at %s\n", inc.AcknowledgedBy, ts(inc.AcknowledgedAt))
	}
	if inc.Status == incident.StatusSnoozed {
		fmt.Fprintf(w, "  snoozed      by %s until %s\n", inc.SnoozedBy, ts(inc.SnoozedUntil))
	}
	if inc.SilencedBy != "" {
		fmt.Fprintf(w, "  silenced by  %s (not announced, not escalated)\n", inc.SilencedBy)
	}
	if inc.ParentID != "" {
		fmt.Fprintf(w, "  parent       %s\n", inc.ParentID)
	}
	if len(inc.Children) > 0 {
		fmt.Fprintf(w, "  children     %s\n", strings.Join(inc.Children, ", "))
	}
	if len(inc.Related) > 0 {
		fmt.Fprintf(w, "  related      %s\n", strings.Join(inc.Related, ", "))
	}
	printContext(w, inc)
	if inc.ResolvedBy != "" {
		fmt.Fprintf(w, "  resolved     %s at %s\n", inc.ResolvedBy, ts(inc.ResolvedAt))
	}
	if d, ok := inc.MTTA(); ok {
		fmt.Fprintf(w, "  MTTA         %s\n", d.Round(time.Second))
	}
	if d, ok := inc.MTTR(); ok {
		fmt.Fprintf(w, "  MTTR         %s\n", d.Round(time.Second))
	}
	if inc.Previous != nil {
		fmt.Fprintf(w, "  re-fire of   run %s\n", inc.Previous.RunID)
	}
	if inc.ArchiveURL != "" {
		fmt.Fprintf(w, "  archive      %s\n", inc.ArchiveURL)
	}
	fmt.Fprintln(w, "  timeline:")
	for _, e := range inc.Timeline {
		fmt.Fprintf(w, "    %s  %-12s %-14s %s\n", ts(e.Time), e.Actor, e.Kind, e.Text)
	}
}

// updateCmd builds ack/resolve/snooze/rescan: --by (required), dial, call
// within --timeout, print the result.
func updateCmd(g *globals, use, short string, setup func(*cobra.Command), call func(ctx context.Context, ic *client.Client, id, by string, out io.Writer) (incident.Incident, error), done string) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
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
			var children bytes.Buffer
			inc, err := call(ctx, ic, args[0], by, &children)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", inc.ID, done, inc.Status)
			_, err = children.WriteTo(cmd.OutOrStdout())
			return err
		},
	}
	// --by defaults to $USER so a person at a terminal is named.
	cmd.Flags().StringVar(&by, "by", os.Getenv("USER"), "who is doing this (default $USER)")
	setup(cmd)
	return cmd
}

func newAckCmd(g *globals) *cobra.Command {
	var note string
	var children bool
	return updateCmd(g, "ack ID --by NAME [--children]", "Acknowledge an incident: escalation stops",
		func(c *cobra.Command) {
			c.Flags().StringVar(&note, "note", "", "a note for the timeline")
			c.Flags().BoolVar(&children, "children", false, "also acknowledge the children of a correlation parent")
		},
		func(ctx context.Context, ic *client.Client, id, by string, out io.Writer) (incident.Incident, error) {
			req := workflows.AcknowledgeRequest{By: by, Note: note}
			if !children {
				return ic.Acknowledge(ctx, id, req)
			}
			inc, kids, err := ic.AcknowledgeWithChildren(ctx, id, req)
			printChildren(out, kids, "acknowledged")
			return inc, err
		}, "acknowledged")
}

func newResolveCmd(g *globals) *cobra.Command {
	var note string
	var children bool
	return updateCmd(g, "resolve ID --by NAME [--note TEXT] [--children]", "Resolve an incident: it is archived and closed",
		func(c *cobra.Command) {
			c.Flags().StringVar(&note, "note", "", "what was done")
			c.Flags().BoolVar(&children, "children", false, "also resolve the children of a correlation parent")
		},
		func(ctx context.Context, ic *client.Client, id, by string, out io.Writer) (incident.Incident, error) {
			req := workflows.ResolveRequest{By: by, Note: note}
			if !children {
				return ic.Resolve(ctx, id, req)
			}
			inc, kids, err := ic.ResolveWithChildren(ctx, id, req)
			printChildren(out, kids, "resolved")
			return inc, err
		}, "resolved")
}

// printChildren says what happened to each child; a child already in that
// state is fine, so its refusal is printed, not returned.
func printChildren(out io.Writer, kids []client.ChildOutcome, done string) {
	for _, k := range kids {
		if k.Err != nil {
			fmt.Fprintf(out, "  child %s: %s\n", k.ID, incident.ErrorMessage(k.Err))
			continue
		}
		fmt.Fprintf(out, "  child %s %s: %s\n", k.ID, done, k.Incident.Status)
	}
}

func newSnoozeCmd(g *globals) *cobra.Command {
	var dur time.Duration
	return updateCmd(g, "snooze ID --for 1h", "Snooze an incident: escalation waits until the snooze ends",
		func(c *cobra.Command) { c.Flags().DurationVar(&dur, "for", 0, "how long, like 30m or 2h") },
		func(ctx context.Context, ic *client.Client, id, by string, _ io.Writer) (incident.Incident, error) {
			if dur <= 0 {
				return incident.Incident{}, fail("--for: required, a positive duration like 30m or 2h")
			}
			return ic.Snooze(ctx, id, workflows.SnoozeRequest{By: by, Until: time.Now().Add(dur).UTC()})
		}, "snoozed")
}

func newRescanCmd(g *globals) *cobra.Command {
	return updateCmd(g, "rescan ID --by NAME", "Re-run the incident's source check now",
		func(*cobra.Command) {},
		func(ctx context.Context, ic *client.Client, id, by string, _ io.Writer) (incident.Incident, error) {
			return ic.Rescan(ctx, id, workflows.RescanRequest{By: by})
		}, "re-scanned")
}

// printContext shows the enrichment and the CloudWatch summary, when present.
func printContext(w io.Writer, inc incident.Incident) {
	if e := inc.Enrichment; e != nil {
		if o := e.Owner; o != nil {
			fmt.Fprintf(w, "  owner        %s%s%s\n", o.Team, prefixed(" · ", o.Channel), prefixed(" · runbook ", o.Runbook))
		}
		for _, g := range e.Geo {
			where := firstOf(g.City, g.Country, g.CountryISO)
			if g.ASN != 0 {
				where += fmt.Sprintf(" · AS%d %s", g.ASN, g.ASOrg)
			}
			fmt.Fprintf(w, "  geo          %s (%s): %s\n", g.IP, g.Field, where)
		}
		for _, h := range e.ThreatIntel {
			fmt.Fprintf(w, "  threat intel %s (%s) matches %s in %s: %s\n", h.Indicator, h.Field, h.Match, h.Source, strings.Join(h.Tags, ", "))
		}
	}
	for _, m := range inc.CloudWatch {
		change := "new"
		if m.ChangePct != nil {
			change = fmt.Sprintf("%+.0f%%", *m.ChangePct)
		}
		flag := ""
		if m.Anomalous {
			flag = "  ANOMALOUS"
		}
		fmt.Fprintf(w, "  cloudwatch   %s %s: %g vs %g baseline (%s), peak %g  %s%s\n", m.Label, m.Stat, m.Window, m.Baseline, change, m.Peak, m.Sparkline, flag)
	}
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// firstOf is the first non-empty string: the most precise place name.
func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return "unknown"
}
