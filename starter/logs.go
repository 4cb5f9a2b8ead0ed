package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/logtransformapp"
	"github.com/irflow/irflow/logpipe"
)

func newLogsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "run the log pipeline's Firehose transform locally: on a Firehose event, or over NDJSON into OpenSearch",
	}
	cmd.AddCommand(newLogsTransformCmd(), newLogsReplayCmd())
	return cmd
}

// logsFlags are what both commands need to build the transform.
type logsFlags struct {
	config string
	demo   bool
	output string
}

func (f *logsFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", os.Getenv("IRFLOW_CONFIG"), "irflow config with the logs and enrich sections (env IRFLOW_CONFIG)")
	cmd.Flags().BoolVar(&f.demo, "demo", false, "use the demo routes, GeoIP database and threat list (as starter dev does) where the config sets none")
	cmd.Flags().StringVar(&f.output, "output", "", "override logs.output: opensearch or ndjson")
}

// open builds the transform as the Lambda does; reingest replaces the
// Firehose client.
func (f *logsFlags) open(ctx context.Context, reingest logpipe.Reingester, stderr io.Writer) (*logtransformapp.Main, config.Config, func(), error) {
	cfg, err := config.Load(f.config, nil)
	if err != nil {
		return nil, cfg, nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	cleanup := func() {}
	if f.demo {
		if len(cfg.Logs.Routes) == 0 {
			cfg.Logs.Routes = demologs.LogRoutes()
		}
		if cfg.Enrich.GeoIPDB == "" && len(cfg.Enrich.ThreatIntel) == 0 {
			dir, err := os.MkdirTemp("", "irflow-logs-demo-*")
			if err != nil {
				return nil, cfg, nil, err
			}
			cleanup = func() { os.RemoveAll(dir) }
			db, list := filepath.Join(dir, "demo-geoip.mmdb"), filepath.Join(dir, "demo-threat-intel.csv")
			if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
				cleanup()
				return nil, cfg, nil, err
			}
			if err := demologs.WriteThreatIntel(list); err != nil {
				cleanup()
				return nil, cfg, nil, err
			}
			cfg.Enrich.GeoIPDB, cfg.Enrich.ThreatIntel = db, []string{list}
		}
	}
	if f.output != "" {
		cfg.Logs.Output = f.output
		if err := cfg.Logs.Validate(); err != nil {
			cleanup()
			return nil, cfg, nil, incident.Errorf(incident.EINVALID, "--output: %v", err)
		}
	}
	m := &logtransformapp.Main{Config: cfg, Reingest: reingest, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := m.Open(ctx); err != nil {
		cleanup()
		if errors.Is(err, logtransformapp.ErrNoRoutes) {
			return nil, cfg, nil, incident.Errorf(incident.EINVALID, "%v: pass --config with a logs section (docs/log-pipeline.md), or --demo", err)
		}
		return nil, cfg, nil, incident.Errorf(incident.EINVALID, "%v", err)
	}
	return m, cfg, func() { m.Close(); cleanup() }, nil
}

// collected keeps what the transform would put back into the stream.
type collected struct {
	mu      sync.Mutex
	records [][]byte
}

func (c *collected) Put(_ context.Context, _ string, records [][]byte) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range records {
		c.records = append(c.records, append([]byte(nil), r...))
	}
	return nil, nil
}

