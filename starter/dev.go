package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/devapp"
)

func newDevCmd() *cobra.Command {
	m := &devapp.Main{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system locally: Temporal dev server + Web UI, worker, HTTP ingress",
		Long: `dev starts, in the foreground, everything irflow needs on one machine and
stops it all cleanly on Ctrl-C:

  - the pinned Temporal dev server (bin/temporal) with its Web UI, state in
    <home>/temporal.db and irflow's search attributes registered;
  - the worker (console notifier, archive under <home>/archive);
  - a real single-node OpenSearch (data in <home>/opensearch) fed with demo
    app, front-end and WAF logs, with an incident scenario every few minutes;
  - one Temporal Schedule per rule in --rules (default deploy/rules), sweeping
    those logs into incidents;
  - the HTTP ingress: alert webhooks, SNS, /healthz, /readyz, /metrics. Without
    configured tokens, dev makes one and writes it to <home>/ingress-token.

A second dev on the same --home refuses to start instead of sharing its state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m.Out = cmd.OutOrStdout()
			defer m.Close()
			if err := m.Run(ctx); err != nil {
				return err
			}
			<-ctx.Done()
			fmt.Fprintln(m.Out, "\n==> stopping")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Home, "home", "var", "directory for state, logs and the archive")
	f.StringVar(&m.ConfigPath, "config", os.Getenv("IRFLOW_CONFIG"), "worker config YAML (env IRFLOW_CONFIG); defaults when empty")
	f.IntVar(&m.TemporalPort, "temporal-port", 7233, "Temporal gRPC port")
	f.IntVar(&m.UIPort, "ui-port", 8233, "Temporal Web UI port")
	f.StringVar(&m.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP ingress listen address")
	f.StringVar(&m.MetricsAddr, "metrics-addr", "127.0.0.1:9090", "worker /metrics and /healthz listen address")
	f.IntVar(&m.OpenSearchPort, "opensearch-port", 9200, "embedded OpenSearch HTTP port")
	f.BoolVar(&m.NoOpenSearch, "no-opensearch", false, "do not start the embedded OpenSearch, demo logs and rule sweeps")
	f.StringVar(&m.RulesDir, "rules", "deploy/rules", "ElastAlert2 rules swept over the embedded OpenSearch (one Temporal Schedule each)")
	return cmd
}
