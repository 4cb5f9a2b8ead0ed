package webauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/irflow/irflow/ingress/webauth/albtest"
	"github.com/irflow/irflow/internal/config"
)

// t0 is the tests' clock: tokens expire relative to it, not to the machine's.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustALB(tb testing.TB, ks *albtest.KeyServer, edit func(*config.Console)) *Authenticator {
	tb.Helper()
	cfg := ks.Console()
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, Options{Now: newClock().Now})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func albRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ui/", nil)
	if token != "" {
		r.Header.Set(albtest.Header, token)
	}
	return r
}

var alice = map[string]any{"sub": "0a1b2c", "email": "alice@example.com", "name": "Alice", "exp": t0.Add(time.Minute).Unix()}

func TestIdentifyALB(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	other := albtest.New()
	defer other.Close()
	exp := t0.Add(2 * time.Minute)
	otherSigner := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/other/1111111111111111"
	aliceID := Identity{Subject: "0a1b2c", Email: "alice@example.com", Name: "Alice", Via: ViaALB}

	for _, tc := range []struct {
		name      string
		token     string
		want      Identity
		wantActor string
		wantErr   string
	}{
		{name: "valid", token: ks.Sign(alice, albtest.SignerARN, exp), want: aliceID, wantActor: "alice@example.com"},
		{name: "padded base64", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": exp.Unix()}, Padded: true}), want: aliceID, wantActor: "alice@example.com"},
		{name: "within clock skew", token: ks.Sign(alice, albtest.SignerARN, t0.Add(-59*time.Second)), want: aliceID, wantActor: "alice@example.com"},
		{name: "no email: actor is sub", token: ks.Sign(map[string]any{"sub": "0a1b2c"}, albtest.SignerARN, exp), want: Identity{Subject: "0a1b2c", Via: ViaALB}, wantActor: "0a1b2c"},
		{name: "email_verified false", token: ks.Sign(map[string]any{"sub": "0a1b2c", "email": "alice@example.com", "email_verified": false}, albtest.SignerARN, exp),
			want: Identity{Subject: "0a1b2c", Email: "alice@example.com", Via: ViaALB, emailUnverified: true}, wantActor: "alice@example.com"},
		{name: "email_verified true", token: ks.Sign(map[string]any{"sub": "0a1b2c", "email": "alice@example.com", "name": "Alice", "email_verified": true}, albtest.SignerARN, exp),
			want: aliceID, wantActor: "alice@example.com"},
		{name: "missing header", token: "", wantErr: "not signed in"},
		{name: "forged: another key, same kid",
			token:   other.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"kid": ks.KID, "exp": exp.Unix()}}),
			wantErr: "x-amzn-oidc-data: bad signature (not signed by key " + ks.KID + ")"},
		{name: "claims changed after signing",
			token:   swapPayload(ks.Sign(map[string]any{"sub": "mallory", "email": "mallory@example.com"}, albtest.SignerARN, exp), ks.Sign(alice, albtest.SignerARN, exp)),
			wantErr: "x-amzn-oidc-data: bad signature (not signed by key " + ks.KID + ")"},
		{name: "alg none", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"alg": "none", "exp": exp.Unix()}, Signature: []byte{}}),
			wantErr: `x-amzn-oidc-data: alg "none", want ES256`},
		{name: "alg HS256", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"alg": "HS256", "exp": exp.Unix()}}),
			wantErr: `x-amzn-oidc-data: alg "HS256", want ES256`},
		{name: "alg es256", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"alg": "es256", "exp": exp.Unix()}}),
			wantErr: `x-amzn-oidc-data: alg "es256", want ES256`},
		{name: "wrong signer", token: ks.Sign(alice, otherSigner, exp),
			wantErr: `x-amzn-oidc-data: signer "` + otherSigner + `" is not in ingress.console.alb.signer_arns`},
		{name: "no signer", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"signer": nil, "exp": exp.Unix()}}),
			wantErr: `x-amzn-oidc-data: signer "" is not in ingress.console.alb.signer_arns`},
		{name: "expired", token: ks.Sign(alice, albtest.SignerARN, t0.Add(-61*time.Second)),
			wantErr: "x-amzn-oidc-data: expired at 2026-03-02T09:58:59Z"},
		{name: "missing exp", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": nil}}),
			wantErr: "x-amzn-oidc-data: header has no exp"},
		{name: "exp not a number", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": "soon"}}),
			wantErr: "x-amzn-oidc-data: header exp is not a number"},
		{name: "exp a list", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": []int{}}}),
			wantErr: "x-amzn-oidc-data: header exp is not a number"},
		{name: "payload exp not a number", token: ks.Sign(map[string]any{"sub": "x", "exp": "tomorrow"}, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: payload exp is not a number"},
		{name: "header not JSON", token: "bm90IGpzb24.e30.c2ln",
			wantErr: "x-amzn-oidc-data: header: not a JWS header: invalid character 'o' in literal null (expecting 'u')"},
		{name: "unknown kid: forged with its own key",
			token:   other.Sign(alice, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: key " + other.KID + ": GET " + ks.URL + "/" + other.KID + ": 404 Not Found: no such key"},
		{name: "payload expired", token: ks.Sign(map[string]any{"sub": "x", "exp": t0.Add(-time.Hour).Unix()}, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: expired at 2026-03-02T09:00:00Z"},
		{name: "empty actor claim", token: ks.Sign(map[string]any{"sub": "0a1b2c", "email": ""}, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: claim email (ingress.console.alb.actor_claim) is empty"},
		{name: "no actor, no sub", token: ks.Sign(map[string]any{"name": "Nobody"}, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: no email claim (ingress.console.alb.actor_claim) and no sub: nobody to name in timelines"},
		{name: "email not a string", token: ks.Sign(map[string]any{"sub": "x", "email": 7}, albtest.SignerARN, exp),
			wantErr: "x-amzn-oidc-data: claim email is not a string"},
		{name: "header with trailing data", token: "eyJhbGciOiJFUzI1NiJ9e30.e30.c2ln",
			wantErr: "x-amzn-oidc-data: header: data after the JSON object"},
		{name: "not a JWT", token: "hello", wantErr: "x-amzn-oidc-data: not a JWT (1 parts, want header.payload.signature)"},
		{name: "short signature", token: ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"exp": exp.Unix()}, Signature: []byte("short")}),
			wantErr: "x-amzn-oidc-data: signature: 5 bytes, want 64 (ES256 r||s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustALB(t, ks, nil)
			id, err := a.Identify(albRequest(tc.token))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v\nwant    %s", err, tc.wantErr)
				}
				if id != (Identity{}) {
					t.Fatalf("refused, yet identity %+v", id)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.want || id.Actor() != tc.wantActor {
				t.Fatalf("identity %+v actor %q, want %+v actor %q", id, id.Actor(), tc.want, tc.wantActor)
			}
		})
	}
}

// swapPayload puts the payload of from into the signed token to.
func swapPayload(from, to string) string {
	f, g := strings.Split(from, "."), strings.Split(to, ".")
	return g[0] + "." + f[1] + "." + g[2]
}

func TestIdentifyALBMissingHeaderIsNoCredentials(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	if _, err := mustALB(t, ks, nil).Identify(albRequest("")); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("error = %v, want ErrNoCredentials", err)
	}
}

// A kid goes into the key URL: anything but a plain segment is refused
// before any fetch.
func TestIdentifyALBUnsafeKid(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	a := mustALB(t, ks, nil)
	for _, kid := range []string{"../x", "..", ".", "a/b", "", "%2e%2e", "a?b", "a#b", `a\b`, "a b", strings.Repeat("k", 129)} {
		tok := ks.SignToken(albtest.Token{Claims: alice, Header: map[string]any{"kid": kid, "exp": t0.Add(time.Minute).Unix()}})
		_, err := a.Identify(albRequest(tok))
		want := `x-amzn-oidc-data: kid "` + strings.ReplaceAll(kid, `\`, `\\`) + `" is not a key ID`
		if err == nil || err.Error() != want {
			t.Errorf("kid %q: error = %v, want %s", kid, err, want)
		}
	}
	if n := ks.Fetches(); n != 0 {
		t.Fatalf("%d key fetches, want 0", n)
	}
}

func TestIdentifyALBKeyCached(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	a := mustALB(t, ks, nil)
	for i := range 3 {
		if _, err := a.Identify(albRequest(ks.Sign(alice, albtest.SignerARN, t0.Add(time.Minute)))); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := ks.Fetches(); n != 1 {
		t.Fatalf("%d key fetches for 3 requests, want 1", n)
	}
	// Concurrent first requests share one fetch too.
	ks2 := albtest.New()
	defer ks2.Close()
	b := mustALB(t, ks2, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := b.Identify(albRequest(ks2.Sign(alice, albtest.SignerARN, t0.Add(time.Minute)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := ks2.Fetches(); n != 1 {
		t.Fatalf("%d key fetches for 8 concurrent requests, want 1", n)
	}
}

// A key that cannot be fetched is an error the console answers with 503,
// never a pass; once the endpoint is back, sign-in works again.
func TestIdentifyALBKeyServerDown(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	clk := newClock()
	cfg := ks.Console()
	a, err := New(cfg, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := ks.Sign(alice, albtest.SignerARN, t0.Add(time.Hour))
	ks.SetFailing(true)
	id, err := a.Identify(albRequest(tok))
	if !errors.Is(err, ErrKeyUnavailable) || id != (Identity{}) {
		t.Fatalf("identity %+v, error = %v, want ErrKeyUnavailable", id, err)
	}
	want := "x-amzn-oidc-data: ALB public key unavailable: key " + ks.KID + ": GET " + ks.URL + "/" + ks.KID + ": 503 Service Unavailable"
	if err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	// Failures are remembered briefly: a burst is not a burst of fetches.
	if _, err := a.Identify(albRequest(tok)); !errors.Is(err, ErrKeyUnavailable) || ks.Fetches() != 1 {
		t.Fatalf("second try: %v after %d fetches", err, ks.Fetches())
	}
	ks.SetFailing(false)
	clk.Add(failedKeyTTL)
	if _, err := a.Identify(albRequest(tok)); err != nil {
		t.Fatal(err)
	}
	// A closed server: the connection fails.
	gone := albtest.New()
	b := mustALB(t, gone, nil)
	gone.Close()
	if _, err := b.Identify(albRequest(gone.Sign(alice, albtest.SignerARN, t0.Add(time.Minute)))); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("closed key server: error = %v, want ErrKeyUnavailable", err)
	}
}

// The region check holds even if the signer list and region disagree (the
// config refuses that; this is the second line).
func TestIdentifyALBSignerInAnotherRegion(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	a := mustALB(t, ks, nil)
	far := "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/irflow/50dc6c495c0c9188"
	a.cfg.ALB.SignerARNs = append(a.cfg.ALB.SignerARNs, far)
	_, err := a.Identify(albRequest(ks.Sign(alice, far, t0.Add(time.Minute))))
	want := `x-amzn-oidc-data: signer "` + far + `" is in us-east-1, not ingress.console.alb.region eu-west-1`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestActorClaim(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	a := mustALB(t, ks, func(c *config.Console) { c.ALB.ActorClaim = "preferred_username" })
	claims := map[string]any{"sub": "0a1b2c", "email": "alice@example.com", "preferred_username": "alice"}
	id, err := a.Identify(albRequest(ks.Sign(claims, albtest.SignerARN, t0.Add(time.Minute))))
	if err != nil {
		t.Fatal(err)
	}
	if id.Actor() != "alice" || id.Email != "alice@example.com" {
		t.Fatalf("actor %q email %q", id.Actor(), id.Email)
	}
	if got := (Identity{Subject: "password", Via: ViaPassword}).Actor(); got != PasswordActor {
		t.Fatalf("password actor %q", got)
	}
}

func TestNewRefusesUnusableConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Console
		want string
	}{
		{"off", config.Console{}, `ingress.console.auth: empty, so the console is off; set "alb" or "password"`},
		{"short password", config.Console{Auth: config.ConsoleAuthPassword, Password: "short"},
			"ingress.console.password: auth is password but the password is empty or under 12 characters (set IRFLOW_CONSOLE_PASSWORD)"},
		{"no signers", config.Console{Auth: config.ConsoleAuthALB, ALB: config.ConsoleALB{Region: "eu-west-1"}},
			"ingress.console.alb.signer_arns: auth is alb but no load balancer ARN is listed; a token signed for any other ALB would be accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, Options{}); err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
	// Defaults are filled for a section built in code.
	a, err := New(config.Console{Auth: config.ConsoleAuthALB, ALB: config.ConsoleALB{Region: albtest.Region, SignerARNs: []string{albtest.SignerARN}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode() != config.ConsoleAuthALB || a.keys.base != "https://public-keys.auth.elb.eu-west-1.amazonaws.com" {
		t.Fatalf("mode %s, key URL %s", a.Mode(), a.keys.base)
	}
	if _, err := a.Login(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/ui/login", nil), "x"); err == nil ||
		err.Error() != "login: ingress.console.auth is alb; sign in through the load balancer" {
		t.Fatalf("Login in alb mode: %v", err)
	}
}

// The cache holds at most maxKeys keys, dropping the oldest.
func TestKeyCacheBounded(t *testing.T) {
	ks := albtest.New()
	defer ks.Close()
	var pemKey []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(pemKey)
	}))
	defer srv.Close()
	resp, err := http.Get(ks.URL + "/" + ks.KID)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ = io.ReadAll(resp.Body)
	resp.Body.Close()

	c := newKeyCache(srv.URL, srv.Client(), newClock().Now)
	for i := range maxKeys + 1 {
		if _, err := c.get(t.Context(), fmt.Sprintf("kid-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.keys) != maxKeys || len(c.order) != maxKeys {
		t.Fatalf("%d keys cached (%d in order), want %d", len(c.keys), len(c.order), maxKeys)
	}
	if _, ok := c.keys["kid-0"]; ok {
		t.Fatal("oldest key not dropped")
	}
}
