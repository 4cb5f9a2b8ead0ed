// Package logtransformapp is the log pipeline's Firehose transform as a
// program: the config's logs and enrich sections turned into a
// logpipe.Handler with a Firehose client to put events back with. The
// Lambda (lambdas/logtransform) and `starter logs transform|replay` open it
// the same way, so a local check runs what production runs.
package logtransformapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/irflow/irflow/activities/enrich"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/logpipe"
)

// Main is the transform. Open builds it from Config; Close releases the
// GeoIP databases.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Reingest replaces the Firehose client events are put back with
	// (`starter logs transform` collects them instead).
	Reingest logpipe.Reingester

	// Set by Open.
	Pipeline *logpipe.Pipeline
	Handler  *logpipe.Handler
	enricher *enrich.Enricher
}

// ErrNoRoutes is Open's error for a config without logs.routes.
var ErrNoRoutes = errors.New("logs.routes: the log transform needs at least one route (log group → index)")

// Open loads the enrichment (a missing or corrupt database or list is an
// error naming the file) and compiles the routes.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	c := m.Config
	if len(c.Logs.Routes) == 0 {
		return ErrNoRoutes
	}
	e, err := enrich.New(c.Enrich, m.Logger)
	if err != nil {
		return err
	}
	m.enricher = e
	if m.Pipeline, err = logpipe.New(c.Logs, e); err != nil {
		e.Close()
		return err
	}
	re := m.Reingest
	if re == nil {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			e.Close()
			return fmt.Errorf("logs: load AWS config: %w", err)
		}
		re = &logpipe.FirehoseReingester{Client: firehose.NewFromConfig(awsCfg, func(o *firehose.Options) {
			if ep := c.Logs.FirehoseEndpoint; ep != "" {
				o.BaseEndpoint = &ep
			}
		})}
	}
	m.Handler = &logpipe.Handler{Pipeline: m.Pipeline, NDJSON: c.Logs.Output == config.LogsOutputNDJSON, Reingest: re, Logger: m.Logger}
	m.Logger.Info("log transform ready", "routes", len(c.Logs.Routes), "output", c.Logs.Output,
		"geoip", c.Enrich.GeoIPDB != "", "threat_intel_lists", len(c.Enrich.ThreatIntel))
	return nil
}

// Close releases the GeoIP databases.
func (m *Main) Close() error {
	if m.enricher != nil {
		return m.enricher.Close()
	}
	return nil
}
