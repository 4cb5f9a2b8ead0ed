package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// worker is the real worker binary (workers/) run as a child process, so its
// memory is measured apart from the Slack fake and the load generator.
type worker struct {
	cmd     *exec.Cmd
	metrics string // http://host:port of its /metrics and /healthz
	log     string // its stderr, kept for a failed start
	done    chan error
}

// startWorker builds ./workers into dir and runs it with the config it would
// get in production, from env overrides only: the soak's dev server, the Slack
// fake, an archive directory and the sticky cache bound.
func startWorker(ctx context.Context, dir, temporal, slackURL string, stickyCache int) (*worker, error) {
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	bin := filepath.Join(dir, "worker")
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/irflow/irflow/workers").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build worker: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	w := &worker{metrics: "http://" + addr, log: filepath.Join(dir, "worker.log"), done: make(chan error, 1)}
	logf, err := os.Create(w.log)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(bin)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.Env = append(os.Environ(),
		"IRFLOW_CONFIG=",
		config.EnvTemporalAddress+"="+temporal,
		config.EnvTemporalNamespace+"=default",
		config.EnvMetricsAddr+"="+addr,
		config.EnvArchiveURL+"=file://"+filepath.Join(dir, "archive"),
		config.EnvSlackToken+"=xoxb-soak",
		config.EnvSlackAPIURL+"="+slackURL,
		config.EnvWorkerStickyCacheSize+"="+strconv.Itoa(stickyCache),
	)
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	go func() { w.done <- w.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(w.metrics + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w, nil
			}
		}
		select {
		case err := <-w.done:
			return nil, fmt.Errorf("worker exited before it was healthy: %v\n%s", err, tail(w.log, 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("worker not healthy at %s after a minute\n%s", w.metrics, tail(w.log, 20))
		}
	}
}

// stop sends SIGTERM, as ECS does, and waits for the worker to exit.
func (w *worker) stop() error {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		return err
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		return errors.New("worker did not exit 30s after SIGTERM")
	}
}

// sample is the worker's memory at one moment, next to what it holds.
type sample struct {
	AtS           float64 `json:"at_s"`             // since the worker started
	RSSMB         float64 `json:"rss_mb"`           // VmRSS of the worker process
	HeapInuseMB   float64 `json:"go_heap_inuse_mb"` // go_memstats_heap_inuse_bytes
	Goroutines    int     `json:"goroutines"`       // go_goroutines
	StickyCached  int     `json:"sticky_cached"`    // temporal_sticky_cache_size: workflows cached
	OpenWorkflows int64   `json:"open_incident_workflows"`
}

func (w *worker) sample(ctx context.Context, c temporalclient.Client, since time.Time) sample {
	s := sample{AtS: round2(time.Since(since).Seconds()), RSSMB: round2(float64(rssKB(w.cmd.Process.Pid)) / 1024)}
	m := scrape(w.metrics + "/metrics")
	s.HeapInuseMB = round2(m["go_memstats_heap_inuse_bytes"] / (1 << 20))
	s.Goroutines = int(m["go_goroutines"])
	s.StickyCached = int(m["temporal_sticky_cache_size"])
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: "default",
		Query:     fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = \"Running\"", workflows.IncidentWorkflowName),
	})
	if err == nil {
		s.OpenWorkflows = resp.GetCount()
	} else {
		s.OpenWorkflows = -1
	}
	return s
}

// scrape reads each metric of a Prometheus text page: its value, or the
// highest over its labels. (The SDK's sticky cache gauge has one series per
// workflow type, each the process-wide cache size when a task of that type
// last finished.) A failed scrape gives an empty map.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			if old, ok := out[name]; !ok || v > old {
				out[name] = v
			}
		}
	}
	return out
}

// rssKB is VmRSS of process pid from /proc/<pid>/status, in kB.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
