package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/internal/client"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// docker-compose.yml cannot run on the CI machine, so this test keeps it honest:
// it parses, its commands exist in this CLI, and its config is valid.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "..",
		ConfigFiles: []types.ConfigFile{{Filename: "docker-compose.yml", Content: b}},
		Environment: types.Mapping{"IRFLOW_INGRESS_TOKENS": "ci=test"},
	}, func(o *loader.Options) { o.SetProjectName("irflow", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeFileIsConsistent(t *testing.T) {
	p := loadCompose(t)
	for _, name := range []string{"temporal", "opensearch", "worker", "ingress", "schedules"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}

	temporal, _ := p.GetService("temporal")
	cmd := strings.Join(temporal.Command, " ")
	for _, sa := range workflows.SearchAttributes {
		if !strings.Contains(cmd, "--search-attribute "+sa.GetName()+"=Keyword") {
			t.Errorf("temporal service does not register search attribute %s", sa.GetName())
		}
	}

	ingress, _ := p.GetService("ingress")
	root := newRootCmd()
	sub, rest, err := root.Find(ingress.Command)
	if err != nil || sub.Name() != "serve" {
		t.Fatalf("ingress command %v is not `starter serve`: %v", ingress.Command, err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Errorf("ingress command flags: %v", err)
	}

	sched, _ := p.GetService("schedules")
	sub, rest, err = root.Find(sched.Command)
	if err != nil || sub.Name() != "apply" {
		t.Fatalf("schedules command %v is not `starter schedules apply`: %v", sched.Command, err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Errorf("schedules command flags: %v", err)
	}
	if !strings.Contains(string(mustRead(t, "../Dockerfile")), "COPY deploy/rules /etc/irflow/rules") {
		t.Error("Dockerfile does not ship the rules the worker and schedules read")
	}
	worker0, _ := p.GetService("worker")
	if u := worker0.Environment["IRFLOW_OPENSEARCH_URL"]; u == nil || *u != "http://opensearch:9200" {
		t.Errorf("worker IRFLOW_OPENSEARCH_URL = %v", u)
	}

	for _, svc := range []string{"worker", "ingress", "schedules"} {
		s, _ := p.GetService(svc)
		if addr := s.Environment[config.EnvTemporalAddress]; addr == nil || *addr != "temporal:7233" {
			t.Errorf("%s: %s = %v, want temporal:7233", svc, config.EnvTemporalAddress, addr)
		}
		if s.Build == nil {
			t.Errorf("%s: not built from this repo's Dockerfile", svc)
		}
	}

	// The distroless image probes itself: `starter healthcheck` on the port
	// each service listens on.
	for svc, url := range map[string]string{"worker": "http://127.0.0.1:9090/healthz", "ingress": "http://127.0.0.1:8080/readyz"} {
		s, _ := p.GetService(svc)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 3 || s.HealthCheck.Test[0] != "CMD" || s.HealthCheck.Test[1] != "/usr/local/bin/starter" {
			t.Errorf("%s: healthcheck %v, want CMD /usr/local/bin/starter healthcheck …", svc, s.HealthCheck)
			continue
		}
		args := s.HealthCheck.Test[2:]
		sub, rest, err := root.Find(args)
		if err != nil || sub.Name() != "healthcheck" {
			t.Errorf("%s: healthcheck %v is not `starter healthcheck`: %v", svc, args, err)
			continue
		}
		if err := sub.ParseFlags(rest); err != nil || !slices.Equal(sub.Flags().Args(), []string{url}) {
			t.Errorf("%s: healthcheck args %v (%v), want the URL %s", svc, sub.Flags().Args(), err, url)
		}
	}

	worker, _ := p.GetService("worker")
	if !slices.Equal(worker.Command, []string{"--config", "/etc/irflow/irflow.yaml"}) {
		t.Errorf("worker command = %v", worker.Command)
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "COPY deploy/config/irflow.example.yaml /etc/irflow/irflow.yaml") {
		t.Error("Dockerfile does not ship the config the worker service reads")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExampleConfigIsValid(t *testing.T) {
	path := filepath.Join("..", "deploy", "config", "irflow.example.yaml")
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingress.NewServer(ingress.Config{Ingress: cfg.Ingress}, (*client.Client)(nil), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Errorf("example ingress section: %v", err)
	}
	if len(cfg.Policy().Escalation.Levels) != 2 {
		t.Errorf("example escalation levels = %d, want 2", len(cfg.Policy().Escalation.Levels))
	}
	// With a token, the Slack section must validate too.
	if _, err := config.Load(path, func(k string) string {
		if k == "SLACK_BOT_TOKEN" {
			return "xoxb-test"
		}
		return ""
	}); err != nil {
		t.Errorf("example slack section: %v", err)
	}
}
