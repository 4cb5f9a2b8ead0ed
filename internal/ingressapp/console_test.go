package ingressapp_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/irflow/irflow/internal/config"
)

// The process mounts the console under /ui/ exactly when
// ingress.console.auth is set, and a password signs in there.
func TestServesConsoleWhenConfigured(t *testing.T) {
	cfg := config.Default()
	cfg.Ingress.Tokens = map[string]string{"ci": "token-1"}
	off, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, http.MethodGet, off.URL()+"/ui/login"); got != http.StatusNotFound {
		t.Fatalf("/ui/login without ingress.console.auth = %d, want 404 (not mounted)", got)
	}

	cfg.Ingress.Console = config.Console{Auth: config.ConsoleAuthPassword, Password: "a long dev password"}
	cfg.Ingress.Console.SetDefaults()
	on, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(on.URL() + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("GET /ui/ = %d to %q, want 303 to /ui/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = noRedirect.PostForm(on.URL()+"/ui/login", url.Values{"password": {"a long dev password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("POST /ui/login = %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
}
