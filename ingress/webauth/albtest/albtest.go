// Package albtest stands in for an Application Load Balancer with OIDC
// authentication in tests: a P-256 key, a server that hands out its public
// key the way the regional ALB key endpoint does, and tokens signed like the
// x-amzn-oidc-data header. Tests of webauth and of the console use it to
// forge valid and invalid sign-ins; production code never imports it.
package albtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/irflow/irflow/internal/config"
)

// The load balancer the tokens come from by default.
const (
	Region    = "eu-west-1"
	SignerARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/irflow/50dc6c495c0c9188"
	// Header is the request header the ALB sets.
	Header = "x-amzn-oidc-data"
)

// KeyServer signs tokens with its key and serves the public key as PEM at
// URL + "/" + KID, like https://public-keys.auth.elb.<region>.amazonaws.com.
type KeyServer struct {
	// URL is the key endpoint (no trailing slash): config.ConsoleALB.KeyURL.
	URL string
	// KID is the key ID tokens carry; random per server.
	KID string
	// Key signs the tokens.
	Key *ecdsa.PrivateKey

	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	failing bool
}

// New generates a key and starts its key server. Close it when done.
func New() *KeyServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("albtest: generate key: %v", err))
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		panic(fmt.Sprintf("albtest: marshal public key: %v", err))
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	k := &KeyServer{Key: key, KID: hex.EncodeToString(id)}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.fetches.Add(1)
		k.mu.Lock()
		failing := k.failing
		k.mu.Unlock()
		switch {
		case failing:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		case r.URL.Path != "/"+k.KID:
			http.NotFound(w, r)
		default:
			_, _ = w.Write(pemKey)
		}
	}))
	k.URL = k.srv.URL
	return k
}

// Close stops the key server; fetches fail from then on.
func (k *KeyServer) Close() { k.srv.Close() }

// Fetches counts the requests the key server has answered.
func (k *KeyServer) Fetches() int { return int(k.fetches.Load()) }

// SetFailing makes the key server answer 503 (true) or the key again (false).
func (k *KeyServer) SetFailing(failing bool) {
	k.mu.Lock()
	k.failing = failing
	k.mu.Unlock()
}

// Console is an auth: alb console section that trusts this server's tokens
// from SignerARN, with defaults set.
func (k *KeyServer) Console() config.Console {
	c := config.Console{
		Auth: config.ConsoleAuthALB,
		ALB:  config.ConsoleALB{Region: Region, SignerARNs: []string{SignerARN}, KeyURL: k.URL},
	}
	c.SetDefaults()
	return c
}

// Sign returns an x-amzn-oidc-data value as the ALB would send it: claims
// as the payload, signed by signerARN, expiring at exp.
func (k *KeyServer) Sign(claims map[string]any, signerARN string, exp time.Time) string {
	return k.SignToken(Token{Claims: claims, Header: map[string]any{"signer": signerARN, "exp": exp.Unix()}})
}

// Token is a token with every part under the test's control, for forgeries.
type Token struct {
	// Header is laid over the defaults (alg ES256, kid KID, signer
	// SignerARN, iss, client, exp in an hour); a nil value removes the field.
	Header map[string]any
	// Claims is the payload as is.
	Claims map[string]any
	// Padded encodes every part with '=' padding, as ALBs are known to do.
	Padded bool
	// Signature replaces the ES256 signature when set (alg none: []byte{}).
	Signature []byte
}

// SignToken encodes and signs t with the server's key.
func (k *KeyServer) SignToken(t Token) string {
	h := map[string]any{
		"alg": "ES256", "kid": k.KID, "signer": SignerARN, "typ": "JWT",
		"iss": "https://idp.example.com", "client": "irflow-console",
		"exp": time.Now().Add(time.Hour).Unix(),
	}
	for name, v := range t.Header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	enc := base64.RawURLEncoding
	if t.Padded {
		enc = base64.URLEncoding
	}
	input := enc.EncodeToString(mustJSON(h)) + "." + enc.EncodeToString(mustJSON(t.Claims))
	sig := t.Signature
	if sig == nil {
		sig = k.signES256(input)
	}
	return input + "." + enc.EncodeToString(sig)
}

// signES256 is JWS ES256: the SHA-256 of the input, signed, as r||s in 32 bytes each.
func (k *KeyServer) signES256(input string) []byte {
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.Key, sum[:])
	if err != nil {
		panic(fmt.Sprintf("albtest: sign: %v", err))
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// Verify reports whether token carries a valid ES256 signature by this
// server's key: the reference a fuzzer holds the verifier to.
func (k *KeyServer) Verify(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil || len(sig) != 64 {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return ecdsa.Verify(&k.Key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("albtest: encode: %v", err))
	}
	return b
}
