package ingress

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"

	"github.com/irflow/irflow/incident"
)

const testTopic = "arn:aws:sns:us-east-1:123456789012:irflow-alarms"

var (
	snsKeyOnce sync.Once
	snsKey     *rsa.PrivateKey
	snsCertPEM []byte
)

// snsSigner is a fake SNS: a TLS server that serves the signing certificate
// and accepts subscription confirmations, and a key that signs messages.
type snsSigner struct {
	ts         *httptest.Server
	certFetch  atomic.Int32
	confirmHit atomic.Int32
}

func newSNSSigner(t *testing.T) *snsSigner {
	t.Helper()
	snsKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "sns.us-east-1.amazonaws.com"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			panic(err)
		}
		snsKey, snsCertPEM = k, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	s := &snsSigner{}
	mux := http.NewServeMux()
	mux.HandleFunc("/SimpleNotificationService-test.pem", func(w http.ResponseWriter, r *http.Request) {
		s.certFetch.Add(1)
		w.Write(snsCertPEM)
	})
	mux.HandleFunc("/confirm", func(w http.ResponseWriter, r *http.Request) {
		s.confirmHit.Add(1)
		w.Write([]byte("<ConfirmSubscriptionResponse/>"))
	})
	s.ts = httptest.NewTLSServer(mux)
	t.Cleanup(s.ts.Close)
	return s
}

func (s *snsSigner) config() config.SNSIngress {
	return config.SNSIngress{AllowedTopicARNs: []string{testTopic}, HostPattern: `^127\.0\.0\.1:[0-9]+$`}
}

// server is the ingress config that trusts the fake's certificates.
func (s *snsSigner) server(sns config.SNSIngress) Config {
	return Config{Ingress: config.Ingress{SNS: sns}, SNSHTTPClient: s.ts.Client()}
}

// sign loads a fixture, points its URLs at the fake and signs it.
func (s *snsSigner) sign(t *testing.T, fixture, version string, edit func(*SNSMessage)) *SNSMessage {
	t.Helper()
	var m SNSMessage
	if err := json.Unmarshal(MustReadFile(t, fixture), &m); err != nil {
		t.Fatal(err)
	}
	m.SigningCertURL = s.ts.URL + "/SimpleNotificationService-test.pem"
	// Signed now unless edit says otherwise: the ingress refuses old messages.
	m.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	if m.SubscribeURL != "" {
		m.SubscribeURL = s.ts.URL + "/confirm?Token=" + m.Token
	}
	if edit != nil {
		edit(&m)
	}
	m.SignatureVersion = version
	text := []byte(m.StringToSign())
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum(text)
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsKey, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256(text)
		sig, err = rsa.SignPKCS1v15(rand.Reader, snsKey, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	return &m
}

func postSNS(t *testing.T, s *Server, m *SNSMessage) response {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, s.Handler(), http.MethodPost, "/sns", b, "Content-Type", "text/plain; charset=UTF-8", "X-Amz-Sns-Message-Type", m.Type)
}

