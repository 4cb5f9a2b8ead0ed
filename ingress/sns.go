package ingress

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// SNS message types.
const (
	SNSSubscriptionConfirmation = "SubscriptionConfirmation"
	SNSNotification             = "Notification"
	SNSUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// SourceCloudWatch is the Source of CloudWatch alarms arriving through SNS.
const SourceCloudWatch = "cloudwatch"

// SNSMessage is the JSON body SNS posts to an HTTP(S) subscriber.
type SNSMessage struct {
	Type             string `json:"Type"`
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token,omitempty"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject,omitempty"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL,omitempty"`
	UnsubscribeURL   string `json:"UnsubscribeURL,omitempty"`
}

// DecodeSNS parses an SNS HTTP(S) message and checks the fields its type needs.
// It does not verify the signature; see (*Server).verifySNS.
func DecodeSNS(body []byte) (*SNSMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, incident.Errorf(incident.EINVALID, "body: want an SNS message object")
	}
	var m SNSMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, incident.Errorf(incident.EINVALID, "body: %s", incident.JSONProblem(err))
	}
	need := []struct{ name, value string }{
		{"Type", m.Type}, {"MessageId", m.MessageID}, {"TopicArn", m.TopicArn}, {"Message", m.Message},
		{"Timestamp", m.Timestamp}, {"SignatureVersion", m.SignatureVersion}, {"Signature", m.Signature},
		{"SigningCertURL", m.SigningCertURL},
	}
	switch m.Type {
	case SNSNotification:
	case SNSSubscriptionConfirmation, SNSUnsubscribeConfirmation:
		need = append(need, struct{ name, value string }{"SubscribeURL", m.SubscribeURL}, struct{ name, value string }{"Token", m.Token})
	case "":
	default:
		return nil, incident.Errorf(incident.EINVALID, "Type: %q, want Notification, SubscriptionConfirmation or UnsubscribeConfirmation", m.Type)
	}
	for _, f := range need {
		if f.value == "" {
			return nil, incident.Errorf(incident.EINVALID, "%s: required", f.name)
		}
	}
	if _, err := config.TopicRegion(m.TopicArn); err != nil {
		return nil, incident.Errorf(incident.EINVALID, "TopicArn: %v", err)
	}
	return &m, nil
}

// StringToSign is the canonical text SNS signs: "Name\nvalue\n" for the
// message type's fields in byte order of their names. Subject is included in
// notifications only when present.
func (m *SNSMessage) StringToSign() string {
	var b strings.Builder
	add := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	if m.Type == SNSNotification {
		add("Message", m.Message)
		add("MessageId", m.MessageID)
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
		return b.String()
	}
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	add("SubscribeURL", m.SubscribeURL)
	add("Timestamp", m.Timestamp)
	add("Token", m.Token)
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// snsVerifier checks SNS signatures and confirms subscriptions.
type snsVerifier struct {
	cfg    config.SNSIngress
	http   *http.Client
	now    func() time.Time
	topics map[string]bool
	// seen holds the IDs of notifications already handled, for max_age.
	seen *recent

	mu    sync.Mutex
	certs map[string]*x509.Certificate
	hosts map[string]*regexp.Regexp // anchored host pattern by region
}

// maxCachedCerts bounds the cache; SNS rotates certificates rarely and only
// allowed hosts are ever fetched, so this is a guard, not a tuning knob.
const maxCachedCerts = 64

func newSNSVerifier(cfg config.SNSIngress, client *http.Client) (*snsVerifier, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// A certificate or subscription URL that redirects leaves the checked host.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client = &c
	if _, err := config.AnchorHostPattern(cfg.HostPattern, "us-east-1"); err != nil {
		return nil, fmt.Errorf("ingress.sns.host_pattern: %w", err)
	}
	v := &snsVerifier{
		cfg: cfg, http: client, now: time.Now, topics: map[string]bool{},
		seen:  newRecent(time.Duration(cfg.MaxAge)+config.SNSMaxClockSkew, maxRemembered),
		certs: map[string]*x509.Certificate{}, hosts: map[string]*regexp.Regexp{},
	}
	for _, arn := range cfg.AllowedTopicARNs {
		v.topics[arn] = true
	}
	return v, nil
}

func certificateError(format string, args ...any) error {
	return incident.Errorf(codeSNSCertificate, format, args...)
}

func signatureError(format string, args ...any) error {
	return incident.Errorf(codeSNSSignature, format, args...)
}

// hostPattern is the configured pattern for region, anchored whatever the
// config says (config.AnchorHostPattern).
func (v *snsVerifier) hostPattern(region string) (*regexp.Regexp, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if re := v.hosts[region]; re != nil {
		return re, nil
	}
	re, err := config.AnchorHostPattern(v.cfg.HostPattern, region)
	if err != nil {
		return nil, fmt.Errorf("sns host pattern: %w", err)
	}
	v.hosts[region] = re // regions come from allowed topics only, so this stays small
	return re, nil
}

// checkURL allows only https URLs on a host matching the pattern for region.
var certPath = regexp.MustCompile(`^/SimpleNotificationService-[A-Za-z0-9]{1,128}\.pem$`)

func (v *snsVerifier) checkURL(field, raw, region string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, certificateError("%s: not a URL", field)
	}
	if u.Scheme != "https" {
		return nil, certificateError("%s: must be https", field)
	}
	re, err := v.hostPattern(region)
	if err != nil {
		return nil, err
	}
	if u.User != nil || !re.MatchString(u.Host) {
		return nil, certificateError("%s: host %q is not an SNS host for region %s", field, u.Host, region)
	}
	return u, nil
}