func newLogsTransformCmd() *cobra.Command {
	f := &logsFlags{}
	var event, putBack string
	cmd := &cobra.Command{
		Use:   "transform --event EVENT.json",
		Short: "run the Firehose transform on a Firehose event file and print the response JSON",
		Long: "Runs the log pipeline's Lambda handler, built from the config as the Lambda builds it, on a\n" +
			"Kinesis Firehose data-transformation event (the JSON Firehose invokes the function with),\n" +
			"and prints the response on stdout. Each record's outcome (Ok, Dropped, ProcessingFailed and\n" +
			"why, events put back into the stream) goes to stderr. Nothing is sent to AWS: events the\n" +
			"Lambda would put back into the delivery stream are written to --put-back as a Firehose event,\n" +
			"so the next pass can be run on them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(event)
			if err != nil {
				return incident.Errorf(incident.EINVALID, "read event: %v", err)
			}
			var ev events.KinesisFirehoseEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return incident.Errorf(incident.EINVALID, "%s is not a Firehose event: %v", event, err)
			}
			stream := &collected{}
			m, _, done, err := f.open(cmd.Context(), stream, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer done()
			rep := m.Handler.Transform(cmd.Context(), ev)
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep.Response); err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			for _, o := range rep.Outcomes {
				fmt.Fprintf(errOut, "%s\t%s\t%d events, %d in the response, %d put back", o.RecordID, o.Result, o.Events, o.Kept, o.Reingested)
				if o.Reason != "" {
					fmt.Fprintf(errOut, "\t%s", o.Reason)
				}
				fmt.Fprintln(errOut)
			}
			ok, dropped, failed, reingested := rep.Counts()
			fmt.Fprintf(errOut, "%d records: %d Ok, %d Dropped, %d ProcessingFailed; %d events put back; response %d bytes\n",
				len(rep.Outcomes), ok, dropped, failed, reingested, rep.ResponseBytes)
			if putBack != "" && len(stream.records) > 0 {
				next := events.KinesisFirehoseEvent{InvocationID: ev.InvocationID + "-put-back", DeliveryStreamArn: ev.DeliveryStreamArn, Region: ev.Region}
				for i, r := range stream.records {
					next.Records = append(next.Records, events.KinesisFirehoseEventRecord{RecordID: fmt.Sprintf("put-back-%d", i), Data: r})
				}
				b, err := json.MarshalIndent(next, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(putBack, append(b, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(errOut, "put-back events written to %s\n", putBack)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&event, "event", "", "Firehose event JSON (required)")
	cmd.Flags().StringVar(&putBack, "put-back", "", "write the events the Lambda would put back into the stream here, as a Firehose event")
	f.register(cmd)
	_ = cmd.MarkFlagRequired("event")
	return cmd
}

func newLogsReplayCmd() *cobra.Command {
	f := &logsFlags{}
	var file, url, group, stream string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay --file FILE.ndjson [--opensearch URL]",
		Short: "run the transform over NDJSON and bulk-index the documents into OpenSearch",
		Long: "Each line is a CloudWatch Logs subscription payload (decompressed JSON: messageType, logGroup,\n" +
			"logStream, logEvents), or a bare log event (a JSON object or any text) of --log-group and\n" +
			"--log-stream. Every event is transformed as the Lambda does it and indexed into the index\n" +
			"its route names, under its event ID when it has one (bare lines get one from their content),\n" +
			"so a second replay overwrites. Lines and documents that fail are counted and the first\n" +
			"reasons printed; the command fails if any did.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, cfg, done, err := f.open(cmd.Context(), &collected{}, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer done()
			if url == "" {
				url = cfg.Search.URL
			}
			if url == "" {
				url = "http://127.0.0.1:9200"
			}
			client, err := activities.NewSearchClient(url)
			if err != nil {
				return incident.Errorf(incident.EINVALID, "%v", err)
			}
			in, size, closeIn, err := openInput(file)
			if err != nil {
				return incident.Errorf(incident.EINVALID, "%v", err)
			}
			defer closeIn()
			errOut := cmd.ErrOrStderr()
			if isTerminal(errOut) {
				bar := progressbar.NewOptions64(size,
					progressbar.OptionSetWriter(errOut),
					progressbar.OptionSetDescription("replaying "+file),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
				r := progressbar.NewReader(in, bar)
				in = &r
				defer bar.Finish()
			}
			r := &logpipe.Replayer{Pipeline: m.Pipeline, Client: client, LogGroup: group, LogStream: stream}
			began := time.Now()
			res, err := r.NDJSON(cmd.Context(), in)
			if err != nil {
				return incident.Errorf(incident.EUNAVAILABLE, "replay into %s: %v (%d events indexed before it)", url, err, res.Indexed)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "indexed %d of %d events into %s in %s (%d lines, %d skipped, %d failed)\n",
					res.Indexed, res.Events, url, time.Since(began).Round(time.Millisecond), res.Lines, res.Skipped, res.Failed)
				for _, e := range res.Errors {
					fmt.Fprintln(errOut, "  "+e)
				}
			}
			if res.Failed > 0 {
				return incident.Errorf(incident.EINVALID, "%d of %d events failed", res.Failed, res.Events)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "NDJSON file (required; - for stdin)")
	cmd.Flags().StringVar(&url, "opensearch", "", "OpenSearch URL (default: search.url from the config, "+config.EnvOpenSearchURL+", or http://127.0.0.1:9200)")
	cmd.Flags().StringVar(&group, "log-group", "", "log group of bare log lines (lines that are not CloudWatch Logs payloads)")
	cmd.Flags().StringVar(&stream, "log-stream", "", "log stream of bare log lines")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	f.register(cmd)
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// openInput opens a file, or stdin for "-", with its size when known.
func openInput(path string) (io.Reader, int64, func(), error) {
	if path == "-" {
		return os.Stdin, -1, func() {}, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	size := int64(-1)
	if st, err := fh.Stat(); err == nil {
		size = st.Size()
	}
	return fh, size, func() { fh.Close() }, nil
}
