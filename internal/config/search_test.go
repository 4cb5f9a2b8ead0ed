package config

import (
	"strings"
	"testing"
)

func TestSearchConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		wantURL    string
		wantErr    string
	}{
		{name: "from file", yaml: "search:\n  url: http://127.0.0.1:9200\n", wantURL: "http://127.0.0.1:9200"},
		{name: "env wins", yaml: "search:\n  url: http://a:9200\n", env: map[string]string{EnvOpenSearchURL: "https://b:443"}, wantURL: "https://b:443"},
		{name: "not a URL", yaml: "search:\n  url: 127.0.0.1:9200\n", wantErr: "search.url:"},
		{name: "rules dir missing", yaml: "search:\n  rules_dir: /no/such/dir\n", wantErr: "search.rules_dir:"},
		{name: "unknown key", yaml: "search:\n  urll: http://a:9200\n", wantErr: "urll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := Parse([]byte(tc.yaml), &cfg)
			if err == nil {
				err = cfg.applyEnv(func(k string) string { return tc.env[k] })
			}
			if err == nil {
				err = cfg.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Search.URL != tc.wantURL {
				t.Errorf("search.url = %q, want %q", cfg.Search.URL, tc.wantURL)
			}
		})
	}
}
