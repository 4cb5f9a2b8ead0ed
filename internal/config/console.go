package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Console configures the incident console under /ui/ (ingress/console),
// served by the ingress. It is off until auth is set: a console without a
// login would let anyone on the network resolve incidents.
type Console struct {
	// Auth is how a person signs in: "alb" (behind an ALB with OIDC
	// authentication; the ALB's signed x-amzn-oidc-data header names them)
	// or "password" (one shared password; `starter dev` generates one).
	// Empty: the console is not served.
	Auth string `yaml:"auth"`
	// Password is the shared password for auth: password. Prefer the env var
	// IRFLOW_CONSOLE_PASSWORD. At least 12 characters.
	Password string `yaml:"password"`
	// SessionKey signs session cookies and CSRF tokens (at least 32
	// characters). Prefer IRFLOW_CONSOLE_SESSION_KEY. Empty: a random key at
	// start, so sessions end when the ingress restarts and every ingress task
	// signs its own (set one key when more than one task serves /ui/).
	SessionKey string `yaml:"session_key"`
	// SessionTTL is how long a password login lasts. Default 12h.
	SessionTTL Duration `yaml:"session_ttl"`
	// ALB verifies the ALB's OIDC header when auth is "alb".
	ALB ConsoleALB `yaml:"alb"`
	// PageSize is how many incidents one page of the list shows. Default 50, at most 500.
	PageSize int `yaml:"page_size"`
	// Refresh is how often an open page asks for changes. Default 5s, at least 1s.
	Refresh Duration `yaml:"refresh"`
}

// ConsoleALB is the ALB side of auth: alb.
type ConsoleALB struct {
	// Region is the ALB's region: the public key of each token is fetched
	// from KeyURL with {region} replaced by it.
	Region string `yaml:"region"`
	// SignerARNs are the load balancers whose tokens are accepted (the
	// token's "signer" field); anything else is refused. At least one.
	SignerARNs []string `yaml:"signer_arns"`
	// KeyURL is where public keys are fetched: KeyURL + "/" + kid.
	// Default DefaultALBKeyURL.
	KeyURL string `yaml:"key_url"`
	// ActorClaim names the claim that identifies the person in timelines.
	// Default "email".
	ActorClaim string `yaml:"actor_claim"`
}

// Console defaults.
const (
	ConsoleAuthALB      = "alb"
	ConsoleAuthPassword = "password"
	// DefaultALBKeyURL is the regional ALB public key endpoint (AWS docs:
	// "User claims encoding and signature verification").
	DefaultALBKeyURL         = "https://public-keys.auth.elb.{region}.amazonaws.com"
	DefaultConsoleSessionTTL = 12 * time.Hour
	DefaultConsolePageSize   = 50
	DefaultConsoleRefresh    = 5 * time.Second
	DefaultALBActorClaim     = "email"
	// MinConsolePassword and MinConsoleSessionKey are the shortest secrets accepted.
	MinConsolePassword   = 12
	MinConsoleSessionKey = 32
)

// Enabled reports whether /ui/ is served.
func (c *Console) Enabled() bool { return c.Auth != "" }

// SetDefaults fills every zero field with its default.
func (c *Console) SetDefaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = Duration(DefaultConsoleSessionTTL)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultConsolePageSize
	}
	if c.Refresh == 0 {
		c.Refresh = Duration(DefaultConsoleRefresh)
	}
	if c.ALB.KeyURL == "" {
		c.ALB.KeyURL = DefaultALBKeyURL
	}
	if c.ALB.ActorClaim == "" {
		c.ALB.ActorClaim = DefaultALBActorClaim
	}
}

var (
	albRegionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	albARNPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/app/[^/]+/[0-9a-f]+$`)
)

// Validate checks the section after defaults, naming the field in full.
func (c *Console) Validate() error {
	const p = "ingress.console."
	switch c.Auth {
	case "":
		return nil
	case ConsoleAuthPassword:
		if len(c.Password) < MinConsolePassword {
			return fmt.Errorf("%spassword: auth is password but the password is empty or under %d characters (set %s)", p, MinConsolePassword, EnvConsolePassword)
		}
	case ConsoleAuthALB:
		if !albRegionPattern.MatchString(c.ALB.Region) {
			return fmt.Errorf("%salb.region: %q is not an AWS region (like eu-west-1)", p, c.ALB.Region)
		}
		if len(c.ALB.SignerARNs) == 0 {
			return fmt.Errorf("%salb.signer_arns: auth is alb but no load balancer ARN is listed; a token signed for any other ALB would be accepted", p)
		}
		for j, arn := range c.ALB.SignerARNs {
			if !albARNPattern.MatchString(arn) {
				return fmt.Errorf("%salb.signer_arns[%d]: %q is not an application load balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)", p, j, arn)
			}
			// The key endpoint is regional: a token from an ALB in another
			// region could never be verified, so the list is wrong.
			if r := ALBRegion(arn); r != c.ALB.Region {
				return fmt.Errorf("%salb.signer_arns[%d]: the load balancer is in %s, not alb.region %s", p, j, r, c.ALB.Region)
			}
		}
		if err := checkKeyURL(c.ALB.KeyURLFor()); err != nil {
			return fmt.Errorf("%salb.key_url: %q %w", p, c.ALB.KeyURL, err)
		}
		if c.ALB.ActorClaim == "" {
			return fmt.Errorf("%salb.actor_claim: empty", p)
		}
	default:
		return fmt.Errorf("%sauth: %q, want %q, %q or empty (console off)", p, c.Auth, ConsoleAuthALB, ConsoleAuthPassword)
	}
	// A password nobody can use is a mistake, not a fallback: refuse it
	// rather than let someone believe the console accepts it.
	if c.Auth == ConsoleAuthALB && c.Password != "" {
		return fmt.Errorf("%spassword: set, but auth is alb and signs people in through the load balancer only (unset it or %s)", p, EnvConsolePassword)
	}
	if c.SessionKey != "" && len(c.SessionKey) < MinConsoleSessionKey {
		return fmt.Errorf("%ssession_key: under %d characters", p, MinConsoleSessionKey)
	}
	switch {
	case c.SessionTTL < 0:
		return fmt.Errorf("%ssession_ttl: %s is negative", p, time.Duration(c.SessionTTL))
	case c.PageSize < 0 || c.PageSize > 500:
		return fmt.Errorf("%spage_size: %d, want 1 to 500", p, c.PageSize)
	case c.Refresh != 0 && time.Duration(c.Refresh) < time.Second:
		return fmt.Errorf("%srefresh: %s is under 1s", p, time.Duration(c.Refresh))
	}
	return nil
}

// KeyURLFor is KeyURL with {region} replaced by Region and no trailing
// slash: a key is fetched from KeyURLFor() + "/" + kid.
func (a ConsoleALB) KeyURLFor() string {
	return strings.TrimRight(strings.ReplaceAll(a.KeyURL, "{region}", a.Region), "/")
}

// ALBRegion returns the region field of a load balancer ARN ("" when it has none).
func ALBRegion(arn string) string {
	f := strings.SplitN(arn, ":", 5)
	if len(f) < 5 {
		return ""
	}
	return f[3]
}

// checkKeyURL accepts https, and http only to this machine (a test's key
// server): keys fetched in the clear could be swapped on the way.
func checkKeyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("is not a plain URL (scheme://host/path)")
	}
	switch h := u.Hostname(); {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (h == "127.0.0.1" || h == "localhost" || h == "::1"):
		return nil
	}
	return fmt.Errorf("must be https (http only on localhost, for tests)")
}
