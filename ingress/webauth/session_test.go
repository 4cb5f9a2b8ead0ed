package webauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
)

const testPassword = "correct horse battery"

func mustPassword(tb testing.TB, clk *clock) *Authenticator {
	tb.Helper()
	a, err := New(config.Console{Auth: config.ConsoleAuthPassword, Password: testPassword}, Options{Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func loginRequest(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/ui/login", nil)
	r.RemoteAddr = addr
	return r
}

// login signs in and returns the session cookie.
func login(tb testing.TB, a *Authenticator, r *http.Request) *http.Cookie {
	tb.Helper()
	w := httptest.NewRecorder()
	id, err := a.Login(w, r, testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	if id.Actor() != PasswordActor || id.Via != ViaPassword {
		tb.Fatalf("login identity %+v", id)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	tb.Fatalf("no %s cookie in %v", SessionCookie, w.Header())
	return nil
}

func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ui/", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

func TestPasswordLogin(t *testing.T) {
	clk := newClock()
	a := mustPassword(t, clk)
	if a.Mode() != config.ConsoleAuthPassword {
		t.Fatalf("mode %s", a.Mode())
	}
	if _, err := a.Identify(withCookie(nil)); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("no cookie: %v, want ErrNoCredentials", err)
	}
	w := httptest.NewRecorder()
	if _, err := a.Login(w, loginRequest("192.0.2.1:5000"), "wrong"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("a wrong password set a cookie")
	}
	// A password that only starts like the right one.
	if _, err := a.Login(httptest.NewRecorder(), loginRequest("192.0.2.1:5000"), testPassword[:12]); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("prefix of the password: %v", err)
	}

	c := login(t, a, loginRequest("192.0.2.1:5000"))
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/ui/" || c.Secure || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Fatalf("cookie %+v", c)
	}
	id, err := a.Identify(withCookie(c))
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{Subject: "password", Via: ViaPassword}) || id.Actor() != "console" {
		t.Fatalf("identity %+v actor %q", id, id.Actor())
	}

	// Behind a proxy that terminated TLS, and over TLS, the cookie is Secure.
	r := loginRequest("192.0.2.1:5000")
	r.Header.Set("X-Forwarded-Proto", "https")
	if c := login(t, a, r); !c.Secure {
		t.Fatal("X-Forwarded-Proto https: cookie not Secure")
	}
	r = httptest.NewRequest(http.MethodPost, "https://irflow.example.com/ui/login", nil)
	if c := login(t, a, r); !c.Secure {
		t.Fatal("TLS: cookie not Secure")
	}

	// Another process with another key does not accept the cookie.
	b := mustPassword(t, clk)
	if _, err := b.Identify(withCookie(c)); err == nil || err.Error() != "irflow_session cookie: bad signature (tampered, or signed with another session key)" {
		t.Fatalf("other key: %v", err)
	}
}

func TestSessionRefusals(t *testing.T) {
	clk := newClock()
	a := mustPassword(t, clk)
	c := login(t, a, loginRequest("192.0.2.1:5000"))
	payload, mac, _ := strings.Cut(c.Value, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"tampered payload", flip(payload) + "." + mac, "irflow_session cookie: bad signature (tampered, or signed with another session key)"},
		{"tampered mac", payload + "." + flip(mac), "irflow_session cookie: bad signature (tampered, or signed with another session key)"},
		{"no mac", payload, "irflow_session cookie: malformed"},
		{"garbage", "!!!.???", "irflow_session cookie: malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Identify(withCookie(&http.Cookie{Name: SessionCookie, Value: tc.value}))
			if err == nil || err.Error() != tc.want || id != (Identity{}) {
				t.Fatalf("identity %+v, error = %v\nwant %s", id, err, tc.want)
			}
		})
	}
	clk.Add(12 * time.Hour)
	if _, err := a.Identify(withCookie(c)); err == nil || err.Error() != "irflow_session cookie: session expired at 2026-03-02T22:00:00Z; sign in again" {
		t.Fatalf("expired: %v", err)
	}
}

