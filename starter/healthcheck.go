package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/healthcheck"
)

func newHealthcheckCmd() *cobra.Command {
	var maxTime time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck URL",
		Short: "exit 0 when GET URL answers 2xx within --max-time, else 1 with the reason (container health checks)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return healthcheck.Check(cmd.Context(), args[0], maxTime)
		},
	}
	cmd.Flags().DurationVar(&maxTime, "max-time", 3*time.Second, "how long to wait for the answer")
	return cmd
}
