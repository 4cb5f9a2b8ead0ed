package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestSlackDefaultsAreTheRunbook(t *testing.T) {
	cfg, err := Load("", func(k string) string {
		return map[string]string{EnvSlackToken: "xoxb-test"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.SlackEnabled() || cfg.Slack.DefaultChannel != "#alerts" {
		t.Errorf("slack = %+v, want enabled with default_channel #alerts", cfg.Slack)
	}
	if !reflect.DeepEqual(cfg.Slack.Routes, DefaultRoutes()) || len(cfg.Slack.Routes) == 0 {
		t.Errorf("routes with no file = %+v, want DefaultRoutes %+v", cfg.Slack.Routes, DefaultRoutes())
	}
	var channels []string
	for _, r := range cfg.Slack.Routes {
		channels = append(channels, r.Channel)
	}
	for _, want := range []string{"#waf-alerts", "#5xx-error-logs", "#4xx-error-logs"} {
		if !slices.Contains(channels, want) {
			t.Errorf("default routes %v never reach %s", channels, want)
		}
	}
	// Each call gets its own slice: a caller editing its config cannot change the defaults.
	DefaultSlack().Routes[0].Channel = "#changed"
	if DefaultRoutes()[0].Channel == "#changed" {
		t.Error("DefaultSlack shares its routes with later callers")
	}
}

func TestSlackRoutesInAFile(t *testing.T) {
	env := map[string]string{EnvSlackToken: "xoxb-test"}
	for _, tc := range []struct {
		name, yml string
		want      []Route
	}{
		{"no routes key keeps the defaults", "slack:\n  default_channel: \"#ops\"\n", DefaultRoutes()},
		{"routes replace the defaults, element by element too",
			"slack:\n  routes:\n    - match: {rule: \"*db*\"}\n      channel: \"#db\"\n",
			[]Route{{Match: RouteMatch{Rule: "*db*"}, Channel: "#db"}}},
		{"an empty list turns them off", "slack:\n  routes: []\n", []Route{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.yml, env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Slack.Routes, tc.want) {
				t.Errorf("routes = %+v, want %+v", cfg.Slack.Routes, tc.want)
			}
		})
	}
}

// The example configs show the defaults, so a reader sees what irflow does
// with no routes set.
func TestExampleConfigsShowTheDefaultRoutes(t *testing.T) {
	for _, name := range []string{"irflow.example.yaml", "slack.example.yaml"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join("..", "..", "deploy", "config", name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Slack: Slack{DefaultChannel: "#unset"}}
			if err := Parse(b, &cfg); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if cfg.Slack.DefaultChannel != DefaultSlack().DefaultChannel {
				t.Errorf("%s: default_channel %q, want the default %q", name, cfg.Slack.DefaultChannel, DefaultSlack().DefaultChannel)
			}
			if !reflect.DeepEqual(cfg.Slack.Routes, DefaultRoutes()) {
				t.Errorf("%s: routes\n %+v\nwant the defaults\n %+v", name, cfg.Slack.Routes, DefaultRoutes())
			}
		})
	}
}