func TestLogout(t *testing.T) {
	a := mustPassword(t, newClock())
	c := login(t, a, loginRequest("192.0.2.1:5000"))
	w := httptest.NewRecorder()
	a.Logout(w, withCookie(c))
	cleared := w.Result().Cookies()
	if len(cleared) != 1 || cleared[0].Name != SessionCookie || cleared[0].Value != "" || cleared[0].MaxAge != -1 || cleared[0].Path != "/ui/" {
		t.Fatalf("logout cookies %+v", cleared)
	}
	// A copy of the old cookie is refused by this process.
	if _, err := a.Identify(withCookie(c)); err == nil || err.Error() != "irflow_session cookie: signed out" {
		t.Fatalf("after logout: %v", err)
	}
	// Logout without a cookie still clears.
	w = httptest.NewRecorder()
	a.Logout(w, withCookie(nil))
	if len(w.Result().Cookies()) != 1 {
		t.Fatal("no clearing cookie")
	}
	// A new login works.
	if _, err := a.Identify(withCookie(login(t, a, loginRequest("192.0.2.1:5000")))); err != nil {
		t.Fatal(err)
	}
}

func TestLoginLockout(t *testing.T) {
	clk := newClock()
	a := mustPassword(t, clk)
	for i := range 10 {
		if _, err := a.Login(httptest.NewRecorder(), loginRequest("192.0.2.1:5000"), "guess"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
		clk.Add(time.Second)
	}
	// Locked: even the right password, from another port of the same address.
	w := httptest.NewRecorder()
	if _, err := a.Login(w, loginRequest("192.0.2.1:6000"), testPassword); err != ErrTooManyAttempts {
		t.Fatalf("11th try: %v, want ErrTooManyAttempts", err)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("locked out, yet a cookie")
	}
	// Another address is not locked; neither is another /64 of IPv6.
	login(t, a, loginRequest("192.0.2.2:5000"))
	for range 10 {
		_, _ = a.Login(httptest.NewRecorder(), loginRequest("[2001:db8:0:1::1]:5000"), "guess")
	}
	if _, err := a.Login(httptest.NewRecorder(), loginRequest("[2001:db8:0:1::ffff]:5000"), testPassword); err != ErrTooManyAttempts {
		t.Fatalf("same /64: %v, want ErrTooManyAttempts", err)
	}
	login(t, a, loginRequest("[2001:db8:0:2::1]:5000"))
	// A minute after the first guess, one attempt frees up.
	clk.Add(51 * time.Second)
	login(t, a, loginRequest("192.0.2.1:5000"))
}

func TestCSRF(t *testing.T) {
	clk := newClock()
	a := mustPassword(t, clk)
	aliceID := Identity{Subject: "0a1b2c", Email: "alice@example.com", Via: ViaALB}
	bob := Identity{Subject: "9z8y7x", Email: "bob@example.com", Via: ViaALB}
	tok := a.CSRFToken(aliceID)
	if err := a.CheckCSRF(aliceID, tok); err != nil {
		t.Fatal(err)
	}
	other := mustPassword(t, clk)
	for _, tc := range []struct {
		name  string
		a     *Authenticator
		id    Identity
		token string
		want  string
	}{
		{"wrong identity", a, bob, tok, "bad CSRF token: not issued to bob@example.com"},
		{"same email, other subject", a, Identity{Subject: "other", Email: "alice@example.com", Via: ViaALB}, tok, "bad CSRF token: not issued to alice@example.com"},
		{"password identity", a, passwordIdentity(), tok, "bad CSRF token: not issued to console"},
		{"another session key", other, aliceID, tok, "bad CSRF token: not issued to alice@example.com"},
		{"garbage", a, aliceID, "not-a-token", "bad CSRF token: malformed"},
		{"truncated", a, aliceID, tok[:len(tok)-2], "bad CSRF token: malformed"},
		{"empty", a, aliceID, "", "bad CSRF token: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.CheckCSRF(tc.id, tc.token)
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrBadCSRF) {
				t.Fatalf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
	clk.Add(12*time.Hour + time.Second)
	if err := a.CheckCSRF(aliceID, tok); err == nil || err.Error() != "bad CSRF token: expired; reload the page" {
		t.Fatalf("old token: %v", err)
	}
	if err := a.CheckCSRF(aliceID, a.CSRFToken(aliceID)); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
}
