package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/testenv"
)

// The test binary doubles as the Lambda: with IRFLOW_LAMBDA_CHILD=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("IRFLOW_LAMBDA_CHILD") == "1" {
		main()
		return
	}
	testenv.Run(m)
}

// The Lambda links the transform and the AWS SDK, not the incident system,
// the dev stack or a test kit. (internal/config links the Temporal client
// package for the temporal section's ClientOptions; no worker, workflow or
// activity code comes with it.)
func TestLambdaLinksOnlyTheTransform(t *testing.T) {
	for pkg, imports := range testenv.Deps(t, ".") {
		for _, dir := range []string{"workflows", "ingress", "internal/client", "internal/workerapp", "internal/ingressapp", "internal/devapp",
			"internal/devstack", "internal/demologs", "internal/opensearch", "internal/testenv", "internal/schedules", "rules", "bench"} {
			if testenv.Under(pkg, dir) {
				t.Errorf("the Lambda links %s", pkg)
			}
		}
		for _, imp := range imports {
			if imp == "testing" || strings.HasPrefix(imp, "go.temporal.io/sdk/worker") || strings.HasPrefix(imp, "go.temporal.io/sdk/workflow") ||
				strings.HasPrefix(imp, "go.temporal.io/sdk/activity") {
				t.Errorf("%s, linked by the Lambda, imports %s", pkg, imp)
			}
		}
	}
}

// runtimeAPI is a Lambda Runtime API that hands out one invocation and
// keeps what the function answers.
type runtimeAPI struct {
	event    []byte
	served   bool
	response chan []byte
	failure  chan string
	done     chan struct{}
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch {
	case req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/runtime/invocation/next"):
		if r.served {
			<-r.done // no second invocation: the function waits, as in Lambda
			return
		}
		r.served = true
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:irflow-logs-transform")
		w.Write(r.event)
	case strings.HasSuffix(req.URL.Path, "/req-1/response"):
		r.response <- body
		w.WriteHeader(http.StatusAccepted)
	default: // an invocation or init error
		r.failure <- req.URL.Path + ": " + string(body)
		w.WriteHeader(http.StatusAccepted)
	}
}

// The real program, started the way Lambda starts it (env, Runtime API),
// on the worked example of docs/log-pipeline.md, putting events back into
// moto's Firehose: the response is what the doc shows, and the two events
// not in it arrive in the stream.
func TestLambdaRunsTheDocsExample(t *testing.T) {
	endpoint := testenv.Moto(t)
	ctx := context.Background()
	awsCfg := testenv.AWSConfig(endpoint)
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket, stream := fmt.Sprintf("irflow-lambda-%d", time.Now().UnixNano()), fmt.Sprintf("irflow-logs-%d", time.Now().UnixNano())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	created, err := firehose.NewFromConfig(awsCfg).CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(stream), DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose")},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The package: a config with the routes and enrichment files beside it.
	dir := t.TempDir()
	db, list := filepath.Join(dir, "geoip.mmdb"), filepath.Join(dir, "intel.csv")
	if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
		t.Fatal(err)
	}
	if err := demologs.WriteThreatIntel(list); err != nil {
		t.Fatal(err)
	}
	cfgYAML, err := yaml.Marshal(map[string]any{
		"enrich": map[string]any{"geoip_db": db, "threat_intel": []string{list}},
		"logs":   map[string]any{"routes": demologs.LogRoutes()},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "irflow.yaml")
	if err := os.WriteFile(cfgPath, cfgYAML, 0o644); err != nil {
		t.Fatal(err)
	}

	var ev events.KinesisFirehoseEvent
	raw, err := os.ReadFile("../../docs/examples/firehose-event.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev.DeliveryStreamArn = aws.ToString(created.DeliveryStreamARN)
	wire, _ := json.Marshal(ev)
	api := &runtimeAPI{event: wire, response: make(chan []byte, 1), failure: make(chan string, 1), done: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer close(api.done)

	logs := &testenv.Buffer{} // written by exec's copying goroutine
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IRFLOW_LAMBDA_CHILD=1", "IRFLOW_CONFIG="+cfgPath,
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"), "_LAMBDA_SERVER_PORT=",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", config.EnvFirehoseEndpoint+"="+endpoint)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { cmd.Process.Kill(); <-exited }()

	var resp events.KinesisFirehoseResponse
	select {
	case body := <-api.response:
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
	case f := <-api.failure:
		t.Fatalf("the function failed: %s\n%s", f, logs.String())
	case err := <-exited:
		exited <- err
		t.Fatalf("the function exited: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no response\n%s", logs.String())
	}
	var results []string
	for _, r := range resp.Records {
		results = append(results, r.Result)
	}
	if strings.Join(results, " ") != "Ok Dropped ProcessingFailed" {
		t.Fatalf("results %v\n%s", results, logs.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(resp.Records[0].Data, &doc); err != nil || doc["threat_intel"] == nil {
		t.Errorf("first document: %s", resp.Records[0].Data)
	}
	testenv.Eventually(t, 10*time.Second, "the failed record's reason in the function's log", func() bool {
		return strings.Contains(logs.String(), `"msg":"log record failed; Firehose backs it up to S3 (processing-failed/)"`) &&
			strings.Contains(logs.String(), `"reason":"decode CloudWatch Logs payload: not a CloudWatch Logs payload: want gzip or a JSON object"`)
	})

	objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	put := 0
	for _, o := range objs.Contents {
		got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(got.Body)
		got.Body.Close()
		put += strings.Count(string(b), `"messageType":"DATA_MESSAGE"`)
	}
	if put != 2 {
		t.Errorf("%d events put back into the stream, want the record's other 2", put)
	}
}
