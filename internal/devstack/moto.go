package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/irflow/irflow/internal/checkout"
)

// EnvMotoBin points at a moto_server other than the checkout's .venv one.
const EnvMotoBin = "IRFLOW_MOTO_BIN"

// ErrMotoMissing is returned when no moto_server is installed.
var ErrMotoMissing = errors.New("moto server not installed")

// FindMoto returns moto_server from $IRFLOW_MOTO_BIN or the checkout's .venv
// (`make venv` installs it).
func FindMoto() (string, error) {
	if p := os.Getenv(EnvMotoBin); p != "" {
		return p, nil
	}
	root, err := checkout.Root()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMotoMissing, err)
	}
	p := filepath.Join(root, ".venv", "bin", "moto_server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w at %s: run `make venv` (Python 3 with venv)", ErrMotoMissing, p)
	}
	return p, nil
}

// Moto is a running moto server: AWS APIs (CloudWatch, SNS, S3, ...) emulated
// on loopback.
type Moto struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMoto runs bin on 127.0.0.1:port (0 picks a free port) and waits until
// it answers. The server dies with this process.
func StartMoto(ctx context.Context, bin string, port int, log io.Writer) (*Moto, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	if log == nil {
		log = io.Discard
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		select {
		case <-m.done:
			return nil, fmt.Errorf("moto server exited at start (port %d in use?)", port)
		case <-ctx.Done():
			m.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("moto server not answering at %s: %v", m.URL, err)
		}
	}
}

// Stop ends the server.
func (m *Moto) Stop() error {
	_ = m.cmd.Process.Kill()
	<-m.done
	return nil
}
