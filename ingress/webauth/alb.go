package webauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/internal/config"
)

// ALBHeader carries the signed user claims an ALB with OIDC authentication
// adds to every request it forwards.
const ALBHeader = "x-amzn-oidc-data"

const (
	// maxTokenBytes bounds the header; ALB tokens are a few hundred bytes
	// plus the IdP's claims.
	maxTokenBytes = 16 << 10
	maxKeyBytes   = 8 << 10
	// maxKeys bounds the key cache: an ALB rotates keys rarely.
	maxKeys = 64
	// maxFetches bounds concurrent key fetches, whatever kids requests name.
	maxFetches = 4
	// failedKeyTTL spaces out fetches of a kid that just failed, so a burst
	// of requests does not become a burst of fetches.
	failedKeyTTL = 5 * time.Second
)

// kidPattern is a safe URL path segment; ALB key IDs are UUIDs.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// albHeader is the JWS header the ALB writes.
type albHeader struct {
	Alg    string `json:"alg"`
	Kid    string `json:"kid"`
	Signer string `json:"signer"`
	Iss    string `json:"iss"`
	Client string `json:"client"`
	Exp    any    `json:"exp"` // json.Number when a number
}

// decodeSegment accepts base64url with and without '=' padding: ALBs have
// been seen to pad.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (a *Authenticator) identifyALB(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrNoCredentials
	}
	id, err := a.verifyALB(ctx, token)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", ALBHeader, err)
	}
	return id, nil
}

// verifyALB checks everything it can before fetching a key, so a forged
// header costs no request to the key endpoint.
func (a *Authenticator) verifyALB(ctx context.Context, token string) (Identity, error) {
	if len(token) > maxTokenBytes {
		return Identity{}, fmt.Errorf("%d bytes, over %d", len(token), maxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Identity{}, fmt.Errorf("not a JWT (%d parts, want header.payload.signature)", len(parts))
	}
	raw, err := decodeSegment(parts[0])
	if err != nil {
		return Identity{}, fmt.Errorf("header: not base64url: %v", err)
	}
	var h albHeader
	hd := json.NewDecoder(bytes.NewReader(raw))
	hd.UseNumber()
	if err := hd.Decode(&h); err != nil {
		return Identity{}, fmt.Errorf("header: not a JWS header: %v", err)
	}
	if _, err := hd.Token(); err != io.EOF {
		return Identity{}, fmt.Errorf("header: data after the JSON object")
	}
	if h.Alg != "ES256" {
		return Identity{}, fmt.Errorf("alg %q, want ES256", h.Alg)
	}
	if !slices.Contains(a.cfg.ALB.SignerARNs, h.Signer) {
		return Identity{}, fmt.Errorf("signer %q is not in ingress.console.alb.signer_arns", h.Signer)
	}
	if r := config.ALBRegion(h.Signer); r != a.cfg.ALB.Region {
		return Identity{}, fmt.Errorf("signer %q is in %s, not ingress.console.alb.region %s", h.Signer, r, a.cfg.ALB.Region)
	}
	if !kidPattern.MatchString(h.Kid) {
		return Identity{}, fmt.Errorf("kid %q is not a key ID", h.Kid)
	}
	now := a.now()
	if err := checkExp("header", h.Exp, now); err != nil {
		return Identity{}, err
	}
	sig, err := decodeSegment(parts[2])
	if err != nil {
		return Identity{}, fmt.Errorf("signature: not base64url: %v", err)
	}
	if len(sig) != 64 {
		return Identity{}, fmt.Errorf("signature: %d bytes, want 64 (ES256 r||s)", len(sig))
	}
	pub, err := a.keys.get(ctx, h.Kid)
	if err != nil {
		return Identity{}, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return Identity{}, fmt.Errorf("bad signature (not signed by key %s)", h.Kid)
	}
	raw, err = decodeSegment(parts[1])
	if err != nil {
		return Identity{}, fmt.Errorf("payload: not base64url: %v", err)
	}
	var claims map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&claims); err != nil || claims == nil {
		return Identity{}, fmt.Errorf("payload: not a JSON object")
	}
	if _, err := d.Token(); err != io.EOF {
		return Identity{}, fmt.Errorf("payload: data after the JSON object")
	}
	if exp, ok := claims["exp"]; ok {
		if err := checkExp("payload", exp, now); err != nil {
			return Identity{}, err
		}
	}
	return a.albIdentity(claims)
}

