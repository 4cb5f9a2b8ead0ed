// Command logtransform is the log pipeline's Lambda: the Firehose
// data-transformation function for CloudWatch Logs (docs/log-pipeline.md).
// Build it for the provided.al2023 runtime as "bootstrap":
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./lambdas/logtransform
//
// It reads the irflow config named by IRFLOW_CONFIG (its logs and enrich
// sections; defaults when unset), with the usual env overrides:
// IRFLOW_GEOIP_DB, IRFLOW_THREAT_INTEL, IRFLOW_LOGS_OUTPUT,
// IRFLOW_FIREHOSE_ENDPOINT. A bad config stops the cold start: Firehose
// retries the invocation, then backs the batch up to S3, rather than the
// function transforming with half a config.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/logtransformapp"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := config.Load(os.Getenv("IRFLOW_CONFIG"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "logtransform:", err)
		os.Exit(2)
	}
	m := &logtransformapp.Main{Config: cfg, Logger: logger}
	if err := m.Open(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "logtransform:", err)
		os.Exit(1)
	}
	defer m.Close()
	lambda.Start(m.Handler.Handle)
}
