package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"

	"github.com/irflow/irflow/incident"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/. Every decoder must
// either return a valid alert or an error a sender can act on, never panic.

func requireSenderError(t *testing.T, err error) {
	t.Helper()
	switch code := incident.ErrorCode(err); code {
	case incident.EINVALID, incident.ETOOLARGE:
	default:
		t.Fatalf("error code %q (%v), want invalid or too_large", code, err)
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatal("empty error message")
	}
}

func FuzzDecodeAlerts(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, source := range []string{"", "fuzz"} {
			alerts, single, _, err := incident.DecodeAlerts(data, incident.DecodeOptions{Lenient: true, DefaultSource: source, MaxAlerts: 50})
			if err != nil {
				requireSenderError(t, err)
				continue
			}
			if len(alerts) == 0 || (single && len(alerts) != 1) {
				t.Fatalf("%d alerts, single %v", len(alerts), single)
			}
			for i := range alerts {
				if err := alerts[i].Validate(); err != nil {
					t.Fatalf("decoded alert %d invalid: %v", i, err)
				}
			}
		}
	})
}

func FuzzDecodeElastAlert(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a, _, err := DecodeElastAlert(data, config.ElastAlert{QueryKeyFields: []string{"key", "client.ip"}})
		if err != nil {
			requireSenderError(t, err)
			return
		}
		if a.Source != SourceElastAlert {
			t.Fatalf("source %q", a.Source)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("decoded alert invalid: %v", err)
		}
	})
}

func FuzzDecodeAlertmanager(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		items, _, err := DecodeAlertmanager(data)
		if err != nil {
			requireSenderError(t, err)
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
		for i, it := range items {
			if err := it.Alert.Validate(); err != nil {
				t.Fatalf("item %d invalid: %v", i, err)
			}
			if it.Resolved != (it.Clear.Source == SourceAlertmanager) {
				t.Fatalf("item %d: resolved %v but clear %+v", i, it.Resolved, it.Clear)
			}
		}
	})
}

func FuzzDecodeSNS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		// The alarm decoder also sees raw input, as if it were a Message.
		for _, msg := range []string{string(data), ""} {
			if msg == "" {
				m, err := DecodeSNS(data)
				if err != nil {
					requireSenderError(t, err)
					return
				}
				if !strings.HasSuffix(m.StringToSign(), "Type\n"+m.Type+"\n") {
					t.Fatalf("string to sign does not end with the type: %q", m.StringToSign())
				}
				msg = m.Message
			}
			item, state, _, err := DecodeCloudWatchAlarm(msg)
			switch {
			case err != nil:
				requireSenderError(t, err)
			case item == nil && state != AlarmStateInsufficientData:
				t.Fatalf("no item for state %q", state)
			case item != nil:
				if err := item.Alert.Validate(); err != nil {
					t.Fatalf("alarm alert invalid: %v", err)
				}
				if item.Resolved != (state == AlarmStateOK) {
					t.Fatalf("state %s resolved %v", state, item.Resolved)
				}
			}
		}
	})
}

// fuzzIncidents counts what reaches Temporal and can be down.
type fuzzIncidents struct {
	mu   sync.Mutex
	down bool
	// downReadyAt is when Ready last answered down: /readyz keeps that
	// answer for readyTTL, so a 503 may outlive the fuzz input that set it.
	downReadyAt time.Time
	sends       int
	clears      int
	sources     []string
}

func (f *fuzzIncidents) Send(_ context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	f.sources = append(f.sources, occ.Alert.Source)
	if f.down {
		return workflows.SendResult{}, incident.Errorf(incident.EUNAVAILABLE, "temporal down")
	}
	return incidentsFunc{}.Send(context.Background(), occ)
}

func (f *fuzzIncidents) Clear(context.Context, string, workflows.SourceClear) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clears++
	if f.down {
		return incident.Errorf(incident.EUNAVAILABLE, "temporal down")
	}
	return nil
}

func (f *fuzzIncidents) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.downReadyAt = time.Now()
		return incident.Errorf(incident.EUNAVAILABLE, "temporal down")
	}
	return nil
}

// cachedDown reports whether /readyz may still be serving a down answer.
func (f *fuzzIncidents) cachedDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.downReadyAt.IsZero() && time.Since(f.downReadyAt) < 2*readyTTL
}

// offline answers every request 404: the fuzzer must not fetch anything
// from the network, and a missing certificate is a 403, never a 503.
type offline struct{}

func (offline) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Body: io.NopCloser(strings.NewReader("")), Request: r, Header: http.Header{}}, nil
}

// headerSafe is what can arrive in a header over the wire: Go's server
// refuses control characters before any handler runs.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// FuzzServerHTTP drives the whole ingress handler: never a panic, never a 5xx
// but 503 from a down Temporal, every refusal a JSON body with its reason,
// never a Send or Clear without the token, never a Send as a source the
// token may not use. Seeds: testdata/fuzz/FuzzServerHTTP.
func FuzzServerHTTP(f *testing.F) {
	allowed := []string{"ci", SourceElastAlert, SourceAlertmanager}
	inc := &fuzzIncidents{}
	srv := MustServer(f, Config{
		Ingress: config.Ingress{
			Tokens:         map[string]string{"ci": testToken},
			TokenSources:   map[string][]string{"ci": allowed},
			CoalesceWindow: config.Duration(time.Microsecond),
			MaxBodyBytes:   64 << 10,
			SNS:            config.SNSIngress{AllowedTopicARNs: []string{testTopic}},
		},
		SNSHTTPClient: &http.Client{Transport: offline{}},
	}, inc)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, target, auth, contentType string, useToken, temporalDown bool, body []byte) {
		if method == "" || strings.IndexFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			method = http.MethodPost
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Path == "" || u.Host != "" {
			return // not a request line Go's server would hand to a handler
		}
		auth = headerSafe(auth)
		if useToken {
			auth = "Bearer " + testToken
		}
		authed := useToken || strings.Contains(auth, testToken)
		req := &http.Request{
			Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			Host: "irflow.example", RemoteAddr: "192.0.2.1:4711",
		}
		req = req.WithContext(context.Background())
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if contentType = headerSafe(contentType); contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		inc.mu.Lock()
		inc.down = temporalDown
		sends, clears, nsources := inc.sends, inc.clears, len(inc.sources)
		inc.mu.Unlock()

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		inc.mu.Lock()
		dSends, dClears, newSources := inc.sends-sends, inc.clears-clears, slices.Clone(inc.sources[nsources:])
		inc.mu.Unlock()
		status := rec.Code
		switch {
		case status >= 500 && !(status == http.StatusServiceUnavailable && (temporalDown || u.Path == "/readyz" && inc.cachedDown())):
			t.Fatalf("%s %s: status %d (Temporal down %v): %s", method, target, status, temporalDown, rec.Body)
		case !authed && (dSends > 0 || dClears > 0):
			t.Fatalf("%s %s without the token reached Temporal: %d sends, %d clears", method, target, dSends, dClears)
		case !authed && status/100 == 2 && method == http.MethodPost:
			t.Fatalf("%s %s without the token answered %d: %s", method, target, status, rec.Body)
		}
		for _, src := range newSources {
			if !slices.Contains(allowed, foldName(src)) {
				t.Fatalf("%s %s sent an alert as source %q; the token may use %v", method, target, src, allowed)
			}
		}
		if status >= 400 {
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Reason == "" {
				t.Fatalf("%s %s: status %d without a JSON error and reason: %q", method, target, status, rec.Body)
			}
		}
	})
}
