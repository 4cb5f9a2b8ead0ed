// Package devstack starts the real parts of irflow's dev mode on one machine:
// the pinned Temporal CLI dev server (with Web UI and irflow's search
// attributes) and a lock so two `starter dev` runs never share a home.
package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/irflow/irflow/internal/checkout"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/irflow/irflow/workflows"
)

// TemporalVersion is the pinned CLI the Makefile installs into bin/.
const TemporalVersion = "v1.5.1"

// EnvTemporalBin overrides where the temporal binary is found.
const EnvTemporalBin = "IRFLOW_TEMPORAL_BIN"

// FindTemporal returns the pinned temporal binary: $IRFLOW_TEMPORAL_BIN, then
// bin/temporal beside the running executable, then bin/temporal in the module
// root above the working directory.
func FindTemporal() (string, error) {
	if p := os.Getenv(EnvTemporalBin); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvTemporalBin, p, err)
		}
		return p, nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if root, err := checkout.Root(); err == nil {
		p := filepath.Join(root, "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("temporal CLI not found (looked at %v): run `make bin/temporal` to build the pinned %s, or set %s", tried, TemporalVersion, EnvTemporalBin)
}

// TemporalOptions configure the dev server.
type TemporalOptions struct {
	Bin    string
	Home   string // SQLite file lives here
	Port   int
	UIPort int
	Log    io.Writer
}

// Temporal is a running dev server.
type Temporal struct {
	Address  string
	UIURL    string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	exitErr  error
	stopOnce sync.Once
}

// DevServerArgs are the flags irflow passes to `temporal server start-dev`:
// WAL SQLite (measured about 2x SignalWithStart/s over the default journal) and
// the incident search attributes.
func DevServerArgs(dbFile string, port, uiPort int) []string {
	args := []string{"server", "start-dev",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort),
		"--log-level", "warn",
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
	}
	if dbFile != "" {
		args = append(args, "--db-filename", dbFile)
	}
	for _, sa := range workflows.SearchAttributes {
		args = append(args, "--search-attribute", sa.GetName()+"=Keyword")
	}
	return args
}

// StartTemporal starts the dev server and waits until it answers.
func StartTemporal(ctx context.Context, o TemporalOptions) (*Temporal, error) {
	if err := os.MkdirAll(o.Home, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Home, err)
	}
	cmd := exec.Command(o.Bin, DevServerArgs(filepath.Join(o.Home, "temporal.db"), o.Port, o.UIPort)...)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	// Its own process group: Ctrl-C reaches us first, and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start temporal dev server: %w", err)
	}
	t := &Temporal{
		Address: fmt.Sprintf("127.0.0.1:%d", o.Port),
		UIURL:   fmt.Sprintf("http://127.0.0.1:%d", o.UIPort),
		cmd:     cmd, exited: make(chan struct{}),
	}
	go func() { t.exitErr = cmd.Wait(); close(t.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: t.Address, Logger: quiet{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return t, nil
			}
		}
		select {
		case <-t.exited:
			return nil, fmt.Errorf("temporal dev server exited during start (%v; is port %d or %d taken?); see its log", t.exitErr, o.Port, o.UIPort)
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Stop()
			return nil, fmt.Errorf("temporal dev server not healthy at %s after 60s: %v", t.Address, err)
		}
	}
}

// Stop asks the server to stop, and kills it if it has not within 10 s. A
// second Stop (a test's cleanup after a failed restart) returns at once.
func (t *Temporal) Stop() error {
	if t.cmd.Process == nil {
		return nil
	}
	t.stopOnce.Do(func() {
		_ = t.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-t.exited:
		case <-time.After(10 * time.Second):
			_ = t.cmd.Process.Kill()
			<-t.exited
		}
	})
	return nil
}

// QuietLogger drops the SDK's own log lines (dial retries and the like) in CLI
// commands, where errors are reported to the user instead.
var QuietLogger log.Logger = quiet{}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
