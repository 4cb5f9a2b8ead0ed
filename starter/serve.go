package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/ingressapp"
)

func newServeCmd(g *globals) *cobra.Command {
	var addr, configPath string
	cmd := &cobra.Command{
		Use:   "serve [--http-addr 127.0.0.1:8080] [--config irflow.yaml]",
		Short: "Run the HTTP ingress: alert webhooks, SNS, Slack interactions, the incident console, health, metrics",
		Long: `serve answers:
  POST /v1/alerts, /v1/alerts/elastalert, /v1/alerts/alertmanager  (bearer token)
  POST /sns                                                        (signed SNS)
  POST /slack/interactions, /slack/commands                        (when a signing secret is set)
  GET  /ui/  the incident console: list, incident, overview        (when ingress.console.auth is set; docs/console.md)
  GET  /healthz, /readyz, /metrics

Tokens come from the config's ingress.tokens or IRFLOW_INGRESS_TOKENS="name=token,...".
A token sends alerts only as the source named like it, or as ingress.token_sources
lists for it ("*" for any). The file's temporal section says where to dial;
--address and --namespace given here win.
A 2xx means the alert is durably in Temporal. See docs/ingress.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath, nil)
			if err != nil {
				return err
			}
			// The file's temporal section (TLS, API key) applies; --address and
			// --namespace given on the command line win over it.
			g.override(cmd, &cfg.Temporal)
			ic, closeFn, err := g.dialWith(cmd.Context(), cfg.Temporal)
			if err != nil {
				return err
			}
			defer closeFn()
			m := &ingressapp.Main{Config: cfg, Incidents: ic, Addr: addr, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
			if err := m.Open(); err != nil {
				return err
			}
			defer m.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.OutOrStdout(), "ingress listening on %s\n", m.URL())
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "http-addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&configPath, "config", os.Getenv("IRFLOW_CONFIG"), "config YAML (env IRFLOW_CONFIG)")
	return cmd
}
