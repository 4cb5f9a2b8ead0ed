package slackapp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The app manifest must point Slack at the paths this package serves and
// grant the scopes the notifier uses.
func TestManifestMatchesHandler(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "slack-manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
				URL     string `yaml:"url"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuthConfig struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				IsEnabled  bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if i := m.Settings.Interactivity; !i.IsEnabled || !strings.HasSuffix(i.RequestURL, InteractionsPath) {
		t.Errorf("interactivity %+v, want enabled with a URL ending in %s", i, InteractionsPath)
	}
	if c := m.Features.SlashCommands; len(c) != 1 || c[0].Command != "/irflow" || !strings.HasSuffix(c[0].URL, CommandsPath) {
		t.Errorf("slash commands %+v, want /irflow at %s", c, CommandsPath)
	}
	for _, scope := range []string{"chat:write", "chat:write.public", "commands", "usergroups:read",
		"channels:history", "groups:history", "channels:read", "groups:read"} {
		if !slices.Contains(m.OAuthConfig.Scopes.Bot, scope) {
			t.Errorf("manifest lacks bot scope %s", scope)
		}
	}
}
