package logpipe_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/logpipe"
)

// BenchmarkHandler is one Firehose record of 100 JSON app lines through the
// transform (NDJSON output), per event; `make bench` (section logs) has the
// figures with a 100k-CIDR list.
func BenchmarkHandler(b *testing.B) {
	p := demoPipeline(b, demoEnricher(b))
	h := &logpipe.Handler{Pipeline: p, NDJSON: true, Logger: quiet()}
	var evs []cwlEvent
	for i := range 100 {
		evs = append(evs, cwlEvent{ID: fmt.Sprint(i), Timestamp: 1795000000000 + int64(i),
			Message: fmt.Sprintf(`{"@timestamp":"2026-11-18T11:06:40.123Z","kubernetes":{"namespace_name":"auth","pod_name":"auth-api-1-x"},"log":{"level":"info"},"status":200,"request":{"method":"POST","path":"/api/login"},"response_time_ms":%d,"client_ip":"203.0.113.%d","user":{"name":"alice"},"message":"POST /api/login 200"}`, i, 1+i*2)})
	}
	ev := firehoseEvent(b, gzipJSON(b, dataMessage(demologs.DemoAppLogGroup, "auth-api-1-x", evs...)))
	b.ReportAllocs()
	for b.Loop() {
		h.Transform(context.Background(), ev)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/event")
}
