package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// loadIngress reads yml over the defaults with env, the way Load does, and
// validates.
func loadIngress(t *testing.T, yml string, env map[string]string) (Config, error) {
	t.Helper()
	cfg := Default()
	if err := Parse([]byte(yml), &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.applyEnv(func(k string) string { return env[k] }); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestIngressDefaults(t *testing.T) {
	cfg, err := loadIngress(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	i := cfg.Ingress
	for _, d := range []struct {
		name      string
		got, want Duration
	}{
		{"read_header_timeout", i.ReadHeaderTimeout, Duration(10 * time.Second)},
		{"read_timeout", i.ReadTimeout, Duration(30 * time.Second)},
		{"write_timeout", i.WriteTimeout, Duration(60 * time.Second)},
		{"idle_timeout", i.IdleTimeout, Duration(120 * time.Second)},
		{"sns.max_age", i.SNS.MaxAge, Duration(time.Hour)},
	} {
		if d.got != d.want {
			t.Errorf("ingress.%s = %s, want %s", d.name, time.Duration(d.got), time.Duration(d.want))
		}
	}
	if i.SNS.RequireSignatureVersion != 1 {
		t.Errorf("ingress.sns.require_signature_version = %d, want 1", i.SNS.RequireSignatureVersion)
	}
}

func TestIngressKeys(t *testing.T) {
	cfg, err := loadIngress(t, `
ingress:
  tokens:
    ci: t1
    hooks: t2
    dev: t3
  token_sources:
    hooks: [elastalert, alertmanager]
    dev: ["*"]
  read_header_timeout: 5s
  read_timeout: 20s
  write_timeout: 45s
  idle_timeout: 90s
  sns:
    host_pattern: 'sns\.{region}\.amazonaws\.com'
    max_age: 15m
    require_signature_version: 2
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := cfg.Ingress
	if i.ReadHeaderTimeout != Duration(5*time.Second) || i.ReadTimeout != Duration(20*time.Second) ||
		i.WriteTimeout != Duration(45*time.Second) || i.IdleTimeout != Duration(90*time.Second) {
		t.Errorf("timeouts %+v", i)
	}
	if i.SNS.MaxAge != Duration(15*time.Minute) || i.SNS.RequireSignatureVersion != 2 {
		t.Errorf("sns %+v", i.SNS)
	}
	for name, want := range map[string][]string{"ci": {"ci"}, "hooks": {"elastalert", "alertmanager"}, "dev": {"*"}} {
		if got := i.SourcesOf(name); !slices.Equal(got, want) {
			t.Errorf("SourcesOf(%s) = %q, want %q", name, got, want)
		}
	}
	re, err := AnchorHostPattern(i.SNS.HostPattern, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if re.String() != `^(?:sns\.eu-west-1\.amazonaws\.com)$` || re.MatchString("sns.eu-west-1.amazonaws.com.evil.example") {
		t.Errorf("anchored pattern %s", re)
	}
}

// The secrets may come from the env var while token_sources stays in the
// file; a worker reading the same file without tokens still loads it.
func TestIngressTokenSourcesWithEnvTokens(t *testing.T) {
	yml := "ingress:\n  token_sources:\n    ci: [elastalert]\n"
	cfg, err := loadIngress(t, yml, map[string]string{EnvIngressTokens: "ci=abc,grafana=def"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Ingress.SourcesOf("ci"); !slices.Equal(got, []string{"elastalert"}) {
		t.Errorf("SourcesOf(ci) = %q", got)
	}
	if got := cfg.Ingress.SourcesOf("grafana"); !slices.Equal(got, []string{"grafana"}) {
		t.Errorf("SourcesOf(grafana) = %q", got)
	}
	if _, err := loadIngress(t, yml, nil); err != nil {
		t.Errorf("without tokens (the worker): %v", err)
	}
}

func TestIngressErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		env       map[string]string
		want      string
	}{
		{"sources of no token", "ingress:\n  tokens: {ci: t}\n  token_sources:\n    cl: [ci]\n", nil,
			`ingress.token_sources.cl: no token named "cl" in ingress.tokens (or IRFLOW_INGRESS_TOKENS)`},
		{"sources of no env token", "ingress:\n  token_sources:\n    ci: [ci]\n", map[string]string{EnvIngressTokens: "grafana=x"},
			`ingress.token_sources.ci: no token named "ci" in ingress.tokens (or IRFLOW_INGRESS_TOKENS)`},
		{"empty sources", "ingress:\n  tokens: {ci: t}\n  token_sources:\n    ci: []\n", nil,
			`ingress.token_sources.ci: empty; list the sources this token may send as, or "*" for any`},
		{"bad source", "ingress:\n  tokens: {ci: t}\n  token_sources:\n    ci: [ci, \"bad!\"]\n", nil,
			`ingress.token_sources.ci[1]: "bad!" is not a source name (1-200 letters, digits, space and _.:/@+-, starting with a letter or digit) or "*"`},
		{"negative read timeout", "ingress:\n  read_timeout: -1s\n", nil, `ingress.read_timeout: -1s is negative`},
		{"negative idle timeout", "ingress:\n  idle_timeout: -2m\n", nil, `ingress.idle_timeout: -2m0s is negative`},
		{"write timeout within send timeout", "ingress:\n  write_timeout: 10s\n", nil,
			`ingress.write_timeout: 10s is not more than send_timeout (10s); a slow but successful Temporal call would be answered 503`},
		{"short max age", "ingress:\n  sns:\n    max_age: 30s\n", nil, `ingress.sns.max_age: 30s is under 1m; SNS retries a delivery for longer than that`},
		{"negative max age", "ingress:\n  sns:\n    max_age: -1h\n", nil, `ingress.sns.max_age: -1h0m0s is negative`},
		{"signature version", "ingress:\n  sns:\n    require_signature_version: 3\n", nil,
			`ingress.sns.require_signature_version: 3, want 1 (SHA1withRSA or SHA256withRSA) or 2 (SHA256withRSA only)`},
		{"host pattern", "ingress:\n  sns:\n    host_pattern: 'sns.(us'\n", nil,
			"ingress.sns.host_pattern: error parsing regexp: missing closing ): `sns.(us`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadIngress(t, tc.yml, tc.env)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
	if _, err := loadIngress(t, "ingress:\n  token_source: {ci: [x]}\n", nil); err == nil || !strings.Contains(err.Error(), `unknown field "token_source"`) {
		t.Errorf("misspelt key: %v", err)
	}
}
