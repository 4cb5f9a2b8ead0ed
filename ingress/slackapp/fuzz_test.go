package slackapp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// countingIncidents counts every call, reads included: an unsigned request
// must not even list incidents.
type countingIncidents struct {
	Incidents
	calls atomic.Int64
}

func (c *countingIncidents) Acknowledge(ctx context.Context, id string, r workflows.AcknowledgeRequest) (incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.Acknowledge(ctx, id, r)
}

func (c *countingIncidents) Resolve(ctx context.Context, id string, r workflows.ResolveRequest) (incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.Resolve(ctx, id, r)
}

func (c *countingIncidents) Snooze(ctx context.Context, id string, r workflows.SnoozeRequest) (incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.Snooze(ctx, id, r)
}

func (c *countingIncidents) Rescan(ctx context.Context, id string, r workflows.RescanRequest) (incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.Rescan(ctx, id, r)
}

func (c *countingIncidents) Get(ctx context.Context, id string) (incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.Get(ctx, id)
}

func (c *countingIncidents) ListIncidents(ctx context.Context, f workflows.ListFilter) ([]incident.Incident, error) {
	c.calls.Add(1)
	return c.Incidents.ListIncidents(ctx, f)
}

type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("the fuzzer does not post to response_url")
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// FuzzSlackHTTP drives the Slack handler with any method, path, headers and
// body: never a panic, never a 5xx, and nothing reaches the incidents
// (not even a read) unless the request carries a valid signature from
// within five minutes. Seeds: testdata/fuzz/FuzzSlackHTTP.
func FuzzSlackHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, method, target, contentType, signature string, sign bool, skewSeconds int64, body []byte) {
		if method == "" || strings.IndexFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			method = http.MethodPost
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Path == "" || u.Host != "" {
			return
		}
		inc := &countingIncidents{Incidents: newIncidents("incident-abc")}
		h := MustHandler(t, inc, func(c *Config) {
			c.HTTPClient = &http.Client{Transport: noNetwork{}}
			c.ActionTimeout = time.Second
		})
		skew := time.Duration(skewSeconds%900) * time.Second
		stamp := strconv.FormatInt(now.Add(skew).Unix(), 10)
		if sign {
			signature = Sign(secret, stamp, body)
		}
		signed := sign && skew <= maxSkew && skew >= -maxSkew
		req := &http.Request{
			Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			Host: "irflow.example", RemoteAddr: "192.0.2.1:4711",
		}
		req = req.WithContext(context.Background())
		req.Header.Set("X-Slack-Request-Timestamp", stamp)
		if signature = headerSafe(signature); signature != "" {
			req.Header.Set("X-Slack-Signature", signature)
		}
		if contentType = headerSafe(contentType); contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		h.Wait()
		if rec.Code >= 500 {
			t.Fatalf("%s %s: status %d: %s", method, target, rec.Code, rec.Body)
		}
		if n := inc.calls.Load(); !signed && n > 0 {
			t.Fatalf("%s %s: an unsigned request made %d incident calls", method, target, n)
		}
	})
}
