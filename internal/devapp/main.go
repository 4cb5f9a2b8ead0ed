// Package devapp is `starter dev`: the whole system on one machine, from the
// dev stack's parts (internal/devstack, internal/opensearch, internal/demologs)
// and the production processes (internal/workerapp, internal/ingressapp).
package devapp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/irflow/irflow/internal/devstack"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/ingressapp"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/logpipe"
)

// Main is `starter dev`: the whole system on one machine. Run starts, in
// order, the Temporal dev server, OpenSearch with the demo log feed, the
// worker, the rule Schedules and the ingress, then prints where everything
// is; Close stops them in reverse order.
type Main struct {
	// Home holds state, logs and the archive (made absolute by Run).
	Home string
	// ConfigPath is the config file; defaults apply when empty.
	ConfigPath     string
	TemporalPort   int
	UIPort         int
	HTTPAddr       string
	MetricsAddr    string
	OpenSearchPort int
	// NoOpenSearch skips OpenSearch, the demo logs and the rule sweeps.
	NoOpenSearch bool
	// RulesDir holds the rules swept over the embedded OpenSearch.
	RulesDir string
	// Out receives progress and the banner.
	Out    io.Writer
	Logger *slog.Logger

	// closers run in reverse order on Close.
	closers []func()
}

// Run starts everything and returns once it all runs; ctx ends the demo log
// feed. A second dev on the same home refuses to start.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Out == nil {
		m.Out = io.Discard
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.Home, err = filepath.Abs(m.Home); err != nil {
		return err
	}
	lock, err := devstack.AcquireLock(m.Home)
	if err != nil {
		return incident.Errorf(incident.EINVALID, "%v", err)
	}
	m.onClose(func() { _ = lock.Release() })

	cfg, err := config.Load(m.ConfigPath, nil)
	if err != nil {
		return err
	}
	cfg.Temporal.Address = fmt.Sprintf("127.0.0.1:%d", m.TemporalPort)
	cfg.Temporal.Namespace = "default"
	cfg.Worker.MetricsAddr = m.MetricsAddr
	if m.ConfigPath == "" && os.Getenv(config.EnvArchiveURL) == "" {
		cfg.Archive.URL = "file://" + filepath.Join(m.Home, "archive")
	}

	tmp, err := m.startTemporal(ctx)
	if err != nil {
		return err
	}

	// OpenSearch first: the worker's rule sweeps and re-scans query it.
	searchURL, sweeps := "off (--no-opensearch)", "off"
	enrichLine, cloudwatchLine := "off (--no-opensearch)", "off (--no-opensearch)"
	if !m.NoOpenSearch {
		fmt.Fprintln(m.Out, "==> starting OpenSearch and the demo log feed")
		node, err := m.startOpenSearch(ctx)
		if err != nil {
			return err
		}
		searchURL = node.URL()
		if cfg.Search.URL == "" {
			cfg.Search.URL = node.URL()
		}
		if cfg.Search.RulesDir == "" {
			if _, err := os.Stat(m.RulesDir); err == nil {
				cfg.Search.RulesDir = m.RulesDir
			}
		}
	}

	if !m.NoOpenSearch {
		fmt.Fprintln(m.Out, "==> preparing demo context (GeoIP, threat intel, CloudWatch metrics)")
		if enrichLine, cloudwatchLine, err = m.startContext(ctx, &cfg); err != nil {
			return fmt.Errorf("demo context: %w", err)
		}
		// After the context: the demo logs are enriched on the way in.
		if err := m.startDemoLogs(ctx, cfg, searchURL); err != nil {
			return err
		}
	}

	fmt.Fprintln(m.Out, "==> starting worker")
	w := &workerapp.Main{Config: cfg, Logger: m.Logger, Console: m.Out}
	if err := w.Open(ctx); err != nil {
		return err
	}
	m.onClose(func() { _ = w.Close() })

	if cfg.Search.URL != "" && cfg.Search.RulesDir != "" {
		fmt.Fprintf(m.Out, "==> applying rule schedules from %s\n", cfg.Search.RulesDir)
		n, err := schedules.Apply(ctx, w.Client, schedules.Options{Dir: cfg.Search.RulesDir, Prune: true}, io.Discard)
		if err != nil {
			return fmt.Errorf("apply rule schedules: %w", err)
		}
		sweeps = fmt.Sprintf("%d rules from %s (%d new, %d updated, %d unchanged, %d removed)",
			n.Created+n.Updated+n.Unchanged, cfg.Search.RulesDir, n.Created, n.Updated, n.Unchanged, n.Deleted)
	}

	if m.ConfigPath == "" {
		cfg.Digest.Enabled = true // dev prints the daily digest on the console
	}
	if _, err := schedules.ApplyDigest(ctx, w.Client, cfg.Digest, io.Discard); err != nil {
		return fmt.Errorf("apply the digest schedule: %w", err)
	}

	token, err := devToken(m.Home, &cfg)
	if err != nil {
		return err
	}
	bearer := "$(cat " + token + ")"
	if !strings.HasPrefix(token, "/") {
		bearer = "<one of your configured tokens>"
	}
	consolePassword, err := devConsole(&cfg)
	if err != nil {
		return err
	}
	in := &ingressapp.Main{Config: cfg, Incidents: client.New(w.Client, "default"), Addr: m.HTTPAddr, Logger: m.Logger}
	if err := in.Open(); err != nil {
		return err
	}
	m.onClose(func() { _ = in.Close() })
	addr := strings.TrimPrefix(in.URL(), "http://")

	fmt.Fprintf(m.Out, `
irflow is running (state in %s)
  Temporal Web UI   %s/namespaces/default/workflows
  Temporal gRPC     %s
  HTTP ingress      http://%s   (/v1/alerts, /sns, /healthz, /readyz, /metrics)
  ingress token     %s
  incident console  http://%s/ui/
  console password  %s
  worker metrics    %s/metrics
  OpenSearch        %s
  rule sweeps       %s
  enrichment        %s
  CloudWatch        %s
  archive           %s

Try it:
  curl -H "Authorization: Bearer %s" -H 'Content-Type: application/json' \
       -d @docs/examples/alert.json http://%s/v1/alerts
  bin/starter alert send --file docs/examples/alert.json
  bin/starter incident list
  bin/starter incident ack <ID> --by $USER
  bin/starter incident resolve <ID> --by $USER --note "fixed"

Ctrl-C stops everything.
`, m.Home, tmp.UIURL, tmp.Address, addr, token, addr, consolePassword, w.MetricsURL(), searchURL, sweeps, enrichLine, cloudwatchLine, cfg.Archive.URL, bearer, addr)
	return nil
}