func TestSNSNotifications(t *testing.T) {
	fake := newSNSSigner(t)
	rec := newRecorder()
	srv := MustServer(t, fake.server(fake.config()), rec)

	t.Run("valid v1 ALARM opens an occurrence", func(t *testing.T) {
		resp := postSNS(t, srv, fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil))
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.occs) != 1 || rec.occs[0].Alert.Source != "cloudwatch" || rec.occs[0].Alert.Rule != "waf-blocked-requests-high" {
			t.Fatalf("occurrences = %+v", rec.occs)
		}
		if resp.Body["incident_id"] != incident.ID(incident.Fingerprint(rec.occs[0].Alert)) {
			t.Errorf("incident_id = %v", resp.Body["incident_id"])
		}
	})
	t.Run("valid v2 OK clears", func(t *testing.T) {
		resp := postSNS(t, srv, fake.sign(t, "sns_cloudwatch_ok.json", "2", nil))
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Status, resp.Raw)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		fp := incident.Fingerprint(rec.occs[0].Alert)
		if c, ok := rec.clears[fp]; !ok || c.Source != "cloudwatch" {
			t.Fatalf("clears = %+v, want one for %s", rec.clears, fp)
		}
		if resp.Body["detail"] != "cleared" || resp.Body["action"] != "clear" {
			t.Errorf("body = %s", resp.Raw)
		}
	})
	t.Run("INSUFFICIENT_DATA is accepted without an alert", func(t *testing.T) {
		m := fake.sign(t, "sns_cloudwatch_alarm.json", "2", func(m *SNSMessage) {
			m.Message = strings.Replace(m.Message, `"NewStateValue": "ALARM"`, `"NewStateValue": "INSUFFICIENT_DATA"`, 1)
		})
		before := len(rec.occs)
		resp := postSNS(t, srv, m)
		if resp.Status != http.StatusOK || len(rec.occs) != before {
			t.Fatalf("status %d, occurrences %d→%d", resp.Status, before, len(rec.occs))
		}
	})
	if n := fake.certFetch.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1 (cached)", n)
	}
}

func TestSNSRejectsForgeries(t *testing.T) {
	fake := newSNSSigner(t)
	tests := []struct {
		name    string
		cfg     func(config.SNSIngress) config.SNSIngress
		message func(t *testing.T) *SNSMessage
		wantErr string
	}{
		{name: "tampered message", message: func(t *testing.T) *SNSMessage {
			m := fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil)
			m.Message = strings.Replace(m.Message, "waf-blocked-requests-high", "something-else", 1)
			return m
		}, wantErr: "Signature: does not verify"},
		{name: "tampered subject v2", message: func(t *testing.T) *SNSMessage {
			m := fake.sign(t, "sns_cloudwatch_alarm.json", "2", nil)
			m.Subject = "changed"
			return m
		}, wantErr: "Signature: does not verify"},
		{name: "version 1 signature claimed as 2", message: func(t *testing.T) *SNSMessage {
			m := fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil)
			m.SignatureVersion = "2"
			return m
		}, wantErr: "Signature: does not verify"},
		{name: "unsigned", message: func(t *testing.T) *SNSMessage {
			m := fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil)
			m.SignatureVersion = "3"
			return m
		}, wantErr: "SignatureVersion"},
		{name: "wrong cert host", cfg: func(c config.SNSIngress) config.SNSIngress { c.HostPattern = ""; return c }, message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil)
		}, wantErr: "is not an SNS host for region us-east-1"},
		{name: "http instead of https", message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_cloudwatch_alarm.json", "1", func(m *SNSMessage) {
				m.SigningCertURL = strings.Replace(m.SigningCertURL, "https://", "http://", 1)
			})
		}, wantErr: "SigningCertURL: must be https"},
		{name: "certificate path not a certificate", message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_cloudwatch_alarm.json", "1", func(m *SNSMessage) {
				m.SigningCertURL = strings.Replace(m.SigningCertURL, "/SimpleNotificationService-test.pem", "/admin/export?all=1", 1)
			})
		}, wantErr: "/admin/export\\\" is not an SNS signing certificate"},
		{name: "unknown topic", message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_cloudwatch_alarm.json", "1", func(m *SNSMessage) {
				m.TopicArn = "arn:aws:sns:us-east-1:999999999999:attacker"
			})
		}, wantErr: "not in ingress.sns.allowed_topic_arns"},
		{name: "unknown topic confirmation", message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_subscription_confirmation.json", "1", func(m *SNSMessage) {
				m.TopicArn = "arn:aws:sns:us-east-1:999999999999:attacker"
			})
		}, wantErr: "not in ingress.sns.allowed_topic_arns"},
		{name: "confirmation to a foreign host", message: func(t *testing.T) *SNSMessage {
			return fake.sign(t, "sns_subscription_confirmation.json", "2", func(m *SNSMessage) {
				m.SubscribeURL = "https://evil.example.com/confirm"
			})
		}, wantErr: "SubscribeURL: host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := fake.config()
			if tt.cfg != nil {
				cfg = tt.cfg(cfg)
			}
			srv := MustServer(t, fake.server(cfg), rec)
			confirms := fake.confirmHit.Load()
			resp := postSNS(t, srv, tt.message(t))
			if resp.Status != http.StatusForbidden || !strings.Contains(resp.Raw, tt.wantErr) {
				t.Fatalf("status %d body %s, want 403 containing %q", resp.Status, resp.Raw, tt.wantErr)
			}
			if len(rec.occs) != 0 || len(rec.clears) != 0 || fake.confirmHit.Load() != confirms {
				t.Fatalf("a rejected message reached Temporal or confirmed a subscription")
			}
		})
	}
}

