// Package console is the incident console under /ui/: the incidents list,
// one incident with its buttons, and a 7-day overview, rendered on the
// server from html/template with inline SVG charts. htmx (vendored, pinned
// in assets/package.json) polls fragments so a page follows its incidents
// without a reload; every page reads well without JavaScript. Sign-in is
// ingress/webauth's; the ingress process mounts the handler when
// ingress.console.auth is set.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/ingress/webauth"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// Incidents is what the console needs of Temporal; internal/client.Client
// implements it.
type Incidents interface {
	Get(ctx context.Context, id string) (incident.Incident, error)
	Acknowledge(ctx context.Context, id string, req workflows.AcknowledgeRequest) (incident.Incident, error)
	Snooze(ctx context.Context, id string, req workflows.SnoozeRequest) (incident.Incident, error)
	Rescan(ctx context.Context, id string, req workflows.RescanRequest) (incident.Incident, error)
	Resolve(ctx context.Context, id string, req workflows.ResolveRequest) (incident.Incident, error)
	// ListPage is one visibility page, search attributes only.
	ListPage(ctx context.Context, f workflows.ListFilter) (workflows.ListPage, error)
	// CountBySeverity counts what f matches, f.Severity aside, per severity.
	CountBySeverity(ctx context.Context, f workflows.ListFilter) (map[incident.Severity]int64, error)
	// IncidentsSince is the digest's collector; the overview draws from it.
	IncidentsSince(ctx context.Context, since, until time.Time) ([]incident.Incident, int, error)
}

// Config is the console section plus what the pages link to.
type Config struct {
	config.Console
	// TemporalUIURL (slack.temporal_ui_url) and Namespace make the
	// "open in Temporal" link; empty URL: no link.
	TemporalUIURL string
	Namespace     string
	// AllowResolve is ingress.slack.allow_resolve, named when the console
	// refuses a resolve or snooze.
	AllowResolve []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OverviewTTL is how long the overview's figures are reused; 0 means 60s.
	OverviewTTL time.Duration
}

// maxForm bounds what a POST may send.
const maxForm = 64 << 10

// SnoozeFor is how long the Snooze button snoozes, as Slack's button does.
const SnoozeFor = time.Hour

// Paths the console serves.
const (
	Prefix       = "/ui/"
	LoginPath    = "/ui/login"
	LogoutPath   = "/ui/logout"
	OverviewPath = "/ui/overview"
	FragmentPath = "/ui/incidents/fragment"
	IncidentPath = "/ui/incidents/"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/htmx.min.js static/console.css static/console.js
var staticFS embed.FS

// Handler serves /ui/.
type Handler struct {
	cfg      Config
	inc      Incidents
	auth     *webauth.Authenticator
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	overview overviewCache
}

// New returns the console handler. auth decides who is signed in and who
// may resolve.
func New(cfg Config, inc Incidents, auth *webauth.Authenticator, logger *slog.Logger) (*Handler, error) {
	cfg.SetDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OverviewTTL <= 0 {
		cfg.OverviewTTL = time.Minute
	}
	if logger == nil {
		logger = slog.Default()
	}
	if auth == nil {
		return nil, errors.New("console: no authenticator")
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, inc: inc, auth: auth, log: logger, mux: http.NewServeMux(), pages: pages}
	h.overview.ttl = cfg.OverviewTTL
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	h.mux.Handle("GET /ui/static/", cacheFor(time.Hour, files))
	h.mux.HandleFunc("GET /ui/login", h.loginPage)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.signedIn(h.logout))
	h.mux.HandleFunc("GET /ui/{$}", h.signedIn(h.listPage))
	h.mux.HandleFunc("GET "+FragmentPath, h.signedIn(h.listFragment))
	h.mux.HandleFunc("GET /ui/incidents/{id}", h.signedIn(h.incidentPage))
	h.mux.HandleFunc("GET /ui/incidents/{id}/live", h.signedIn(h.incidentFragment))
	h.mux.HandleFunc("POST /ui/incidents/{id}/{action}", h.signedIn(h.act))
	h.mux.HandleFunc("GET "+OverviewPath, h.signedIn(h.overviewPage))
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "Not found", "There is no console page at "+r.URL.Path+".")
	})
}

// ServeHTTP serves the console; every answer is marked not to be framed or
// sniffed, and pages are not cached (they carry CSRF tokens).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'")
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

type identityKey struct{}

