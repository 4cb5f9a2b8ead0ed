// Package webauth signs people in to the incident console (ingress/console):
// behind an ALB with OIDC authentication it verifies the ALB's signed
// x-amzn-oidc-data header; otherwise one shared password starts a signed
// session cookie. It also issues the CSRF tokens acting forms carry and
// decides who may resolve, with the same allow-list as Slack
// (ingress.slack.allow_resolve). See docs/console.md.
package webauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/irflow/irflow/internal/config"
)

// Identity is who made a request.
type Identity struct {
	Subject string // OIDC sub, or "password"
	Email   string
	Name    string
	Via     string // "alb" or "password"

	// actor is the configured actor claim's value when it is neither Email
	// nor Subject; empty otherwise, so identities compare equal to literals.
	actor string
	// emailUnverified: the token said email_verified false.
	emailUnverified bool
}

// How an Identity signed in.
const (
	ViaALB      = "alb"
	ViaPassword = "password"
	// PasswordActor is the timeline name of anyone signed in with the shared password.
	PasswordActor = "console"
)

// Actor is the name used in incident timelines: the configured claim's value
// (default email) for ALB users; "console" for password logins.
func (i Identity) Actor() string {
	switch {
	case i.actor != "":
		return i.actor
	case i.Via == ViaPassword:
		return PasswordActor
	case i.Email != "":
		return i.Email
	}
	return i.Subject
}

// Options are what only a running process has.
type Options struct {
	HTTPClient *http.Client // key fetches; default 5 s timeout
	Now        func() time.Time
	// LookupSlackUser returns the Slack user ID with this email, or "" and no
	// error when there is none. With it, U…/W… and S… entries of AllowResolve
	// match console users too.
	LookupSlackUser func(ctx context.Context, email string) (string, error)
	// GroupMembers lists a Slack user group's members, for S… entries.
	GroupMembers func(ctx context.Context, groupID string) ([]string, error)
	AllowResolve []string // ingress.slack.allow_resolve
}

var (
	// ErrNoCredentials: no header / no cookie. The console redirects to
	// /ui/login (password) or answers 401 (alb).
	ErrNoCredentials = errors.New("not signed in")
	// ErrTooManyAttempts: too many wrong passwords from one address lately.
	ErrTooManyAttempts = errors.New("too many failed sign-ins from this address; wait a minute")
	// ErrWrongPassword is a failed login.
	ErrWrongPassword = errors.New("wrong password")
	// ErrKeyUnavailable wraps a failure to fetch the ALB's public key: the
	// request may be fine, irflow cannot tell (answer 503, not 401).
	ErrKeyUnavailable = errors.New("ALB public key unavailable")
)

const (
	defaultFetchTimeout = 5 * time.Second
	// clockSkew is how far past exp a token is still accepted.
	clockSkew = 60 * time.Second
)

// Authenticator signs requests in. It is safe for concurrent use.
type Authenticator struct {
	cfg  config.Console
	opts Options
	now  func() time.Time
	key  []byte // signs session cookies and CSRF tokens

	keys  *keyCache    // alb
	fails *failLimiter // password
	// revoked holds the session IDs logged out before they expired.
	revokedMu sync.Mutex
	revoked   map[string]time.Time
	slack     *lookupCache
}

// New checks cfg (defaults are filled first, so a section built in code
// works too) and returns an Authenticator for its mode. The error names the
// field when cfg is unusable.
func New(cfg config.Console, opts Options) (*Authenticator, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("ingress.console.auth: empty, so the console is off; set %q or %q", config.ConsoleAuthALB, config.ConsoleAuthPassword)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: defaultFetchTimeout}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Authenticator{
		cfg: cfg, opts: opts, now: opts.Now,
		revoked: map[string]time.Time{},
		slack:   newLookupCache(opts.Now),
	}
	if cfg.SessionKey != "" {
		a.key = []byte(cfg.SessionKey)
	} else {
		a.key = make([]byte, 32)
		if _, err := rand.Read(a.key); err != nil {
			return nil, fmt.Errorf("ingress.console.session_key: empty and no random key: %w", err)
		}
	}
	switch cfg.Auth {
	case config.ConsoleAuthALB:
		a.keys = newKeyCache(cfg.ALB.KeyURLFor(), opts.HTTPClient, opts.Now)
	case config.ConsoleAuthPassword:
		a.fails = newFailLimiter(opts.Now)
	}
	return a, nil
}

// Mode is config.ConsoleAuthALB or config.ConsoleAuthPassword.
func (a *Authenticator) Mode() string { return a.cfg.Auth }

// Identify returns who made r: ErrNoCredentials when r carries no sign-in at
// all, otherwise an error saying why its sign-in is refused.
func (a *Authenticator) Identify(r *http.Request) (Identity, error) {
	if a.cfg.Auth == config.ConsoleAuthALB {
		return a.identifyALB(r.Context(), r.Header.Get(ALBHeader))
	}
	return a.identifySession(r)
}
