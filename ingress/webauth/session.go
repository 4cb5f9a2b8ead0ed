package webauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/internal/config"
)

// SessionCookie holds a password login.
const SessionCookie = "irflow_session"

const (
	cookiePath = "/ui/"
	// maxFailures wrong passwords per failWindow from one address, then
	// ErrTooManyAttempts until the oldest is a failWindow old: a generated
	// password cannot be guessed at 10 a minute.
	maxFailures = 10
	failWindow  = time.Minute
	// maxTracked bounds the addresses and revoked sessions held in memory.
	maxTracked = 4096
)

// ErrBadCSRF wraps every CheckCSRF refusal (answer 403).
var ErrBadCSRF = errors.New("bad CSRF token")

// mac is HMAC-SHA256 under the session key of the parts, with a purpose
// first so a session MAC is never a valid CSRF token or the reverse.
func (a *Authenticator) mac(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// Login checks the shared password (auth: password only) and, when it is
// right, sets the session cookie. Wrong passwords are counted per remote
// address; past the limit even the right one gets ErrTooManyAttempts.
func (a *Authenticator) Login(w http.ResponseWriter, r *http.Request, password string) (Identity, error) {
	if a.cfg.Auth != config.ConsoleAuthPassword {
		return Identity{}, fmt.Errorf("login: ingress.console.auth is %s; sign in through the load balancer", a.cfg.Auth)
	}
	addr := clientAddr(r)
	if !a.fails.allow(addr) {
		return Identity{}, ErrTooManyAttempts
	}
	// Hashes first, so the comparison takes the same time whatever the lengths.
	got, want := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(a.cfg.Password))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		a.fails.fail(addr)
		return Identity{}, ErrWrongPassword
	}
	sid := make([]byte, 16)
	if _, err := rand.Read(sid); err != nil {
		return Identity{}, fmt.Errorf("login: session id: %w", err)
	}
	now := a.now()
	exp := now.Add(time.Duration(a.cfg.SessionTTL))
	payload := strings.Join([]string{"v1", hex.EncodeToString(sid), strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(exp.Unix(), 10)}, "|")
	value := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(a.mac("session", payload))
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: cookiePath,
		Expires: exp, MaxAge: int(time.Duration(a.cfg.SessionTTL) / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overTLS(r),
	})
	return passwordIdentity(), nil
}

func passwordIdentity() Identity { return Identity{Subject: "password", Via: ViaPassword} }

// Logout clears the cookie and, when it held a valid session, refuses that
// session from now on in this process (other ingress tasks honour it until
// it expires).
func (a *Authenticator) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if sid, exp, err := a.readSession(c.Value); err == nil {
			a.revokedMu.Lock()
			now := a.now()
			if len(a.revoked) >= maxTracked {
				for s, e := range a.revoked {
					if now.After(e) {
						delete(a.revoked, s)
					}
				}
			}
			if len(a.revoked) < maxTracked {
				a.revoked[sid] = exp
			}
			a.revokedMu.Unlock()
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: cookiePath, MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overTLS(r),
	})
}

func (a *Authenticator) identifySession(r *http.Request) (Identity, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Identity{}, ErrNoCredentials
	}
	sid, _, err := a.readSession(c.Value)
	if err != nil {
		return Identity{}, fmt.Errorf("%s cookie: %w", SessionCookie, err)
	}
	a.revokedMu.Lock()
	_, gone := a.revoked[sid]
	a.revokedMu.Unlock()
	if gone {
		return Identity{}, fmt.Errorf("%s cookie: signed out", SessionCookie)
	}
	return passwordIdentity(), nil
}

// readSession verifies a cookie value and returns its session ID and expiry.
func (a *Authenticator) readSession(value string) (string, time.Time, error) {
	p, m, ok := strings.Cut(value, ".")
	if !ok {
		return "", time.Time{}, errors.New("malformed")
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sum, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil {
		return "", time.Time{}, errors.New("malformed")
	}
	if !hmac.Equal(sum, a.mac("session", string(payload))) {
		return "", time.Time{}, errors.New("bad signature (tampered, or signed with another session key)")
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 4 || f[0] != "v1" {
		return "", time.Time{}, errors.New("unknown format")
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return "", time.Time{}, errors.New("unknown format")
	}
	t := time.Unix(exp, 0)
	if !a.now().Before(t) {
		return "", time.Time{}, fmt.Errorf("session expired at %s; sign in again", t.UTC().Format(time.RFC3339))
	}
	return f[1], t, nil
}

// CSRFToken returns the token a form that acts (acknowledge, resolve, ...)
// carries for id. It is bound to the identity and its issue time, and valid
// for ingress.console.session_ttl.
func (a *Authenticator) CSRFToken(id Identity) string {
	iat := a.now().Unix()
	b := binary.BigEndian.AppendUint64(nil, uint64(iat))
	b = append(b, a.csrfMAC(id, iat)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *Authenticator) csrfMAC(id Identity, iat int64) []byte {
	return a.mac("csrf", id.Via, id.Subject, id.Actor(), strconv.FormatInt(iat, 10))
}

// CheckCSRF refuses a token that CSRFToken did not issue for id, or issued
// longer ago than the session TTL. Every error wraps ErrBadCSRF.
func (a *Authenticator) CheckCSRF(id Identity, token string) error {
	if token == "" {
		return fmt.Errorf("%w: missing", ErrBadCSRF)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 8+sha256.Size {
		return fmt.Errorf("%w: malformed", ErrBadCSRF)
	}
	iat := int64(binary.BigEndian.Uint64(b[:8]))
	if !hmac.Equal(b[8:], a.csrfMAC(id, iat)) {
		return fmt.Errorf("%w: not issued to %s", ErrBadCSRF, id.Actor())
	}
	issued, now := time.Unix(iat, 0), a.now()
	if now.Sub(issued) > time.Duration(a.cfg.SessionTTL) || issued.Sub(now) > clockSkew {
		return fmt.Errorf("%w: expired; reload the page", ErrBadCSRF)
	}
	return nil
}

// overTLS: the browser reached us over https, directly or through a proxy
// that terminated TLS, so the cookie may say Secure.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// clientAddr is the address failures are counted against: the connection's
// peer (never X-Forwarded-For, which the guesser writes), IPv6 by /64.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

// failLimiter counts wrong passwords per address over the last failWindow.
type failLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	by  map[string][]time.Time
}

func newFailLimiter(now func() time.Time) *failLimiter {
	return &failLimiter{now: now, by: map[string][]time.Time{}}
}

// recent drops the failures older than the window; mu is held.
func (l *failLimiter) recent(addr string, now time.Time) []time.Time {
	ts := l.by[addr]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= failWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.by, addr)
	} else {
		l.by[addr] = ts
	}
	return ts
}

func (l *failLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(addr, l.now())) < maxFailures
}

func (l *failLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if _, ok := l.by[addr]; !ok && len(l.by) >= maxTracked {
		for a := range l.by {
			l.recent(a, now)
		}
		if len(l.by) >= maxTracked {
			// Thousands of addresses guessing at once: forget the oldest
			// state rather than grow without bound.
			clear(l.by)
		}
	}
	l.by[addr] = append(l.recent(addr, now), now)
}
