package workerapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/rules"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/schedules"
	"github.com/irflow/irflow/workflows"
)

// Main is the worker program: Open dials and starts everything, Close stops it.
// Tests run the real program this way, on port 0.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Notifier overrides the configured notifier (the console in dev).
	Notifier activities.Notifier
	// Console is where the console notifier writes when no notifier is set.
	Console io.Writer
	// Client, when set, is used instead of dialing Temporal (and not closed).
	Client temporalclient.Client
	// SNS, when set, is the pager's client instead of one built from the AWS config.
	SNS *sns.Client
	// Checkers and Default re-scan alerts by source.
	Checkers map[string]activities.Checker
	Default  activities.Checker

	Registry *prometheus.Registry

	ownClient bool
	derived   temporalclient.Client // the worker's copy of a given Client
	enricher  *enrich.Enricher
	stop      context.CancelFunc // ends the threat-list reloads
	worker    worker.Worker
	http      *http.Server
	listener  net.Listener
}

// Open dials Temporal, builds the activities' clients, starts the worker and the
// metrics/health listener. It fails fast with a message naming what is wrong.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Registry == nil {
		m.Registry = prometheus.NewRegistry()
		m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if m.Client == nil {
		opts, err := m.Config.Temporal.ClientOptions()
		if err != nil {
			return err
		}
		opts.Logger = log.NewStructuredLogger(m.Logger)
		opts.MetricsHandler = NewMetricsHandler(m.Registry)
		c, err := temporalclient.DialContext(ctx, opts)
		if err != nil {
			return fmt.Errorf("dial temporal at %s (namespace %s): %w", m.Config.Temporal.Address, m.Config.Temporal.Namespace, err)
		}
		m.Client, m.ownClient = c, true
	}
	// tc is the client the worker polls with. A given client (tests, bench)
	// reports metrics to its own handler; the worker uses a copy sharing its
	// connection that reports here, so /metrics shows what workflows and
	// activities did.
	tc := m.Client
	if !m.ownClient {
		c, err := temporalclient.NewClientFromExistingWithContext(ctx, m.Client, temporalclient.Options{
			Namespace: m.Config.Temporal.Namespace, Logger: log.NewStructuredLogger(m.Logger), MetricsHandler: NewMetricsHandler(m.Registry),
		})
		if err != nil {
			return fmt.Errorf("temporal client with the worker's metrics: %w", err)
		}
		tc, m.derived = c, c
	}
	store, err := NewStore(ctx, m.Config.Archive)
	if err != nil {
		return err
	}
	notifier := m.Notifier
	if notifier == nil && m.Config.SlackEnabled() {
		n, err := slack.New(m.Config.Slack, slack.WithLogger(m.Logger))
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		notifier = n
	}
	if notifier == nil {
		out := m.Console
		if out == nil {
			out = io.Discard
		}
		console := activities.NewConsole(out)
		// Shows where Slack would put each incident.
		console.Route = func(inc *incident.Incident) string { return slack.Channel(&m.Config.Slack, inc) }
		notifier = console
	}
	if n := m.Config.Worker.StickyCacheSize; n > 0 {
		worker.SetStickyWorkflowCacheSize(n) // process-wide; taken when the first worker starts
	}
	m.worker = worker.New(tc, workflows.TaskQueue, WorkerOptions(m.Config.Worker))
	search, checkers, err := m.ruleDeps()
	if err != nil {
		return err
	}
	snsClient, err := m.pager(ctx)
	if err != nil {
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	m.stop = stop
	enricher, cw, hooks, err := m.contextDeps(bg)
	if err != nil {
		return err
	}
	m.enricher = enricher
	if cw != nil && checkers[incident.SourceCloudWatch] == nil {
		checkers = maps.Clone(checkers)
		if checkers == nil {
			checkers = map[string]activities.Checker{}
		}
		checkers[incident.SourceCloudWatch] = activities.CheckerFunc(cw.CheckAlarm)
	}
	ic := client.New(m.Client, m.Config.Temporal.Namespace)
	// Rule sweeps and burst parents open incidents as ingress does.
	send := func(ctx context.Context, a incident.Alert) error {
		_, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: a, FirstSeen: a.Time, LastSeen: a.Time})
		return err
	}
	Register(m.worker, Deps{
		Policy: m.Config.Policy(), Notifier: notifier, Store: store, SNS: snsClient,
		Checkers: checkers, Default: m.Default, Temporal: m.Client,
		Search: search, Enricher: enricher, CloudWatch: cw, Hooks: hooks, Digest: m.digest(ic, store, notifier),
		Silences: &activities.Silences{Temporal: m.Client, Windows: m.Config.Silences.Windows()},
		RuleSweeps: &activities.RuleSweeps{
			Temporal: m.Client, Send: send,
		},
		Correlation: &activities.Correlation{
			Temporal: m.Client, Send: send, Rules: m.Config.Correlation.Rules(),
		},
	})
	if err := m.worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if addr := m.Config.Worker.MetricsAddr; addr != "" {
		if err := m.serveHTTP(addr); err != nil {
			return err
		}
	}
	m.Logger.Info("worker started", "task_queue", workflows.TaskQueue, "temporal", m.Config.Temporal.Address,
		"namespace", m.Config.Temporal.Namespace, "archive", m.Config.Archive.URL, "notifier", notifier.Name())
	return nil
}