func TestSNSSubscriptionConfirmation(t *testing.T) {
	fake := newSNSSigner(t)
	srv := MustServer(t, fake.server(fake.config()), newRecorder())
	resp := postSNS(t, srv, fake.sign(t, "sns_subscription_confirmation.json", "1", nil))
	if resp.Status != http.StatusOK || resp.Body["status"] != "confirmed" {
		t.Fatalf("status %d: %s", resp.Status, resp.Raw)
	}
	if n := fake.confirmHit.Load(); n != 1 {
		t.Fatalf("SubscribeURL visited %d times, want 1", n)
	}
	unsub := fake.sign(t, "sns_subscription_confirmation.json", "2", func(m *SNSMessage) { m.Type = SNSUnsubscribeConfirmation })
	if resp := postSNS(t, srv, unsub); resp.Status != http.StatusOK || fake.confirmHit.Load() != 1 {
		t.Fatalf("unsubscribe: status %d, confirmations %d", resp.Status, fake.confirmHit.Load())
	}
}

func TestSNSContentType(t *testing.T) {
	srv := MustServer(t, Config{Ingress: config.Ingress{SNS: config.SNSIngress{AllowedTopicARNs: []string{testTopic}}}}, newRecorder())
	body := MustReadFile(t, "sns_cloudwatch_alarm.json")
	if resp := do(t, srv.Handler(), http.MethodPost, "/sns", body, "Content-Type", "application/xml"); resp.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", resp.Status)
	}
	// The fixture is signed by nobody: JSON content type passes, the signature does not.
	if resp := do(t, srv.Handler(), http.MethodPost, "/sns", body, "Content-Type", "application/json"); resp.Status != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.Status)
	}
}

func TestSNSHostPattern(t *testing.T) {
	cfg := config.Ingress{}
	cfg.SetDefaults()
	v, err := newSNSVerifier(cfg.SNS, nil)
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem":    true,
		"https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-abc.pem": true,
		"https://sns.eu-west-1.amazonaws.com/x.pem":                                false, // another region
		"https://sns.us-east-1.amazonaws.com.evil.example/x.pem":                   false,
		"https://evil.example/sns.us-east-1.amazonaws.com/x.pem":                   false,
		"https://sns.us-east-1.amazonaws.com:8443/x.pem":                           false,
		"https://user@sns.us-east-1.amazonaws.com/x.pem":                           false,
		"http://sns.us-east-1.amazonaws.com/x.pem":                                 false,
		"https://snsXus-east-1.amazonaws.com/x.pem":                                false,
	} {
		_, err := v.checkURL("SigningCertURL", raw, "us-east-1")
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want allowed %v", raw, err, ok)
		}
		if err != nil && ErrorStatus(err) != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", raw, ErrorStatus(err))
		}
	}
}