// checkTime refuses a message signed longer than max_age ago, or from the
// future: a signature stays valid for as long as the certificate does, so
// without this anyone holding one old OK message could resolve incidents.
func (v *snsVerifier) checkTime(m *SNSMessage) error {
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return incident.Errorf(codeSNSStale, "Timestamp: %q is not an RFC 3339 time", m.Timestamp)
	}
	maxAge := time.Duration(v.cfg.MaxAge)
	switch age := v.now().Sub(ts); {
	case age > maxAge:
		return incident.Errorf(codeSNSStale, "Timestamp: message signed %s ago, more than ingress.sns.max_age (%s); refused as a replay", age.Round(time.Second), maxAge)
	case age < -config.SNSMaxClockSkew:
		return incident.Errorf(codeSNSStale, "Timestamp: message signed %s in the future, more than %s of clock skew; refused", (-age).Round(time.Second), config.SNSMaxClockSkew)
	}
	return nil
}

// verify checks that m comes from an allowed topic, is recent and carries a
// valid SNS signature. Failures are 403 with their reason (sns_topic,
// sns_stale, sns_signature, sns_certificate); 503 if the certificate cannot
// be fetched.
func (v *snsVerifier) verify(ctx context.Context, m *SNSMessage) error {
	if !v.topics[m.TopicArn] {
		return incident.Errorf(codeSNSTopic, "TopicArn: %s is not in ingress.sns.allowed_topic_arns", m.TopicArn)
	}
	region, err := config.TopicRegion(m.TopicArn)
	if err != nil {
		return incident.Errorf(codeSNSTopic, "TopicArn: %v", err)
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return signatureError("SignatureVersion: %q, want 1 or 2", m.SignatureVersion)
	}
	if m.SignatureVersion == "1" && v.cfg.RequireSignatureVersion >= 2 {
		return signatureError("SignatureVersion: 1 (SHA1withRSA) refused, ingress.sns.require_signature_version is %d", v.cfg.RequireSignatureVersion)
	}
	// Cheap and before any RSA work, so replaying old messages costs little.
	if err := v.checkTime(m); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return signatureError("Signature: not base64")
	}
	u, err := v.checkURL("SigningCertURL", m.SigningCertURL, region)
	if err != nil {
		return err
	}
	// SNS signs with certificates at /SimpleNotificationService-<id>.pem; any
	// other path on an SNS host is not a certificate, and fetching it on a
	// sender's word would make us fetch whatever they name.
	if !certPath.MatchString(u.EscapedPath()) || u.RawQuery != "" || u.Fragment != "" {
		return certificateError("SigningCertURL: path %q is not an SNS signing certificate (/SimpleNotificationService-<id>.pem)", u.EscapedPath())
	}
	cert, err := v.cert(ctx, u.String())
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return certificateError("SigningCertURL: certificate key is not RSA")
	}
	text := []byte(m.StringToSign())
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum(text)
		digest = d[:]
	} else {
		d := sha256.Sum256(text)
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return signatureError("Signature: does not verify")
	}
	return nil
}