// WorkerOptions turns the worker section into the SDK's worker options; zero
// values keep the SDK's defaults.
func WorkerOptions(w config.Worker) worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize:      w.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: w.MaxConcurrentLocalActivities,
		MaxConcurrentWorkflowTaskExecutionSize:  w.MaxConcurrentWorkflowTasks,
		MaxConcurrentWorkflowTaskPollers:        w.WorkflowTaskPollers,
		MaxConcurrentActivityTaskPollers:        w.ActivityTaskPollers,
		WorkerStopTimeout:                       time.Duration(w.ShutdownTimeout),
	}
}

// ruleDeps builds the OpenSearch client rule sweeps use (search.url) and,
// with it, the rule re-scan checker for source "rules" unless one was given.
// The checker reads each rule from its Schedule, as sweeps do; rule files in
// search.rules_dir are only compared with the Schedules (a difference is
// logged and counted, the Schedule wins).
func (m *Main) ruleDeps() (*activities.Search, map[string]activities.Checker, error) {
	search := &activities.Search{}
	if u := m.Config.Search.URL; u != "" {
		c, err := activities.NewSearchClient(u)
		if err != nil {
			return nil, nil, fmt.Errorf("search.url: %w", err)
		}
		search.Client = c
	}
	checkers := m.Checkers
	if search.Client != nil && checkers[rules.AlertSource] == nil {
		src, err := schedules.NewRuleSource(m.Client, m.Config.Search.RulesDir, m.Logger)
		if err != nil {
			return nil, nil, fmt.Errorf("search.rules_dir: %w", err)
		}
		checkers = maps.Clone(checkers)
		if checkers == nil {
			checkers = map[string]activities.Checker{}
		}
		checkers[rules.AlertSource] = &activities.RuleCheck{Search: search, Rule: src.Rule}
	}
	return search, checkers, nil
}

func (m *Main) serveHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("worker.metrics_addr: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := m.Client.CheckHealth(ctx, &temporalclient.CheckHealthRequest{}); err != nil {
			http.Error(w, "temporal unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	m.listener = ln
	m.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("metrics listener stopped", "error", err)
		}
	}()
	return nil
}

// MetricsURL is the base URL of the metrics/health listener, once open.
func (m *Main) MetricsURL() string {
	if m.listener == nil {
		return ""
	}
	return "http://" + m.listener.Addr().String()
}

// Close stops polling, lets running activities finish (up to the shutdown
// timeout) and closes what Open dialed.
func (m *Main) Close() error {
	if m.worker != nil {
		m.worker.Stop()
	}
	if m.stop != nil {
		m.stop()
	}
	if m.enricher != nil {
		_ = m.enricher.Close()
	}
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.http.Shutdown(ctx)
	}
	if m.derived != nil {
		m.derived.Close()
	}
	if m.ownClient {
		m.Client.Close()
	}
	return nil
}

// pager builds the SNS client when some escalation level pages a topic.
func (m *Main) pager(ctx context.Context) (*sns.Client, error) {
	if m.SNS != nil {
		return m.SNS, nil
	}
	need := false
	for _, l := range m.Config.Policy().Escalation.Levels {
		for _, t := range l.Targets {
			need = need || t.SNSTopic != ""
		}
	}
	if !need {
		return nil, nil
	}
	awsCfg, err := loadAWS(ctx, m.Config.SNS.Region)
	if err != nil {
		return nil, fmt.Errorf("escalation pages SNS: load AWS config: %w", err)
	}
	return sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		if ep := m.Config.SNS.Endpoint; ep != "" {
			o.BaseEndpoint = &ep
		}
	}), nil
}

// NewStore builds the archive store for s3:// or file:// URLs.
func NewStore(ctx context.Context, a config.Archive) (activities.Store, error) {
	loc, err := a.Location()
	if err != nil {
		return nil, fmt.Errorf("archive.url: %w", err)
	}
	if loc.Scheme == "file" {
		return activities.FileStore{Dir: loc.Where}, nil
	}
	awsCfg, err := loadAWS(ctx, a.S3.Region)
	if err != nil {
		return nil, fmt.Errorf("archive: load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if a.S3.Endpoint != "" {
			o.BaseEndpoint = &a.S3.Endpoint
		}
		o.UsePathStyle = a.S3.ForcePathStyle || a.S3.Endpoint != ""
	})
	return activities.S3Store{Client: s3c, Bucket: loc.Where, Prefix: loc.Prefix}, nil
}
