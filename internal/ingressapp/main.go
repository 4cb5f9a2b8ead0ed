// Package ingressapp is irflow's ingress process: the HTTP alert endpoints
// (ingress) with the Slack handlers (ingress/slackapp) mounted when a signing
// secret is configured and the incident console (ingress/console) under /ui/
// when ingress.console.auth is set, on one listener. `starter serve` and `starter dev`
// both run it; tests run it on port 0.
package ingressapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/ingress/console"
	"github.com/irflow/irflow/ingress/slackapp"
	"github.com/irflow/irflow/ingress/webauth"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
)

// Main is the ingress program: Open listens and serves, Close stops it.
type Main struct {
	Config config.Config
	// Incidents is the Temporal side (dialed by the caller, not closed here).
	Incidents *client.Client
	// Addr is the listen address, like 127.0.0.1:8080 (":0" picks a port).
	Addr   string
	Logger *slog.Logger

	srv   *http.Server
	slack *slackapp.Handler
}

// Open builds the handlers and starts serving. Errors name the config field
// or the flag at fault.
func (m *Main) Open() error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	h, err := m.handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("--http-addr: listen %s: %w", m.Addr, err)
	}
	m.srv = newHTTPServer(ln.Addr().String(), h, m.Config.Ingress)
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("http listener stopped", "error", err)
		}
	}()
	return nil
}

// newHTTPServer applies the ingress's connection timeouts. ReadTimeout is
// only the backstop for handlers that set no deadline of their own (the
// Slack ones): the alert endpoints set their body deadline themselves and
// answer 408 when it passes, and stop waiting for Temporal in time to answer
// before WriteTimeout.
func newHTTPServer(addr string, h http.Handler, cfg config.Ingress) *http.Server {
	cfg.SetDefaults()
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: time.Duration(cfg.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(cfg.ReadHeaderTimeout + cfg.ReadTimeout),
		WriteTimeout:      time.Duration(cfg.WriteTimeout),
		IdleTimeout:       time.Duration(cfg.IdleTimeout),
	}
}

// handler is the ingress server with the Slack handlers mounted when
// ingress.slack.signing_secret is set, and the console under /ui/ when
// ingress.console.auth is.
func (m *Main) handler() (http.Handler, error) {
	srv, err := ingress.NewServer(ingress.Config{Ingress: m.Config.Ingress}, m.Incidents, m.Logger)
	if err != nil {
		return nil, err
	}
	var api *slackapi.Client
	if m.Config.SlackEnabled() && (m.Config.Ingress.Slack.SigningSecret != "" || m.Config.Ingress.Console.Enabled()) {
		n, err := slack.New(m.Config.Slack, slack.WithLogger(m.Logger))
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		api = n.Client()
	}
	if m.Config.Ingress.Slack.SigningSecret != "" {
		scfg := slackapp.Config{SlackApp: m.Config.Ingress.Slack}
		if api != nil {
			scfg.GroupMembers = slackapp.UserGroupMembers(api)
		}
		m.slack = slackapp.NewHandler(scfg, m.Incidents, m.Logger)
		srv.Handle("/slack/", m.slack)
	}
	if m.Config.Ingress.Console.Enabled() {
		ui, err := m.console(api)
		if err != nil {
			return nil, err
		}
		srv.Handle(console.Prefix, ui)
		srv.Handle("/ui", ui)
	}
	return srv.Handler(), nil
}

// consoleClosedRuns bounds the closed incident runs the overview remembers.
const consoleClosedRuns = 50_000

// console builds the /ui/ handler; with a Slack client, the allow-list's
// Slack users and groups match console users by email.
func (m *Main) console(api *slackapi.Client) (*console.Handler, error) {
	opts := webauth.Options{AllowResolve: m.Config.Ingress.Slack.AllowResolve}
	if api != nil {
		opts.LookupSlackUser = func(ctx context.Context, email string) (string, error) {
			u, err := api.GetUserByEmailContext(ctx, email)
			if err != nil && err.Error() == "users_not_found" {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			return u.ID, nil
		}
		opts.GroupMembers = slackapp.UserGroupMembers(api)
	}
	auth, err := webauth.New(m.Config.Ingress.Console, opts)
	if err != nil {
		return nil, err
	}
	// The overview reads the week's incidents every minute; closed runs
	// are read once (a few KB each, at most this many kept).
	m.Incidents.CacheClosedRuns(consoleClosedRuns)
	return console.New(console.Config{
		Console: m.Config.Ingress.Console, TemporalUIURL: m.Config.Slack.TemporalUIURL,
		Namespace: m.Incidents.Namespace, AllowResolve: m.Config.Ingress.Slack.AllowResolve,
	}, m.Incidents, auth, m.Logger)
}

// URL is the base URL the ingress serves on, once open.
func (m *Main) URL() string {
	if m.srv == nil {
		return ""
	}
	return "http://" + m.srv.Addr
}

// Close stops accepting requests, lets in-flight ones finish (10 s at most)
// and waits for Slack button work already answered.
func (m *Main) Close() error {
	if m.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.srv.Shutdown(ctx)
	if m.slack != nil {
		m.slack.Wait()
	}
	return err
}