func (v *snsVerifier) cert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	now := v.now()
	v.mu.Lock()
	c := v.certs[certURL]
	v.mu.Unlock()
	if c != nil && now.Before(c.NotAfter) {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, certURL, nil)
	if err != nil {
		return nil, certificateError("SigningCertURL: %v", err)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, incident.Errorf(incident.EUNAVAILABLE, "fetch SNS signing certificate: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, certificateError("SigningCertURL: fetch answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, incident.Errorf(incident.EUNAVAILABLE, "read SNS signing certificate: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, certificateError("SigningCertURL: not a PEM certificate")
	}
	c, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, certificateError("SigningCertURL: %v", err)
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, certificateError("SigningCertURL: certificate not valid now")
	}
	v.mu.Lock()
	if len(v.certs) >= maxCachedCerts {
		clear(v.certs)
	}
	v.certs[certURL] = c
	v.mu.Unlock()
	return c, nil
}

// confirm visits SubscribeURL, which is how an HTTPS subscriber accepts a
// subscription. Only allowed topics reach here (verify runs first).
func (v *snsVerifier) confirm(ctx context.Context, m *SNSMessage) error {
	region, err := config.TopicRegion(m.TopicArn)
	if err != nil {
		return incident.Errorf(codeSNSTopic, "TopicArn: %v", err)
	}
	u, err := v.checkURL("SubscribeURL", m.SubscribeURL, region)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return certificateError("SubscribeURL: %v", err)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return incident.Errorf(incident.EUNAVAILABLE, "confirm SNS subscription: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return incident.Errorf(incident.EUNAVAILABLE, "confirm SNS subscription: SNS answered %s", resp.Status)
	}
	return nil
}

// cwAlarm is the CloudWatch alarm state change SNS carries in Message.
type cwAlarm struct {
	AlarmName        string          `json:"AlarmName"`
	AlarmDescription string          `json:"AlarmDescription"`
	AWSAccountID     string          `json:"AWSAccountId"`
	NewStateValue    string          `json:"NewStateValue"`
	NewStateReason   string          `json:"NewStateReason"`
	OldStateValue    string          `json:"OldStateValue"`
	StateChangeTime  string          `json:"StateChangeTime"`
	Region           string          `json:"Region"`
	AlarmArn         string          `json:"AlarmArn"`
	Trigger          json.RawMessage `json:"Trigger"`
}

