// Command bench measures irflow's figures against baselines taken in the same
// run on the same Temporal dev server, and prints them as JSON. `make bench`
// runs it. Progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	temporalclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

const baselineQueue = "irflow-bench-baseline"

// emptyWorkflow is the raw SignalWithStart baseline: it takes the signal and ends.
func emptyWorkflow(ctx workflow.Context) error {
	workflow.GetSignalChannel(ctx, workflows.SignalOccurrence).Receive(ctx, nil)
	return nil
}

// firstActivityWorkflow is the latency floor: start, then one activity.
func firstActivityWorkflow(ctx workflow.Context, id string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, "Reached", id).Get(ctx, nil)
}

// arrivals records when each ID first reached its first activity / notify call.
type arrivals struct {
	mu   sync.Mutex
	seen map[string]chan time.Time
}

func (a *arrivals) wait(id string) chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.seen[id]
	if !ok {
		ch = make(chan time.Time, 1)
		a.seen[id] = ch
	}
	return ch
}

func (a *arrivals) mark(id string) {
	now := time.Now()
	select {
	case a.wait(id) <- now:
	default:
	}
}

// notifier marks the first Post of each incident; the rest is silent.
type notifier struct{ a *arrivals }

func (notifier) Name() string { return "bench" }
func (notifier) Find(context.Context, *incident.Incident) (*incident.MessageRef, error) {
	return nil, nil
}
func (n notifier) Post(_ context.Context, inc *incident.Incident) (*incident.MessageRef, error) {
	n.a.mark(inc.ID)
	return &incident.MessageRef{Notifier: "bench", ID: inc.ID}, nil
}
func (notifier) Update(context.Context, incident.MessageRef, *incident.Incident) error { return nil }
func (notifier) Event(context.Context, incident.MessageRef, *incident.Incident, activities.Event) error {
	return nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

// rate runs n calls of f over conc goroutines and returns calls per second.
func rate(n, conc int, f func(i int) error) (float64, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

type latency struct {
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	N     int     `json:"n"`
}

func summarize(d []time.Duration) latency {
	return latency{P50ms: percentile(d, 0.5), P99ms: percentile(d, 0.99), N: len(d)}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// env is what every bench section shares: one dev server, clients, baselines.
type env struct {
	ctx    context.Context
	home   string
	runID  string
	srv    *devstack.Temporal
	c      temporalclient.Client
	ic     *client.Client
	arr    *arrivals
	worker *workerapp.Main
	// benchCfg is the bench worker's config, which restoreWorker runs again.
	benchCfg config.Config
}

// useWorker stops the env's worker and starts one with cfg and n in its
// place: every worker polls the same task queue, so only one may run.
func (e *env) useWorker(cfg config.Config, n activities.Notifier) error {
	if e.worker != nil {
		if err := e.worker.Close(); err != nil {
			return err
		}
		e.worker = nil
	}
	w := &workerapp.Main{Config: cfg, Client: e.c, Notifier: n, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := w.Open(e.ctx); err != nil {
		return err
	}
	e.worker = w
	return nil
}

// restoreWorker puts the bench worker (bench config and notifier) back, for
// the sections that follow one that swapped it.
func (e *env) restoreWorker() {
	if err := e.useWorker(e.benchCfg, notifier{e.arr}); err != nil {
		progress("reopen the bench worker: %v", err)
	}
}

// section measures one group of figures, in its own file.
type section struct {
	name string
	run  func(e *env) (map[string]any, error)
}

// sections run in this order, listed here rather than registered from each
// file's init: init order follows file names, so renaming a file would reorder
// the runs and change what state (history, warm caches) later sections see.
var sections = []section{
	{"ingress", benchIngress},
	{"incident", benchIncident},
	{"incident-storm", benchIncidentStorm},
	{"rules", benchRules},
	{"rules-elastalert2", benchRulesElastAlert2},
	{"slack", benchSlack},
	{"enrich", benchEnrich},
	{"context", benchContextLatency},
	{"noise", benchNoise},
	{"correlator", benchCorrelator},
	{"logs", benchLogs},
	{"rules-scale", benchRulesScale},
	{"rules-anomaly", benchRulesAnomaly},
	{"console", benchConsole},
	{"rules-sigma", benchRulesSigma},
}

// rawRate is the baseline every throughput figure is compared with: n raw
// SignalWithStart calls of an empty workflow from conc clients.
func (e *env) rawRate(tag string, n, conc int) (float64, error) {
	return rate(n, conc, func(i int) error {
		_, err := e.c.SignalWithStartWorkflow(e.ctx, fmt.Sprintf("raw-%s-%s-%d", e.runID, tag, i), workflows.SignalOccurrence, nil,
			temporalclient.StartWorkflowOptions{TaskQueue: baselineQueue}, "BenchEmpty")
		return err
	})
}

func run() error {
	only := flag.String("only", os.Getenv("BENCH"), "comma-separated sections to run (env BENCH); all when empty")
	flag.Parse()
	ctx := context.Background()
	bin, err := devstack.FindTemporal()
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "irflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	port, uiPort := freePort(), freePort()
	progress("starting Temporal dev server (%s, WAL SQLite in %s)", bin, home)
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Home: home, Port: port, UIPort: uiPort, Log: io.Discard})
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := temporalclient.Dial(temporalclient.Options{HostPort: srv.Address, Logger: devstack.QuietLogger})
	if err != nil {
		return err
	}
	defer c.Close()

	arr := &arrivals{seen: map[string]chan time.Time{}}
	base := worker.New(c, baselineQueue, worker.Options{})
	base.RegisterWorkflowWithOptions(emptyWorkflow, workflow.RegisterOptions{Name: "BenchEmpty"})
	base.RegisterWorkflowWithOptions(firstActivityWorkflow, workflow.RegisterOptions{Name: "BenchFirstActivity"})
	base.RegisterActivityWithOptions(func(_ context.Context, id string) error { arr.mark(id); return nil }, activity.RegisterOptions{Name: "Reached"})
	if err := base.Start(); err != nil {
		return err
	}
	defer base.Stop()

	cfg := config.Default()
	cfg.Worker.MetricsAddr = ""
	cfg.Archive.URL = "file://" + filepath.Join(home, "archive")
	w := &workerapp.Main{Config: cfg, Client: c, Notifier: notifier{arr}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := w.Open(ctx); err != nil {
		return err
	}
	defer w.Close()
	e := &env{ctx: ctx, home: home, runID: time.Now().Format("150405"), srv: srv, c: c, ic: client.New(c, "default"), arr: arr, worker: w, benchCfg: cfg}

	out := map[string]any{
		"machine": map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version(), "temporal_cli": devstack.TemporalVersion, "sqlite": "wal, synchronous=normal"},
	}
	want := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	var failed []string
	for _, s := range sections {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		progress("== section %s", s.name)
		figures, err := s.run(e)
		if err != nil {
			// The other sections' figures still print; the failure is in the JSON and the exit code.
			progress("section %s failed: %v", s.name, err)
			failed = append(failed, s.name)
			out[s.name+"_error"] = err.Error()
		}
		for k, v := range figures {
			out[k] = v
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("sections failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

func roundAll(fs []float64) []float64 {
	out := make([]float64, len(fs))
	for i, f := range fs {
		out[i] = round2(f)
	}
	return out
}
