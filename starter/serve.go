package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/ingress/slackapp"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
)

func newServeCmd(g *globals) *cobra.Command {
	var addr, configPath string
	cmd := &cobra.Command{
		Use:   "serve [--http-addr 127.0.0.1:8080] [--config irflow.yaml]",
		Short: "Run the HTTP ingress: alert webhooks, SNS, Slack interactions, health, metrics",
		Long: `serve answers:
  POST /v1/alerts, /v1/alerts/elastalert, /v1/alerts/alertmanager  (bearer token)
  POST /sns                                                        (signed SNS)
  POST /slack/interactions, /slack/commands                        (when a signing secret is set)
  GET  /healthz, /readyz, /metrics

Tokens come from the config's ingress.tokens or IRFLOW_INGRESS_TOKENS="source=token,...".
A 2xx means the alert is durably in Temporal. See docs/ingress.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configPath, nil)
			if err != nil {
				return err
			}
			ic, closeFn, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
			h, wait, err := newIngress(cfg, ic, logger)
			if err != nil {
				return err
			}
			defer wait()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := startHTTP(addr, h, logger)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ingress listening on http://%s\n", srv.Addr)
			<-ctx.Done()
			return shutdownHTTP(srv)
		},
	}
	cmd.Flags().StringVar(&addr, "http-addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&configPath, "config", os.Getenv("IRFLOW_CONFIG"), "config YAML (env IRFLOW_CONFIG)")
	return cmd
}

// newIngress builds the HTTP ingress, with the Slack handlers mounted when a
// signing secret is configured. wait lets in-flight Slack button work finish.
func newIngress(cfg config.Config, ic *client.Client, logger *slog.Logger) (http.Handler, func(), error) {
	srv, err := ingress.NewServer(cfg.IngressConfig(), ic, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("ingress.%s", incident.ErrorMessage(err))
	}
	wait := func() {}
	if scfg, ok := cfg.SlackAppConfig(); ok {
		if cfg.SlackEnabled() {
			n, err := slack.New(cfg.Slack, slack.WithLogger(logger))
			if err != nil {
				return nil, nil, fmt.Errorf("slack: %w", err)
			}
			scfg.GroupMembers = slackapp.UserGroupMembers(n.Client())
		}
		if err := scfg.Validate(); err != nil {
			return nil, nil, fmt.Errorf("ingress.%s", incident.ErrorMessage(err))
		}
		h := slackapp.NewHandler(scfg, ic, logger)
		srv.Handle("/slack/", h)
		wait = h.Wait
	}
	return srv.Handler(), wait, nil
}

func startHTTP(addr string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr: listen %s: %w", addr, err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http listener stopped", "error", err)
		}
	}()
	return srv, nil
}

func shutdownHTTP(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
