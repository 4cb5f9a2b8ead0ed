package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/devstack"
)

// globals are the flags every Temporal-facing command shares.
type globals struct {
	address   string
	namespace string
	apiKey    string
	timeout   time.Duration
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "starter",
		Short:         "irflow operator CLI: run the system, send alerts, work incidents",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.address, "address", envOr(config.EnvTemporalAddress, "127.0.0.1:7233"), "Temporal frontend host:port (env "+config.EnvTemporalAddress+")")
	pf.StringVar(&g.namespace, "namespace", envOr(config.EnvTemporalNamespace, "default"), "Temporal namespace (env "+config.EnvTemporalNamespace+")")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "how long to wait for Temporal")
	g.apiKey = os.Getenv(config.EnvTemporalAPIKey)

	root.AddCommand(newDevCmd(), newServeCmd(g), newAlertCmd(g), newIncidentCmd(g), newDemoCmd())
	root.AddCommand(newRulesCmd())
	root.AddCommand(newSchedulesCmd(g))
	root.AddCommand(newLogsCmd())
	root.AddCommand(newDigestCmd(g))
	root.AddCommand(newSilenceCmd(g))
	root.AddCommand(newHealthcheckCmd())
	return root
}

// dial connects to Temporal with the global flags or says clearly that it cannot.
func (g *globals) dial(ctx context.Context) (*client.Client, func(), error) {
	return g.dialWith(ctx, config.Temporal{Address: g.address, Namespace: g.namespace, APIKey: g.apiKey})
}

// override puts the global flags the user gave on the command line over t
// (a config file's temporal section).
func (g *globals) override(cmd *cobra.Command, t *config.Temporal) {
	if cmd.Flags().Changed("address") {
		t.Address = g.address
	}
	if cmd.Flags().Changed("namespace") {
		t.Namespace = g.namespace
	}
	if t.APIKey == "" {
		t.APIKey = g.apiKey
	}
}

// dialWith connects to the Temporal that t describes (TLS and API key included).
func (g *globals) dialWith(ctx context.Context, t config.Temporal) (*client.Client, func(), error) {
	opts, err := t.ClientOptions()
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = devstack.QuietLogger
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	c, err := temporalclient.DialContext(ctx, opts)
	if err != nil {
		return nil, nil, incident.Errorf(incident.EUNAVAILABLE, "cannot reach Temporal at %s (namespace %s): %v\nIs `make run` (or your cluster) up? Set --address or %s.", t.Address, t.Namespace, err, config.EnvTemporalAddress)
	}
	return client.New(c, t.Namespace), c.Close, nil
}

func (g *globals) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), g.timeout)
}

func fail(format string, args ...any) error {
	return incident.Errorf(incident.EINVALID, format, args...)
}
