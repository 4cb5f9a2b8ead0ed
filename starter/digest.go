package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// digestWait is how long `digest run` waits for the workflow beyond --timeout:
// collecting a busy day reads every incident.
const digestWait = 5 * time.Minute

func newDigestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "The daily digest: build it now, print it or post it",
	}
	var since time.Duration
	var dryRun, asJSON bool
	var channel string
	run := &cobra.Command{
		Use:   "run [--since 24h] [--dry-run] [--channel C]",
		Short: "Run the digest workflow over the last --since and wait for it; --dry-run prints it and posts nothing",
		Long: "Runs DigestWorkflow on the worker through Temporal, over the window ending now, and waits.\n" +
			"Without --dry-run the digest is posted (to --channel, else the worker's digest.channel) and saved\n" +
			"to the archive as digests/<date>.json and .md; the command prints where. With --dry-run the\n" +
			"digest's Markdown is printed and nothing is posted or saved. See docs/digest.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since <= 0 || since > config.MaxDigestSince {
				return fail("--since: must be between 1s and %s (31 days), got %s", config.MaxDigestSince, since)
			}
			if channel != "" && !incident.ValidChannel(channel) {
				return fail("--channel: %q is not a Slack channel name (#lowercase-name) or ID", channel)
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			wait := g.timeout + digestWait
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			run, err := ic.Temporal.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{
				ID:        workflows.DigestRunWorkflowID(time.Now()),
				TaskQueue: workflows.TaskQueue,
				// A digest nobody waits for any more is not posted late.
				WorkflowExecutionTimeout: wait,
			}, workflows.DigestWorkflowName, workflows.DigestInput{Since: since, Channel: channel, DryRun: dryRun})
			if err != nil {
				return incident.Errorf(incident.EUNAVAILABLE, "start the digest workflow: %v", err)
			}
			var res workflows.DigestResult
			if err := run.Get(ctx, &res); err != nil {
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					return incident.Errorf(incident.EUNAVAILABLE, "digest %s not done after %s: is the worker running?", run.GetID(), wait)
				}
				return fmt.Errorf("digest %s: %w", run.GetID(), err)
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				return printJSON(out, res)
			case dryRun:
				fmt.Fprint(out, res.Markdown)
				return nil
			}
			fmt.Fprintf(out, "%s\nposted to %s\n", res.Digest.Headline(), res.Channel)
			for _, u := range res.ArchiveURLs {
				fmt.Fprintf(out, "saved %s\n", u)
			}
			return nil
		},
	}
	fl := run.Flags()
	fl.DurationVar(&since, "since", workflows.DefaultDigestSince, "the window, ending now")
	fl.BoolVar(&dryRun, "dry-run", false, "print the digest's Markdown; post and save nothing")
	fl.StringVar(&channel, "channel", "", "post here instead of the worker's digest.channel")
	fl.BoolVar(&asJSON, "json", false, "print the workflow's result as JSON")
	cmd.AddCommand(run)
	return cmd
}
