package demologs

import (
	"bytes"
	"encoding/json"
	"iter"
	"strings"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/logpipe"
)

// Where the demo logs would live in CloudWatch Logs, so the dev stack can
// feed them through the log pipeline's transform as production does.
const (
	DemoAppLogGroup      = "/aws/containerinsights/irflow-demo/application"
	DemoFrontendLogGroup = "/irflow-demo/web-storefront"
	// AWS WAF requires log groups named aws-waf-logs-*.
	DemoWAFLogGroup  = "aws-waf-logs-irflow-demo"
	DemoWAFLogStream = DemoRegion + "_irflow-demo_0"
	demoAccount      = "123456789012"
)

// LogRoutes send the demo log groups back to the demo indices, tagging
// env "demo" and the app (the namespace for backend pods).
func LogRoutes() []config.LogRoute {
	return []config.LogRoute{
		{LogGroup: "/aws/containerinsights/irflow-{env}/application", LogStream: "{app}-api-*", Index: strings.TrimSuffix(AppIndexPrefix, "-"), Env: "{env}", App: "{app}"},
		{LogGroup: "/irflow-{env}/{app}", Index: strings.TrimSuffix(FrontendIndexPrefix, "-"), Env: "{env}", App: "{app}"},
		{LogGroup: "aws-waf-logs-irflow-{env}", Index: strings.TrimSuffix(WAFIndexPrefix, "-"), Env: "{env}", App: "waf"},
	}
}

// LogGroup is the CloudWatch Logs group and stream a demo document would
// be written to: backend pods log to Container Insights, one stream per pod.
func LogGroup(d Doc) (group, stream string) {
	switch {
	case strings.HasPrefix(d.Index, AppIndexPrefix):
		k8s, _ := d.Source["kubernetes"].(map[string]any)
		pod, _ := k8s["pod_name"].(string)
		return DemoAppLogGroup, pod
	case strings.HasPrefix(d.Index, FrontendIndexPrefix):
		return DemoFrontendLogGroup, "web-storefront"
	default:
		return DemoWAFLogGroup, DemoWAFLogStream
	}
}

// Payloads groups docs into CloudWatch Logs payloads, one per run of docs
// from the same group and stream, as a subscription delivers them. Each
// event's ID is the document's, so indexing a range twice overwrites.
func Payloads(docs iter.Seq[Doc]) iter.Seq[*logpipe.Payload] {
	return func(yield func(*logpipe.Payload) bool) {
		var cur *logpipe.Payload
		for d := range docs {
			group, stream := LogGroup(d)
			if cur != nil && (cur.LogGroup != group || cur.LogStream != stream || len(cur.Events) >= 100) {
				if !yield(cur) {
					return
				}
				cur = nil
			}
			if cur == nil {
				cur = &logpipe.Payload{MessageType: logpipe.DataMessage, Owner: demoAccount, LogGroup: group, LogStream: stream,
					SubscriptionFilters: []string{"irflow-logs"}}
			}
			msg, err := jsonLine(d.Source)
			if err != nil {
				continue // generated maps always encode
			}
			cur.Events = append(cur.Events, logpipe.Event{ID: d.ID, Timestamp: d.Time.UnixMilli(), Message: msg})
		}
		if cur != nil {
			yield(cur)
		}
	}
}

// jsonLine is the document as the app would log it: one JSON line.
func jsonLine(src map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(src); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
