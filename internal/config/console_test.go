package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testALBARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/irflow/50dc6c495c0c9188"

func TestConsoleDefaults(t *testing.T) {
	cfg, err := loadIngress(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Ingress.Console
	if c.Enabled() {
		t.Fatal("console on without auth")
	}
	if c.SessionTTL != Duration(12*time.Hour) || c.PageSize != 50 || c.Refresh != Duration(5*time.Second) ||
		c.ALB.KeyURL != DefaultALBKeyURL || c.ALB.ActorClaim != "email" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestConsoleValid(t *testing.T) {
	cfg, err := loadIngress(t, `
ingress:
  console:
    auth: alb
    session_ttl: 8h
    page_size: 100
    refresh: 2s
    alb:
      region: eu-west-1
      signer_arns: ["`+testALBARN+`"]
      actor_claim: preferred_username
`, map[string]string{EnvConsoleSessionKey: strings.Repeat("k", 32)})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Ingress.Console
	if !c.Enabled() || c.Auth != ConsoleAuthALB || c.SessionKey != strings.Repeat("k", 32) || c.SessionTTL != Duration(8*time.Hour) ||
		c.PageSize != 100 || c.Refresh != Duration(2*time.Second) || c.ALB.ActorClaim != "preferred_username" {
		t.Fatalf("console %+v", c)
	}
	if got := c.ALB.KeyURLFor(); got != "https://public-keys.auth.elb.eu-west-1.amazonaws.com" {
		t.Fatalf("KeyURLFor = %s", got)
	}

	// Password from the env var, as `starter dev` and the docs say.
	cfg, err = loadIngress(t, "ingress:\n  console:\n    auth: password\n", map[string]string{EnvConsolePassword: "a-long-dev-password"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingress.Console.Password != "a-long-dev-password" {
		t.Fatalf("password %q", cfg.Ingress.Console.Password)
	}

	// GovCloud: a key URL without {region}, trailing slash ignored.
	cfg, err = loadIngress(t, `
ingress:
  console:
    auth: alb
    alb:
      region: us-gov-west-1
      signer_arns: ["arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/irflow/50dc6c495c0c9188"]
      key_url: https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Ingress.Console.ALB.KeyURLFor(); got != "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1" {
		t.Fatalf("KeyURLFor = %s", got)
	}
}

func TestConsoleErrorsNameTheField(t *testing.T) {
	alb := func(extra string) string {
		return "ingress:\n  console:\n    auth: alb\n    alb:\n      region: eu-west-1\n      signer_arns: [\"" + testALBARN + "\"]\n" + extra
	}
	pw := "ingress:\n  console:\n    auth: password\n    password: a-long-dev-password\n"
	for _, tc := range []struct {
		name, yml string
		env       map[string]string
		want      string
	}{
		{name: "unknown auth", yml: "ingress:\n  console:\n    auth: oidc\n",
			want: `ingress.console.auth: "oidc", want "alb", "password" or empty (console off)`},
		{name: "no password", yml: "ingress:\n  console:\n    auth: password\n",
			want: `ingress.console.password: auth is password but the password is empty or under 12 characters (set IRFLOW_CONSOLE_PASSWORD)`},
		{name: "short password from env", yml: "ingress:\n  console:\n    auth: password\n", env: map[string]string{EnvConsolePassword: "hunter2"},
			want: `ingress.console.password: auth is password but the password is empty or under 12 characters (set IRFLOW_CONSOLE_PASSWORD)`},
		{name: "password with alb", yml: alb(""), env: map[string]string{EnvConsolePassword: "a-long-dev-password"},
			want: `ingress.console.password: set, but auth is alb and signs people in through the load balancer only (unset it or IRFLOW_CONSOLE_PASSWORD)`},
		{name: "no region", yml: "ingress:\n  console:\n    auth: alb\n",
			want: `ingress.console.alb.region: "" is not an AWS region (like eu-west-1)`},
		{name: "no signers", yml: "ingress:\n  console:\n    auth: alb\n    alb:\n      region: eu-west-1\n",
			want: `ingress.console.alb.signer_arns: auth is alb but no load balancer ARN is listed; a token signed for any other ALB would be accepted`},
		{name: "not an ALB ARN", yml: "ingress:\n  console:\n    auth: alb\n    alb:\n      region: eu-west-1\n      signer_arns: [\"" + testALBARN + "\", my-alb]\n",
			want: `ingress.console.alb.signer_arns[1]: "my-alb" is not an application load balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)`},
		{name: "network load balancer", yml: "ingress:\n  console:\n    auth: alb\n    alb:\n      region: eu-west-1\n      signer_arns: [\"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/irflow/50dc6c495c0c9188\"]\n",
			want: `ingress.console.alb.signer_arns[0]: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/irflow/50dc6c495c0c9188" is not an application load balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)`},
		{name: "signer in another region", yml: "ingress:\n  console:\n    auth: alb\n    alb:\n      region: eu-west-1\n      signer_arns: [\"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/irflow/50dc6c495c0c9188\"]\n",
			want: `ingress.console.alb.signer_arns[0]: the load balancer is in us-east-1, not alb.region eu-west-1`},
		{name: "key_url http", yml: alb("      key_url: http://keys.example.com\n"),
			want: `ingress.console.alb.key_url: "http://keys.example.com" must be https (http only on localhost, for tests)`},
		{name: "key_url localhost lookalike", yml: alb("      key_url: http://localhost.example.com\n"),
			want: `ingress.console.alb.key_url: "http://localhost.example.com" must be https (http only on localhost, for tests)`},
		{name: "key_url with query", yml: alb("      key_url: https://keys.example.com/?k=\n"),
			want: `ingress.console.alb.key_url: "https://keys.example.com/?k=" is not a plain URL (scheme://host/path)`},
		{name: "key_url not a URL", yml: alb("      key_url: keys\n"),
			want: `ingress.console.alb.key_url: "keys" is not a plain URL (scheme://host/path)`},
		{name: "short session key", yml: pw, env: map[string]string{EnvConsoleSessionKey: "short"},
			want: `ingress.console.session_key: under 32 characters`},
		{name: "negative ttl", yml: pw + "    session_ttl: -1h\n",
			want: `ingress.console.session_ttl: -1h0m0s is negative`},
		{name: "page size", yml: pw + "    page_size: 501\n",
			want: `ingress.console.page_size: 501, want 1 to 500`},
		{name: "refresh", yml: pw + "    refresh: 500ms\n",
			want: `ingress.console.refresh: 500ms is under 1s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadIngress(t, tc.yml, tc.env)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
	// Through Load, with the file's name and a line for an unknown key.
	if _, err := load(t, "ingress:\n  console:\n    pasword: x\n", nil); err == nil || !strings.Contains(err.Error(), `unknown field "pasword"`) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := load(t, "ingress:\n  console:\n    auth: password\n", nil); err == nil || !strings.HasSuffix(err.Error(), "ingress.console.password: auth is password but the password is empty or under 12 characters (set IRFLOW_CONSOLE_PASSWORD)") {
		t.Fatalf("Load: %v", err)
	}
}

func TestALBRegion(t *testing.T) {
	for arn, want := range map[string]string{
		testALBARN: "eu-west-1",
		"arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/x/1": "us-gov-west-1",
		"arn:aws": "",
		"":        "",
	} {
		if got := ALBRegion(arn); got != want {
			t.Errorf("ALBRegion(%q) = %q, want %q", arn, got, want)
		}
	}
}

// The example config carries the section commented out (the console stays
// off in an image built from it); uncommented, it must load.
func TestExampleConfigConsoleBlock(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", "irflow.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, "  # console:")
	if start < 0 {
		t.Fatal("no commented console: section under ingress: in the example config")
	}
	block := []string{"ingress:", "  console:"}
	for _, line := range lines[start+1:] {
		if !strings.HasPrefix(line, "  #   ") {
			break
		}
		block = append(block, "  "+strings.TrimPrefix(line, "  # "))
	}
	cfg, err := load(t, strings.Join(block, "\n")+"\n", nil)
	if err != nil {
		t.Fatalf("example console section:\n%s\n%v", strings.Join(block, "\n"), err)
	}
	c := cfg.Ingress.Console
	if c.Auth != ConsoleAuthALB || len(c.ALB.SignerARNs) != 1 || c.ALB.KeyURL != DefaultALBKeyURL || c.SessionKey != "" {
		t.Errorf("example console = %+v", c)
	}
}
