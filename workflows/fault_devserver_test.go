package workflows_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/workflows"
)

// cutProxy forwards TCP to a target until cut: then it drops every open
// connection and closes each new one at once, as a stopped node would look to
// its clients, until restored.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func mustCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	return p
}

func (p *cutProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(in)
	}
}

func (p *cutProxy) forward(in net.Conn) {
	p.mu.Lock()
	cut := p.cut
	if !cut {
		p.conns[in] = struct{}{}
	}
	p.mu.Unlock()
	if cut {
		_ = in.Close()
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = in.Close()
		return
	}
	p.mu.Lock()
	p.conns[out] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
	_ = in.Close()
	_ = out.Close()
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

// TestFaultOpenSearchStoppedDuringSweep survives OpenSearch going away while a
// rule sweep runs: the sweep's attempts fail and are counted in
// irflow_rule_sweep_errors_total, the activity retries, and once the node is
// back the one match in the window raises exactly one alert (one incident,
// one occurrence), and a later sweep does not raise it again.
//
// The embedded node is shared by every test in this package and cannot be
// stopped and restarted under them safely, so the worker reaches it through a
// TCP proxy that the test cuts (every connection dropped, new ones closed)
// and restores: to the worker that is the node stopping and coming back.
func TestFaultOpenSearchStoppedDuringSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and OpenSearch")
	}
	c := testenv.Client(t)
	os, nodeURL, index := mustOpenSearch(t)
	u, err := url.Parse(nodeURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := mustCutProxy(t, u.Host)
	name := fmt.Sprintf("fault-opensearch-%d", time.Now().UnixNano())
	rule := rules.Ref{Name: name, Path: "fault-opensearch.yaml", YAML: fmt.Sprintf(`name: %s
type: frequency
index: %s
num_events: 5
timeframe: {minutes: 10}
query_key: ip
realert: {minutes: 0}
`, name, index)}
	t.Cleanup(func() {
		_ = c.TerminateWorkflow(context.Background(), workflows.RuleSweepWorkflowID(name), "", "test over")
	})
	rec := &testenv.Recorder{}
	w := testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Search.URL = proxy.URL()
		m.Config.Incident.RescanInterval = 0
	})
	now := time.Now()
	indexEvents(t, os, index, "192.0.2.7", now.Add(-50*time.Second), now.Add(-40*time.Second),
		now.Add(-30*time.Second), now.Add(-20*time.Second), now.Add(-10*time.Second))

	proxy.setCut(true) // the node is stopped
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{TaskQueue: workflows.TaskQueue},
		workflows.RuleKickWorkflowName, workflows.SweepRequest{Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("kick: %v", err)
	}
	testenv.Eventually(t, 60*time.Second, "a failed sweep attempt in irflow_rule_sweep_errors_total", func() bool {
		return ruleCounter(t, w, activities.MetricRuleSweepErrors, name) >= 1
	})
	status := func() workflows.RuleSweepStatus {
		var st workflows.RuleSweepStatus
		v, err := c.QueryWorkflow(ctx, workflows.RuleSweepWorkflowID(name), "", workflows.QueryRuleSweep)
		if err != nil || v.Get(&st) != nil {
			return workflows.RuleSweepStatus{Sweeps: -1}
		}
		return st
	}
	if st := status(); st.Sweeps != 0 {
		t.Fatalf("while the node is down: status %+v, want the first sweep still retrying", st)
	}
	errs := ruleCounter(t, w, activities.MetricRuleSweepErrors, name)
	proxy.setCut(false) // the node is back

	var st workflows.RuleSweepStatus
	testenv.Eventually(t, 60*time.Second, "the first sweep, retried after the node came back", func() bool {
		st = status()
		return st.Sweeps >= 1
	})
	if st.Sweeps != 1 || st.LastError != "" || st.Alerts != 1 {
		t.Fatalf("after the node came back: status %+v, want 1 sweep, no error, 1 alert", st)
	}
	t.Logf("%v failed attempts counted while the node was down", errs)

	id := incident.ID(incident.Fingerprint(incident.Alert{Source: "rules", Rule: name, QueryKey: map[string]string{"ip": "192.0.2.7"}}))
	cleanupIncident(t, c, id)
	if st := kick(t, c, rule, 2); st.Alerts != 1 {
		t.Fatalf("after sweep 2 (no new events): %d alerts, want still 1", st.Alerts)
	}
	ic := client.New(c, "default")
	testenv.Eventually(t, 60*time.Second, "the incident announced", func() bool {
		_, err := ic.Get(context.Background(), id)
		return err == nil && len(rec.For(id, "Post")) == 1
	})
	if inc := mustGet(t, ic, id); inc.Occurrences != 1 {
		t.Errorf("incident %s has %d occurrences, want 1 (no match lost or duplicated)", id, inc.Occurrences)
	}
}

