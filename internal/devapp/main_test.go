package devapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/devapp"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/testenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newMain(t *testing.T, home string, out io.Writer) *devapp.Main {
	return &devapp.Main{
		Home: home, TemporalPort: freePort(t), UIPort: freePort(t),
		HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", NoOpenSearch: true,
		Out: out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// `starter dev` as a Main: Run brings up Temporal, the worker and the
// ingress; an alert posted with the generated token is announced; a second
// dev on the same home is refused; Close frees the home for the next run.
func TestDevRunsTheWholeSystemAndCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	if _, err := devstack.FindTemporal(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	home := t.TempDir()
	out := &testenv.Buffer{}
	m := newMain(t, home, out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	banner := out.String()
	var ingressURL string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "HTTP" && f[1] == "ingress" {
			ingressURL = f[2]
		}
	}
	if ingressURL == "" || !strings.Contains(banner, filepath.Join(home, "ingress-token")) || !strings.Contains(banner, "rule sweeps       off") {
		t.Fatalf("banner lacks the ingress URL, token file or sweep state:\n%s", banner)
	}
	// The console is on, with a password made for this run.
	var password string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "console" && f[1] == "password" {
			password = f[2]
		}
	}
	if !strings.Contains(banner, ingressURL+"/ui/") || len(password) < 12 {
		t.Fatalf("banner lacks the console URL or its password:\n%s", banner)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login, err := noRedirect.PostForm(ingressURL+"/ui/login", url.Values{"password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != http.StatusSeeOther || login.Header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in with the banner's password = %d to %q, want 303 to /ui/", login.StatusCode, login.Header.Get("Location"))
	}

	tok, err := os.ReadFile(filepath.Join(home, "ingress-token"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"source": "devapp-test", "rule": "dev announces alerts", "env": "test"})
	req, _ := http.NewRequest(http.MethodPost, ingressURL+"/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/alerts = %d, want 202", resp.StatusCode)
	}
	testenv.Eventually(t, 30*time.Second, "the console announcement", func() bool {
		return strings.Contains(out.String(), "dev announces alerts")
	})

	if err := newMain(t, home, io.Discard).Run(ctx); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second dev on the same home: %v, want a refusal", err)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := http.Get(ingressURL + "/healthz"); err == nil {
		t.Fatal("ingress still serving after Close")
	}
	again := newMain(t, home, io.Discard)
	if err := again.Run(ctx); err != nil {
		t.Fatalf("Run after Close on the same home: %v", err)
	}
	again.Close()
}