// checkExp refuses a missing exp and one more than clockSkew in the past.
func checkExp(where string, exp any, now time.Time) error {
	if exp == nil {
		return fmt.Errorf("%s has no exp", where)
	}
	n, ok := exp.(json.Number)
	if !ok {
		return fmt.Errorf("%s exp is not a number", where)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > math.MaxInt32*4 {
		return fmt.Errorf("%s exp %s is not a time", where, n)
	}
	t := time.Unix(int64(f), 0)
	if now.After(t.Add(clockSkew)) {
		return fmt.Errorf("expired at %s", t.UTC().Format(time.RFC3339))
	}
	return nil
}

func (a *Authenticator) albIdentity(claims map[string]any) (Identity, error) {
	str := func(name string) (string, error) {
		v, ok := claims[name]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("claim %s is not a string", name)
		}
		return s, nil
	}
	var id Identity
	var err error
	if id.Subject, err = str("sub"); err != nil {
		return Identity{}, err
	}
	if id.Email, err = str("email"); err != nil {
		return Identity{}, err
	}
	if id.Name, err = str("name"); err != nil {
		return Identity{}, err
	}
	// An address the provider says it has not verified may be anyone's:
	// it still names the person, but never matches allow_resolve.
	if v, ok := claims["email_verified"]; ok && (v == false || v == "false") {
		id.emailUnverified = true
	}
	id.Via = ViaALB
	claim := a.cfg.ALB.ActorClaim
	actor, err := str(claim)
	if err != nil {
		return Identity{}, err
	}
	if _, present := claims[claim]; present && strings.TrimSpace(actor) == "" {
		return Identity{}, fmt.Errorf("claim %s (ingress.console.alb.actor_claim) is empty", claim)
	}
	if actor == "" {
		actor = id.Subject
	}
	if strings.TrimSpace(actor) == "" {
		return Identity{}, fmt.Errorf("no %s claim (ingress.console.alb.actor_claim) and no sub: nobody to name in timelines", claim)
	}
	if actor != id.Actor() {
		id.actor = actor
	}
	return id, nil
}

// unknownKeyError: the key endpoint says there is no key of that ID.
type unknownKeyError string

func (e unknownKeyError) Error() string { return string(e) }

// keyCache holds the ALB's public keys by kid. A key never changes under
// its kid, so a fetched key is kept until the cache is full.
type keyCache struct {
	base   string
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	keys     map[string]*ecdsa.PublicKey
	order    []string // oldest first, for eviction
	inflight map[string]*fetch
	failed   map[string]failure
	sem      chan struct{}
}

type fetch struct {
	done chan struct{}
	key  *ecdsa.PublicKey
	err  error
}

type failure struct {
	err error
	at  time.Time
}

func newKeyCache(base string, client *http.Client, now func() time.Time) *keyCache {
	return &keyCache{
		base: base, client: client, now: now,
		keys: map[string]*ecdsa.PublicKey{}, inflight: map[string]*fetch{}, failed: map[string]failure{},
		sem: make(chan struct{}, maxFetches),
	}
}

// get returns the key for kid, fetching it once however many requests ask
// at the same time. A failed fetch is an ErrKeyUnavailable error, never a pass.
func (c *keyCache) get(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	c.mu.Lock()
	if k, ok := c.keys[kid]; ok {
		c.mu.Unlock()
		return k, nil
	}
	if f, ok := c.failed[kid]; ok && c.now().Sub(f.at) < failedKeyTTL {
		c.mu.Unlock()
		return nil, f.err
	}
	f, ok := c.inflight[kid]
	if !ok {
		f = &fetch{done: make(chan struct{})}
		c.inflight[kid] = f
		// Detached from the request, since the fetch serves every waiter;
		// bounded even if the injected client has no timeout.
		go c.fetch(context.WithoutCancel(ctx), kid, f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.key, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrKeyUnavailable, ctx.Err())
	}
}

func (c *keyCache) fetch(ctx context.Context, kid string, f *fetch) {
	ctx, cancel := context.WithTimeout(ctx, defaultFetchTimeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
		f.key, f.err = c.load(ctx, kid)
		<-c.sem
	case <-ctx.Done():
		f.err = errors.New("too many key fetches at once")
	}
	var unknown unknownKeyError
	switch {
	case errors.As(f.err, &unknown):
		// The endpoint answered: this key does not exist, so the token is
		// forged or garbled, a refusal rather than an outage.
		f.err = fmt.Errorf("key %s: %w", kid, f.err)
	case f.err != nil:
		f.err = fmt.Errorf("%w: key %s: %v", ErrKeyUnavailable, kid, f.err)
	}
	c.mu.Lock()
	delete(c.inflight, kid)
	if f.err != nil {
		if len(c.failed) >= maxKeys {
			clear(c.failed)
		}
		c.failed[kid] = failure{err: f.err, at: c.now()}
	} else {
		delete(c.failed, kid)
		if len(c.order) >= maxKeys {
			delete(c.keys, c.order[0])
			c.order = c.order[1:]
		}
		c.keys[kid] = f.key
		c.order = append(c.order, kid)
	}
	c.mu.Unlock()
	close(f.done)
}

func (c *keyCache) load(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/"+kid, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyBytes+1))
	if err != nil {
		return nil, err
	}
	// S3 (the GovCloud endpoint) answers 403 for a missing object.
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden {
		return nil, unknownKeyError(fmt.Sprintf("GET %s: %s: no such key", req.URL, resp.Status))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	if len(body) > maxKeyBytes {
		return nil, fmt.Errorf("GET %s: over %d bytes", req.URL, maxKeyBytes)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("GET %s: not a PEM public key", req.URL)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", req.URL, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("GET %s: not a P-256 key", req.URL)
	}
	return ec, nil
}