// Close stops what Run started, last first.
func (m *Main) Close() error {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	return nil
}

func (m *Main) onClose(f func()) { m.closers = append(m.closers, f) }

// startTemporal runs the pinned dev server with its log in <home>/temporal.log.
func (m *Main) startTemporal(ctx context.Context) (*devstack.Temporal, error) {
	bin, err := devstack.FindTemporal()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(m.Home, "temporal.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	m.onClose(func() { logFile.Close() })
	fmt.Fprintf(m.Out, "==> starting Temporal dev server (%s, log %s)\n", bin, logPath)
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Home: m.Home, Port: m.TemporalPort, UIPort: m.UIPort, Log: logFile})
	if err != nil {
		return nil, err
	}
	m.onClose(func() { _ = tmp.Stop() })
	return tmp, nil
}

// startOpenSearch runs the embedded node.
func (m *Main) startOpenSearch(ctx context.Context) (*opensearch.Node, error) {
	node, err := opensearch.Start(ctx, opensearch.Options{Home: filepath.Join(m.Home, "opensearch"), HTTPPort: m.OpenSearchPort, Logger: m.Logger})
	if err != nil {
		return nil, fmt.Errorf("start OpenSearch (build it with `make opensearch-jars`, or pass --no-opensearch): %w", err)
	}
	m.onClose(func() { _ = node.Stop() })
	return node, nil
}

// startDemoLogs feeds the demo logs until ctx ends, through the log
// pipeline's transform as production logs arrive (CloudWatch Logs payloads,
// enriched with cfg's enrichment, routed by the demo's routes).
func (m *Main) startDemoLogs(ctx context.Context, cfg config.Config, url string) error {
	c, err := activities.NewSearchClient(url)
	if err != nil {
		return err
	}
	// The demo's own log groups route first, whatever else the config routes.
	cfg.Logs.Routes = append(demologs.LogRoutes(), cfg.Logs.Routes...)
	e, err := enrich.New(cfg.Enrich, m.Logger)
	if err != nil {
		return fmt.Errorf("demo logs: %w", err)
	}
	m.onClose(func() { _ = e.Close() })
	pipeline, err := logpipe.New(cfg.Logs, e)
	if err != nil {
		return fmt.Errorf("demo logs: %w", err)
	}
	feeder := &demologs.Feeder{Client: c, Seed: demoSeed, Logger: m.Logger, Pipeline: pipeline}
	go func() {
		if err := feeder.Run(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			m.Logger.Error("demo log feed stopped", "error", err)
		}
	}()
	return nil
}

// devToken makes sure the dev ingress has a token: the configured ones, or one
// kept in <home>/ingress-token across runs. It returns where the token is.
// devConsole turns the console on with a password made for this run,
// unless the config already chose how people sign in. It returns what the
// banner says about the password.
func devConsole(cfg *config.Config) (string, error) {
	c := &cfg.Ingress.Console
	switch c.Auth {
	case config.ConsoleAuthALB:
		return "none: sign in through the load balancer (ingress.console.auth: alb)", nil
	case config.ConsoleAuthPassword:
		return "(from config / " + config.EnvConsolePassword + ")", nil
	}
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	c.Auth, c.Password = config.ConsoleAuthPassword, base64.RawURLEncoding.EncodeToString(raw[:])
	return c.Password, nil
}

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
	cfg.Ingress.Tokens, cfg.Ingress.TokenSources = map[string]string{"dev": tok}, map[string][]string{"dev": {config.AnySource}} // the dev token may send as any source
	return path, nil
}