// A signed message is valid for as long as SNS's certificate is; only its
// Timestamp tells a replay from a delivery. Replaying an old OK must not
// count as a clean scan.
func TestSNSRefusesReplays(t *testing.T) {
	fake := newSNSSigner(t)
	at := func(d time.Duration) func(*SNSMessage) {
		return func(m *SNSMessage) { m.Timestamp = time.Now().Add(d).UTC().Format(time.RFC3339Nano) }
	}
	for _, tc := range []struct {
		name    string
		maxAge  time.Duration
		edit    func(*SNSMessage)
		want    int
		wantErr string
	}{
		{"two hours old", 0, at(-2 * time.Hour), 403, "Timestamp: message signed 2h0m0s ago, more than ingress.sns.max_age (1h0m0s); refused as a replay"},
		{"50 minutes old", 0, at(-50 * time.Minute), 200, ""},
		{"older than a configured max_age", 10 * time.Minute, at(-11 * time.Minute), 403, "more than ingress.sns.max_age (10m0s)"},
		{"from the future", 0, at(10 * time.Minute), 403, "Timestamp: message signed 10m0s in the future, more than 5m0s of clock skew; refused"},
		{"a little ahead", 0, at(time.Minute), 200, ""},
		{"not a time", 0, func(m *SNSMessage) { m.Timestamp = "yesterday" }, 403, `Timestamp: "yesterday" is not an RFC 3339 time`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := fake.config()
			cfg.MaxAge = config.Duration(tc.maxAge)
			srv := MustServer(t, fake.server(cfg), rec)
			resp := postSNS(t, srv, fake.sign(t, "sns_cloudwatch_ok.json", "2", tc.edit))
			if msg, _ := resp.Body["error"].(string); resp.Status != tc.want || !strings.Contains(msg, tc.wantErr) {
				t.Fatalf("status %d body %s; want %d containing %q", resp.Status, resp.Raw, tc.want, tc.wantErr)
			}
			if _, clears := rec.counts(); (clears == 1) != (tc.want == 200) {
				t.Fatalf("%d clears for a %d answer", clears, resp.Status)
			}
			if tc.want == 403 && resp.Body["reason"] != "sns_stale" {
				t.Fatalf("reason %v, want sns_stale", resp.Body["reason"])
			}
		})
	}
}

// SNS delivers at least once: a redelivered message (same MessageId) is
// answered 200 but signalled only once, also when the copies arrive together.
func TestSNSRedeliveryCountsOnce(t *testing.T) {
	fake := newSNSSigner(t)
	rec := newRecorder()
	srv := MustServer(t, fake.server(fake.config()), rec)
	ok := fake.sign(t, "sns_cloudwatch_ok.json", "2", nil)
	alarm := fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil)

	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = postSNS(t, srv, ok).Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("copy %d: status %d, want 200", i, s)
		}
	}
	again := postSNS(t, srv, ok)
	if again.Status != http.StatusOK || again.Body["status"] != "duplicate" || again.Body["message_id"] != ok.MessageID {
		t.Fatalf("redelivery: status %d body %s; want 200 duplicate", again.Status, again.Raw)
	}
	for range 3 {
		postSNS(t, srv, alarm)
	}
	if occs, clears := rec.counts(); occs != 1 || clears != 1 {
		t.Fatalf("9 copies of an OK and 3 of an ALARM gave %d clears and %d occurrences; want 1 and 1", clears, occs)
	}
}