// ruleCounter is the value of the counter name{rule=rule} on the worker's registry.
func ruleCounter(t *testing.T, w *workerapp.Main, name, rule string) float64 {
	t.Helper()
	families, err := w.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" && l.GetValue() == rule {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestFaultS3DownArchiveRetries survives S3 failing for a while: the archive
// store (the real aws-sdk-go-v2 client against gofakes3, through a proxy that
// answers 503 while S3 is "down") fails, the archive is retried by Temporal,
// and the resolved incident stays open (its workflow running, no object in
// the bucket) until the record is written; then it closes with the record's
// URL, and the record is in S3.
func TestFaultS3DownArchiveRetries(t *testing.T) {
	c := testenv.Client(t)
	_, endpoint := testenv.S3(t, "irflow-archive")
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	var refused atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			http.Error(w, "slow down", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = rec
		m.Config.Archive.URL = "s3://irflow-archive/incidents"
		m.Config.Archive.S3.Endpoint = proxy.URL
		m.Config.Incident.RescanInterval = 0
		m.Config.Incident.Escalation.Levels = nil
	})
	ic := client.New(c, "default")
	ctx := context.Background()
	sent, err := ic.Send(ctx, workflows.Occurrence{Count: 1, Alert: alertFor(t)})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, sent.IncidentID)
	testenv.Eventually(t, 60*time.Second, "the announcement", func() bool { return len(rec.For(sent.IncidentID, "Post")) == 1 })

	down.Store(true)
	if _, err := ic.Resolve(ctx, sent.IncidentID, workflows.ResolveRequest{By: "alice"}); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, sent.IncidentID, "")
	if err != nil {
		t.Fatal(err)
	}
	archiveID := workflows.IncidentArchiveWorkflowID(sent.IncidentID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	attempt := int32(0)
	testenv.Eventually(t, 90*time.Second, "the archive activity retried by Temporal while S3 is down", func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, archiveID, "")
		if err != nil {
			return false
		}
		for _, a := range d.GetPendingActivities() {
			attempt = max(attempt, a.GetAttempt())
		}
		return attempt >= 2 && refused.Load() > 0
	})
	desc, err = c.DescribeWorkflowExecution(ctx, sent.IncidentID, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("incident workflow is %s while its archive cannot be written, want running", st)
	}
	s3c, _ := testenv.S3Client(endpoint)
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("irflow-archive")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if strings.Contains(aws.ToString(o.Key), sent.IncidentID) {
			t.Fatalf("record %s in the bucket while S3 was down", aws.ToString(o.Key))
		}
	}
	t.Logf("%d S3 requests refused while down; archive activity at attempt %d", refused.Load(), attempt)
	down.Store(false)

	var final workflows.IncidentResult
	if err := waitClosed(t, c, sent.IncidentID, &final); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if !strings.HasPrefix(final.Incident.ArchiveURL, "s3://irflow-archive/incidents/") {
		t.Fatalf("archive url = %q, want the record in S3", final.Incident.ArchiveURL)
	}
	key := strings.TrimPrefix(final.Incident.ArchiveURL, "s3://irflow-archive/")
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("irflow-archive"), Key: aws.String(key)}); err != nil {
		t.Fatalf("get archived object %s: %v", key, err)
	}
}