type cwTrigger struct {
	MetricName         string  `json:"MetricName"`
	Namespace          string  `json:"Namespace"`
	Statistic          string  `json:"Statistic"`
	Period             float64 `json:"Period"`
	EvaluationPeriods  float64 `json:"EvaluationPeriods"`
	ComparisonOperator string  `json:"ComparisonOperator"`
	Threshold          float64 `json:"Threshold"`
	Dimensions         []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"Dimensions"`
}

// CloudWatch alarm states.
const (
	AlarmStateAlarm            = "ALARM"
	AlarmStateOK               = "OK"
	AlarmStateInsufficientData = "INSUFFICIENT_DATA"
)

// DecodeCloudWatchAlarm reads the alarm JSON in an SNS notification's Message.
// ALARM gives a firing item, OK a resolved one; INSUFFICIENT_DATA returns the
// state with no item, because "no data" says nothing about the incident.
// Mapping: AlarmName → rule, AlarmArn → external_id, AlarmDescription →
// title, NewStateReason → summary, StateChangeTime → time; account, region,
// states and Trigger (metric, namespace, dimensions, threshold) → fields.
func DecodeCloudWatchAlarm(message string) (item *Item, state string, warnings []string, err error) {
	msg := strings.TrimSpace(message)
	if msg == "" || msg[0] != '{' {
		return nil, "", nil, incident.Errorf(incident.EINVALID, "Message: not a CloudWatch alarm (want JSON with AlarmName and NewStateValue)")
	}
	var al cwAlarm
	if err := json.Unmarshal([]byte(msg), &al); err != nil {
		return nil, "", nil, incident.Errorf(incident.EINVALID, "Message: %s", incident.JSONProblem(err))
	}
	if al.AlarmName == "" {
		return nil, "", nil, incident.Errorf(incident.EINVALID, "Message.AlarmName: required")
	}
	state = al.NewStateValue
	switch state {
	case AlarmStateAlarm, AlarmStateOK:
	case AlarmStateInsufficientData:
		return nil, state, nil, nil
	case "":
		return nil, "", nil, incident.Errorf(incident.EINVALID, "Message.NewStateValue: required")
	default:
		return nil, "", nil, incident.Errorf(incident.EINVALID, "Message.NewStateValue: %q, want ALARM, OK or INSUFFICIENT_DATA", state)
	}
	a := incident.Alert{Source: SourceCloudWatch, ExternalID: clip("Message.AlarmArn", al.AlarmArn, incident.MaxNameLen*4, &warnings)}
	a.Rule = cleanName("Message.AlarmName", al.AlarmName, &warnings)
	a.Title = clip("Message.AlarmDescription", al.AlarmDescription, incident.MaxTextLen, &warnings)
	a.Summary = clip("Message.NewStateReason", al.NewStateReason, incident.MaxTextLen, &warnings)
	if al.StateChangeTime != "" {
		if t, ok := parseCWTime(al.StateChangeTime); ok {
			a.Time = t
		} else {
			warnings = append(warnings, fmt.Sprintf("Message.StateChangeTime: %q not understood, using the receive time", al.StateChangeTime))
		}
	}
	a.Fields = map[string]any{"new_state": al.NewStateValue}
	for k, v := range map[string]string{"account": al.AWSAccountID, "region": al.Region, "old_state": al.OldStateValue, "alarm_arn": al.AlarmArn} {
		if v != "" {
			a.Fields[k] = v
		}
	}
	if len(al.Trigger) > 0 && string(al.Trigger) != "null" {
		var tr cwTrigger
		if err := json.Unmarshal(al.Trigger, &tr); err != nil {
			warnings = append(warnings, fmt.Sprintf("Message.Trigger: %s, kept out of fields", incident.JSONProblem(err)))
		} else {
			if tr.MetricName != "" {
				a.Fields["metric_name"] = tr.MetricName
			}
			if tr.Namespace != "" {
				a.Fields["namespace"] = tr.Namespace
			}
			if tr.ComparisonOperator != "" {
				a.Fields["comparison"] = tr.ComparisonOperator
				a.Fields["threshold"] = tr.Threshold
			}
			if len(tr.Dimensions) > 0 {
				dims := map[string]string{}
				for _, d := range tr.Dimensions {
					dims[d.Name] = d.Value
				}
				a.Fields["dimensions"] = dims
			}
		}
	}
	trimFields("fields.", a.Fields, &warnings)
	if err := a.Validate(); err != nil {
		return nil, "", warnings, incident.Errorf(incident.EINVALID, "Message.%s", incident.ErrorMessage(err))
	}
	it := &Item{Alert: a}
	if state == AlarmStateOK {
		it.Resolved = true
		it.Clear = workflows.SourceClear{Source: SourceCloudWatch, Detail: clip("Message.NewStateReason", "alarm OK: "+al.NewStateReason, incident.MaxTextLen, &warnings), At: a.Time}
	}
	return it, state, warnings, nil
}

// parseCWTime reads CloudWatch's "2024-05-01T12:00:00.000+0000" and RFC 3339.
func parseCWTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
