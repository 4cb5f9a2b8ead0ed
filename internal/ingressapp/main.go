// Package ingressapp is irflow's ingress process: the HTTP alert endpoints
// (ingress) with the Slack handlers (ingress/slackapp) mounted when a signing
// secret is configured, on one listener. `starter serve` and `starter dev`
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

	"github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/ingress/slackapp"
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
// ingress.slack.signing_secret is set.
func (m *Main) handler() (http.Handler, error) {
	srv, err := ingress.NewServer(ingress.Config{Ingress: m.Config.Ingress}, m.Incidents, m.Logger)
	if err != nil {
		return nil, err
	}
	if m.Config.Ingress.Slack.SigningSecret == "" {
		return srv.Handler(), nil
	}
	scfg := slackapp.Config{SlackApp: m.Config.Ingress.Slack}
	if m.Config.SlackEnabled() {
		n, err := slack.New(m.Config.Slack, slack.WithLogger(m.Logger))
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		scfg.GroupMembers = slackapp.UserGroupMembers(n.Client())
	}
	m.slack = slackapp.NewHandler(scfg, m.Incidents, m.Logger)
	srv.Handle("/slack/", m.slack)
	return srv.Handler(), nil
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
