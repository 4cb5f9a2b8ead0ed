package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/irflow/irflow/activities"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/workerapp"
)

type devOptions struct {
	home           string
	configPath     string
	temporalPort   int
	uiPort         int
	httpAddr       string
	metricsAddr    string
	opensearchPort int
	noOpenSearch   bool
	rulesDir       string
}

func newDevCmd() *cobra.Command {
	o := devOptions{}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.home, "home", "var", "directory for state, logs and the archive")
	f.StringVar(&o.configPath, "config", os.Getenv("IRFLOW_CONFIG"), "worker config YAML (env IRFLOW_CONFIG); defaults when empty")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "Temporal gRPC port")
	f.IntVar(&o.uiPort, "ui-port", 8233, "Temporal Web UI port")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP ingress listen address")
	f.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9090", "worker /metrics and /healthz listen address")
	f.IntVar(&o.opensearchPort, "opensearch-port", 9200, "embedded OpenSearch HTTP port")
	f.BoolVar(&o.noOpenSearch, "no-opensearch", false, "do not start the embedded OpenSearch, demo logs and rule sweeps")
	f.StringVar(&o.rulesDir, "rules", "deploy/rules", "ElastAlert2 rules swept over the embedded OpenSearch (one Temporal Schedule each)")
	return cmd
}

func runDev(cmd *cobra.Command, o devOptions) error {
	out := cmd.OutOrStdout()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	home, err := filepath.Abs(o.home)
	if err != nil {
		return err
	}
	lock, err := devstack.AcquireLock(home)
	if err != nil {
		return fail("%v", err)
	}
	defer lock.Release()

	cfg, err := config.Load(o.configPath, nil)
	if err != nil {
		return err
	}
	cfg.Temporal.Address = fmt.Sprintf("127.0.0.1:%d", o.temporalPort)
	cfg.Temporal.Namespace = "default"
	cfg.Worker.MetricsAddr = o.metricsAddr
	if o.configPath == "" && os.Getenv(config.EnvArchiveURL) == "" {
		cfg.Archive.URL = "file://" + filepath.Join(home, "archive")
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bin, err := devstack.FindTemporal()
	if err != nil {
		return err
	}
	logPath := filepath.Join(home, "temporal.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(out, "==> starting Temporal dev server (%s, log %s)\n", bin, logPath)
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Home: home, Port: o.temporalPort, UIPort: o.uiPort, Log: logFile})
	if err != nil {
		return err
	}
	defer tmp.Stop()

	// OpenSearch first: the worker's rule sweeps and re-scans query it.
	searchURL, sweeps := "off (--no-opensearch)", "off"
	if !o.noOpenSearch {
		fmt.Fprintln(out, "==> starting OpenSearch and the demo log feed")
		node, err := startOpenSearch(ctx, home, o.opensearchPort, logger)
		if err != nil {
			return err
		}
		defer node.Stop()
		searchURL = node.URL()
		if cfg.Search.URL == "" {
			cfg.Search.URL = node.URL()
		}
		if cfg.Search.RulesDir == "" {
			if _, err := os.Stat(o.rulesDir); err == nil {
				cfg.Search.RulesDir = o.rulesDir
			}
		}
	}

	fmt.Fprintln(out, "==> starting worker")
	w := &workerapp.Main{Config: cfg, Logger: logger, Console: out}
	if err := w.Open(ctx); err != nil {
		return err
	}
	defer w.Close()

	if cfg.Search.URL != "" && cfg.Search.RulesDir != "" {
		fmt.Fprintf(out, "==> applying rule schedules from %s\n", cfg.Search.RulesDir)
		n, err := applySchedules(ctx, w.Client, scheduleOptions{Dir: cfg.Search.RulesDir, Prune: true}, io.Discard)
		if err != nil {
			return fmt.Errorf("apply rule schedules: %w", err)
		}
		sweeps = fmt.Sprintf("%d rules from %s (%d new, %d updated, %d unchanged, %d removed)",
			n.Created+n.Updated+n.Unchanged, cfg.Search.RulesDir, n.Created, n.Updated, n.Unchanged, n.Deleted)
	}

	token, err := devToken(home, &cfg)
	if err != nil {
		return err
	}
	bearer := "$(cat " + token + ")"
	if !strings.HasPrefix(token, "/") {
		bearer = "<one of your configured tokens>"
	}
	ic := client.New(w.Client, "default")
	h, wait, err := newIngress(cfg, ic, logger)
	if err != nil {
		return err
	}
	defer wait()
	srv, err := startHTTP(o.httpAddr, h, logger)
	if err != nil {
		return err
	}
	defer shutdownHTTP(srv)

	fmt.Fprintf(out, `
irflow is running (state in %s)
  Temporal Web UI   %s/namespaces/default/workflows
  Temporal gRPC     %s
  HTTP ingress      http://%s   (/v1/alerts, /sns, /healthz, /readyz, /metrics)
  ingress token     %s
  worker metrics    %s/metrics
  OpenSearch        %s
  rule sweeps       %s
  archive           %s

Try it:
  curl -H "Authorization: Bearer %s" -H 'Content-Type: application/json' \
       -d @docs/examples/alert.json http://%s/v1/alerts
  bin/starter alert send --file docs/examples/alert.json
  bin/starter incident list
  bin/starter incident ack <ID> --by $USER
  bin/starter incident resolve <ID> --by $USER --note "fixed"

Ctrl-C stops everything.
`, home, tmp.UIURL, tmp.Address, srv.Addr, token, w.MetricsURL(), searchURL, sweeps, cfg.Archive.URL, bearer, srv.Addr)

	<-ctx.Done()
	fmt.Fprintln(out, "\n==> stopping")
	return nil
}

// devToken makes sure the dev ingress has a token: the configured ones, or one
// kept in <home>/ingress-token across runs. It returns where the token is.
func devToken(home string, cfg *config.Config) (string, error) {
	if len(cfg.Ingress.Tokens) > 0 {
		return "(from config / " + config.EnvIngressTokens + ")", nil
	}
	path := filepath.Join(home, "ingress-token")
	b, err := os.ReadFile(path)
	tok := strings.TrimSpace(string(b))
	if err != nil || tok == "" {
		var raw [24]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		tok = hex.EncodeToString(raw[:])
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	cfg.Ingress.Tokens = map[string]string{"dev": tok}
	return path, nil
}

// startOpenSearch runs the embedded node and the demo log feed until ctx ends.
func startOpenSearch(ctx context.Context, home string, port int, logger *slog.Logger) (*opensearch.Node, error) {
	node, err := opensearch.Start(ctx, opensearch.Options{Home: filepath.Join(home, "opensearch"), HTTPPort: port, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("start OpenSearch (build it with `make opensearch-jars`, or pass --no-opensearch): %w", err)
	}
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		node.Stop()
		return nil, err
	}
	feeder := &demologs.Feeder{Client: client, Seed: 1, Logger: logger}
	go func() {
		if err := feeder.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("demo log feed stopped", "error", err)
		}
	}()
	return node, nil
}
