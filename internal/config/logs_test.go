package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLogsSection(t *testing.T) {
	cfg, err := load(t, `
logs:
  routes:
    - log_group: /aws/containerinsights/{env}/application
      log_stream: "{app}-api-*"
      index: uc-be
      env: "{env}"
      app: "{app}"
    - log_group: aws-waf-logs-*
      index: waf-logs
      env: prod
      app: waf
`, map[string]string{EnvFirehoseEndpoint: "http://127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Logs
	if l.Output != LogsOutputOpenSearch || len(l.Routes) != 2 || l.FirehoseEndpoint != "http://127.0.0.1:5000" {
		t.Fatalf("logs = %+v", l)
	}
	m, err := l.Routes[0].Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group, stream, env, app string
		ok                      bool
	}{
		{"/aws/containerinsights/prod/application", "payments-api-5d8f-x2x4q", "prod", "payments", true},
		// {name} stops at "/": a deeper group is not this route's.
		{"/aws/containerinsights/prod/eu/application", "payments-api-1", "", "", false},
		{"/aws/containerinsights/prod/application", "fluent-bit-x", "", "", false},
		{"/aws/containerinsights/prod/application2", "payments-api-1", "", "", false},
	} {
		env, app, ok := m.Match(tc.group, tc.stream)
		if ok != tc.ok || env != tc.env || app != tc.app {
			t.Errorf("Match(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.group, tc.stream, env, app, ok, tc.env, tc.app, tc.ok)
		}
	}
	waf, _ := l.Routes[1].Compile()
	if env, app, ok := waf.Match("aws-waf-logs-shop", "anything/at all"); !ok || env != "prod" || app != "waf" {
		t.Errorf("waf route = %q %q %v", env, app, ok)
	}
	// Regexp metacharacters in names are literal.
	dot, err := LogRoute{LogGroup: "/app/a.b+c", Index: "x"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := dot.Match("/app/aXb+c", ""); ok {
		t.Error(`"." in a log group pattern matched any character`)
	}
	if _, _, ok := dot.Match("/app/a.b+c", "s"); !ok {
		t.Error("literal pattern does not match itself")
	}

	cfg, err = load(t, "logs:\n  output: opensearch\n", map[string]string{EnvLogsOutput: "ndjson"})
	if err != nil || cfg.Logs.Output != LogsOutputNDJSON {
		t.Fatalf("env override: %+v, %v", cfg.Logs, err)
	}

	for _, tc := range []struct{ name, yml, want string }{
		{"output", "logs:\n  output: s3\n", `logs.output: "s3" is not opensearch or ndjson`},
		{"no group", "logs:\n  routes:\n    - index: uc-be\n", `logs.routes[0].log_group: required`},
		{"index case", "logs:\n  routes:\n    - {log_group: a, index: UC-BE}\n", `logs.routes[0].index: "UC-BE" is not an index family name`},
		{"no index", "logs:\n  routes:\n    - {log_group: a}\n", `logs.routes[0].index: "" is not an index family name`},
		{"unknown capture", "logs:\n  routes:\n    - {log_group: \"/a/{env}\", index: x}\n    - {log_group: \"/b/{env}\", index: x, app: \"{app}\"}\n", `logs.routes[1].app: {app} is not captured by log_group or log_stream`},
		{"unclosed", "logs:\n  routes:\n    - {log_group: \"/a/{env\", index: x}\n", `logs.routes[0].log_group: "/a/{env": unclosed {`},
		{"twice", "logs:\n  routes:\n    - {log_group: \"/{x}\", log_stream: \"{x}\", index: x}\n", `logs.routes[0].log_stream: "{x}": {x} is captured twice`},
		{"bad name", "logs:\n  routes:\n    - {log_group: \"/{a-b}\", index: x}\n", `logs.routes[0].log_group: "/{a-b}": {a-b} is not a capture name`},
		{"unknown key", "logs:\n  route: []\n", `unknown field "route"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

// The example config's commented logs section loads, and routes as it says.
func TestExampleConfigLogsBlock(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", "irflow.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, "# logs:")
	if start < 0 {
		t.Fatal("no commented logs: section in the example config")
	}
	block := []string{"logs:"}
	for _, line := range lines[start+1:] {
		if !strings.HasPrefix(line, "#   ") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	cfg, err := load(t, strings.Join(block, "\n")+"\n", nil)
	if err != nil {
		t.Fatalf("example logs section:\n%s\n%v", strings.Join(block, "\n"), err)
	}
	if len(cfg.Logs.Routes) != 2 {
		t.Fatalf("routes = %+v", cfg.Logs.Routes)
	}
	m, err := cfg.Logs.Routes[0].Compile()
	if err != nil {
		t.Fatal(err)
	}
	if env, app, ok := m.Match("/aws/containerinsights/prod/application", "payments-api-5d8f-x2x4q"); !ok || env != "prod" || app != "payments" {
		t.Errorf("example route: %q %q %v", env, app, ok)
	}
}