// Only a message that was handled is remembered: a forged copy of a real
// MessageId cannot suppress the real message, and one that failed (Temporal
// down) is handled again when SNS retries it.
func TestSNSDedupRemembersOnlyHandledMessages(t *testing.T) {
	fake := newSNSSigner(t)
	down := true
	var mu sync.Mutex
	rec := newRecorder()
	inner := rec.incidentsFunc.clear
	rec.incidentsFunc.clear = func(ctx context.Context, fp string, c workflows.SourceClear) error {
		mu.Lock()
		d := down
		mu.Unlock()
		if d {
			return incident.Errorf(incident.EUNAVAILABLE, "temporal down")
		}
		return inner(ctx, fp, c)
	}
	srv := MustServer(t, fake.server(fake.config()), rec)
	ok := fake.sign(t, "sns_cloudwatch_ok.json", "2", nil)

	forged := *ok
	forged.Message = strings.Replace(forged.Message, `"OK"`, `"ALARM"`, 1)
	if resp := postSNS(t, srv, &forged); resp.Status != http.StatusForbidden {
		t.Fatalf("forged copy: status %d, want 403", resp.Status)
	}
	if resp := postSNS(t, srv, ok); resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("while Temporal is down: status %d, want 503", resp.Status)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	resp := postSNS(t, srv, ok)
	if resp.Status != http.StatusOK || resp.Body["detail"] != "cleared" {
		t.Fatalf("SNS's retry: status %d body %s; want 200 cleared", resp.Status, resp.Raw)
	}
	if _, clears := rec.counts(); clears != 1 {
		t.Fatalf("%d clears, want 1", clears)
	}
}

func TestSNSRequireSignatureVersion(t *testing.T) {
	fake := newSNSSigner(t)
	rec := newRecorder()
	cfg := fake.config()
	cfg.RequireSignatureVersion = 2
	srv := MustServer(t, fake.server(cfg), rec)
	resp := postSNS(t, srv, fake.sign(t, "sns_cloudwatch_alarm.json", "1", nil))
	if resp.Status != http.StatusForbidden || resp.Body["reason"] != "sns_signature" ||
		resp.Body["error"] != "SignatureVersion: 1 (SHA1withRSA) refused, ingress.sns.require_signature_version is 2" {
		t.Fatalf("version 1: status %d body %s", resp.Status, resp.Raw)
	}
	if occs, _ := rec.counts(); occs != 0 {
		t.Fatal("a refused message was signalled")
	}
	if resp := postSNS(t, srv, fake.sign(t, "sns_cloudwatch_alarm.json", "2", nil)); resp.Status != http.StatusOK {
		t.Fatalf("version 2: status %d body %s", resp.Status, resp.Raw)
	}
}

// The host pattern matches whole hosts whatever the config says: a pattern
// written without ^ and $ must not let a look-alike host through.
func TestSNSHostPatternAnchored(t *testing.T) {
	for _, pattern := range []string{
		`sns\.{region}\.amazonaws\.com`,
		`sns\.{region}\.amazonaws\.com|sns\.{region}\.amazonaws\.com\.cn`,
		`^sns\.{region}\.amazonaws\.com`,
	} {
		t.Run(pattern, func(t *testing.T) {
			cfg := config.Ingress{SNS: config.SNSIngress{HostPattern: pattern}}
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			v, err := newSNSVerifier(cfg.SNS, nil)
			if err != nil {
				t.Fatal(err)
			}
			for raw, ok := range map[string]bool{
				"https://sns.us-east-1.amazonaws.com/cert.pem":                  true,
				"https://sns.us-east-1.amazonaws.com.evil.example/cert.pem":     false,
				"https://evil-sns.us-east-1.amazonaws.com/cert.pem":             false,
				"https://xsns.us-east-1.amazonaws.com.cn.evil.example/cert.pem": false,
				"https://sns.us-east-1.amazonaws.com.cn.evil.example/x.pem":     false,
				"https://sns.us-east-1.amazonaws.com:443.evil.example/cert.pem": false,
			} {
				_, err := v.checkURL("SigningCertURL", raw, "us-east-1")
				if (err == nil) != ok {
					t.Errorf("%s: err = %v, want allowed %v", raw, err, ok)
				}
				if err != nil && (ErrorStatus(err) != http.StatusForbidden || ErrorReason(err) != "sns_certificate") {
					t.Errorf("%s: %d %s, want 403 sns_certificate", raw, ErrorStatus(err), ErrorReason(err))
				}
			}
		})
	}
}