// signedIn runs next for a signed-in person: a POST also needs the CSRF
// token of that person. Otherwise, with a password, a page redirects to the
// login (htmx is told to go there); behind the ALB, a 401 says why.
func (h *Handler) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := h.auth.Identify(r)
		if err != nil {
			h.unauthenticated(w, r, err)
			return
		}
		if r.Method == http.MethodPost {
			// A form here is a token and a note: no reason to read more.
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := h.auth.CheckCSRF(id, r.PostFormValue("csrf")); err != nil {
				h.log.Warn("console: csrf refused", "path", r.URL.Path, "actor", id.Actor(), "error", err)
				h.fail(w, r, http.StatusForbidden, "Refused", "The form was stale or not sent by this console (CSRF check failed). Reload the page and try again.")
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}

func identity(r *http.Request) webauth.Identity {
	id, _ := r.Context().Value(identityKey{}).(webauth.Identity)
	return id
}

func (h *Handler) unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, webauth.ErrKeyUnavailable) {
		// The sign-in may be fine; irflow cannot check it right now.
		h.log.Warn("console: sign-in not checked", "path", r.URL.Path, "error", err)
		h.fail(w, r, http.StatusServiceUnavailable, "Sign-in cannot be checked", "The load balancer's public key could not be fetched; try again in a moment.")
		return
	}
	if h.auth.Mode() == config.ConsoleAuthPassword {
		if r.Header.Get("HX-Request") != "" {
			w.Header().Set("HX-Redirect", LoginPath)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, LoginPath, http.StatusSeeOther)
			return
		}
		h.fail(w, r, http.StatusUnauthorized, "Sign in first", "You are not signed in, or your session ended. Sign in at "+LoginPath+".")
		return
	}
	why := "The request carried no sign-in from the load balancer."
	if !errors.Is(err, webauth.ErrNoCredentials) {
		why = "The load balancer's sign-in was refused: " + err.Error()
	}
	h.log.Info("console: sign-in refused", "path", r.URL.Path, "error", err)
	h.fail(w, r, http.StatusUnauthorized, "Not signed in", why)
}

// page is what every full page's layout reads.
type page struct {
	Title   string
	Nav     string
	Who     string
	CSRF    string
	Refresh int // milliseconds
	Body    any
}

func (h *Handler) newPage(r *http.Request, title, nav string, body any) page {
	p := page{Title: title, Nav: nav, Body: body, Refresh: int(time.Duration(h.cfg.Refresh).Milliseconds())}
	if id := identity(r); id != (webauth.Identity{}) {
		p.Who = id.Actor()
		p.CSRF = h.auth.CSRFToken(id)
	}
	return p
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	t, ok := h.pages[name]
	if !ok {
		h.log.Error("console: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, templateName(name), data); err != nil {
		h.log.Error("console: render", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

type failBody struct{ Heading, Text string }

// fail answers with a small page saying what went wrong.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	h.render(w, status, "error.html", h.newPage(r, heading, "", failBody{heading, text}))
}

// failErr answers with err's status and its message for people (never internals).
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status := ingress.ErrorStatus(err)
	if status == http.StatusInternalServerError {
		h.log.Error("console", "path", r.URL.Path, "error", err)
	}
	h.fail(w, r, status, http.StatusText(status), incident.ErrorMessage(err))
}

// loginPage shows the password form, or says the load balancer signs people in.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if h.auth.Mode() != config.ConsoleAuthPassword {
		if _, err := h.auth.Identify(r); err == nil {
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		h.fail(w, r, http.StatusUnauthorized, "Not signed in", "This console signs people in through the load balancer (OIDC); open it through the load balancer's address.")
		return
	}
	h.renderLogin(w, r, http.StatusOK, "")
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, status, "login.html", h.newPage(r, "Sign in", "", msg))
}

// login checks the password. It needs no CSRF token, as there is no
// session yet to ride on, and a page elsewhere that knew the shared password
// would gain nothing by signing a browser in with it.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.auth.Mode() != config.ConsoleAuthPassword {
		h.fail(w, r, http.StatusNotFound, "Not found", "This console signs people in through the load balancer.")
		return
	}
	id, err := h.auth.Login(w, r, r.PostFormValue("password"))
	switch {
	case errors.Is(err, webauth.ErrTooManyAttempts):
		h.renderLogin(w, r, http.StatusTooManyRequests, "Too many attempts: wait a minute and try again.")
		return
	case err != nil:
		h.renderLogin(w, r, http.StatusUnauthorized, "Wrong password.")
		return
	}
	h.log.Info("console: signed in", "actor", id.Actor(), "via", id.Via)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.auth.Logout(w, r)
	http.Redirect(w, r, LoginPath, http.StatusSeeOther)
}
