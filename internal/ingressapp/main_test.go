package ingressapp_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/ingressapp"
	"github.com/irflow/irflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Run(m) }

func open(t *testing.T, cfg config.Config) (*ingressapp.Main, error) {
	t.Helper()
	m := &ingressapp.Main{Config: cfg, Incidents: client.New(testenv.Client(t), "default"), Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := m.Open()
	if err == nil {
		t.Cleanup(func() { _ = m.Close() })
	}
	return m, err
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("payload=%7B%7D"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The process serves the ingress on its listener and mounts the Slack
// handlers exactly when the file has a signing secret.
func TestServesIngressAndSlackWhenConfigured(t *testing.T) {
	cfg := config.Default()
	cfg.Ingress.Tokens = map[string]string{"ci": "token-1"}
	plain, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, http.MethodGet, plain.URL()+"/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz = %d", got)
	}
	if got := status(t, http.MethodPost, plain.URL()+"/slack/interactions"); got != http.StatusNotFound {
		t.Fatalf("/slack/interactions without a signing secret = %d, want 404 (not mounted)", got)
	}

	cfg.Ingress.Slack.SigningSecret = "shh"
	withSlack, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, http.MethodPost, withSlack.URL()+"/slack/interactions"); got != http.StatusUnauthorized {
		t.Fatalf("unsigned /slack/interactions = %d, want 401 (mounted, signature checked)", got)
	}
	if err := withSlack.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(withSlack.URL() + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
}

// Without a token every request would be refused: the ingress says so at
// start, naming the field and the env var.
func TestRefusesToStartWithoutTokens(t *testing.T) {
	_, err := open(t, config.Default())
	if err == nil || !strings.Contains(err.Error(), "ingress.tokens: at least one source token is required (or set IRFLOW_INGRESS_TOKENS)") {
		t.Fatalf("Open without tokens: %v", err)
	}
}

// The process applies ingress.read_header_timeout and ingress.read_timeout on
// its listener: a client trickling its body is answered 408 with the reason;
// one trickling its headers is disconnected (Go answers nothing then).
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := config.Default()
	cfg.Ingress.Tokens = map[string]string{"ci": "token-1"}
	cfg.Ingress.ReadHeaderTimeout = config.Duration(300 * time.Millisecond)
	cfg.Ingress.ReadTimeout = config.Duration(300 * time.Millisecond)
	m, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(m.URL(), "http://")

	trickle := func(head string) (string, time.Duration) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(conn)
		return string(b), time.Since(start)
	}

	got, took := trickle("POST /v1/alerts HTTP/1.1\r\nHost: irflow\r\nAuthorization: Bearer token-1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, `"reason":"timeout"`) || !strings.Contains(got, "ingress.read_timeout") || took > 5*time.Second {
		t.Fatalf("trickled body: after %s got %q; want 408 naming ingress.read_timeout", took, got)
	}
	got, took = trickle("POST /v1/alerts HTTP/1.1\r\nX-Slow:")
	if got != "" || took > 5*time.Second {
		t.Fatalf("trickled headers: after %s got %q; want the connection closed after read_header_timeout", took, got)
	}
}
