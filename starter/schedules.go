package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/schedules"
)

func newSchedulesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "manage the Temporal Schedules that sweep detection rules",
	}
	var dir, configPath string
	var prune bool
	var catchup time.Duration
	apply := &cobra.Command{
		Use:   "apply [--rules DIR] [--prune] [--config FILE]",
		Short: "create or update one Schedule per enabled rule (at its run_every); --prune deletes the rest",
		Long: "Each enabled rule gets a Schedule rule-<name> that every run_every starts a small workflow\n" +
			"waking the rule's sweep workflow rulesweep-<name> (overlap: skip). The rule file's content\n" +
			"travels in the Schedule, so re-applying after an edit updates it. Applying again without\n" +
			"changes changes nothing. --prune deletes rule Schedules (and stops their sweep workflows)\n" +
			"whose rule is gone or disabled. With --config, the daily digest Schedule irflow-digest is made to\n" +
			"match the file's digest: section (deleted when digest.enabled is false); --prune never deletes it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The file first: a bad one changes no Schedule.
			var cfg config.Config
			if configPath != "" {
				var err error
				if cfg, err = config.Load(configPath, nil); err != nil {
					return err
				}
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout+time.Minute)
			defer cancel()
			if _, err = schedules.Apply(ctx, ic.Temporal, schedules.Options{Dir: dir, Prune: prune, Catchup: catchup}, cmd.OutOrStdout()); err != nil {
				return err
			}
			if configPath != "" {
				_, err = schedules.ApplyDigest(ctx, ic.Temporal, cfg.Digest, cmd.OutOrStdout())
			}
			return err
		},
	}
	apply.Flags().StringVar(&dir, "rules", "deploy/rules", "directory of rule files")
	apply.Flags().StringVar(&configPath, "config", "", "irflow config file: also create, update or delete the daily digest Schedule from its digest: section")
	apply.Flags().BoolVar(&prune, "prune", false, "delete rule Schedules whose rule file is gone or disabled")
	apply.Flags().DurationVar(&catchup, "catchup", 5*time.Minute, "how late a missed run may still start (after an outage, one sweep covers the gap)")
	cmd.AddCommand(apply)
	return cmd
}
