package incident

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Alert is one signal from a source: an OpenSearch rule match, a CloudWatch alarm,
// an Alertmanager alert or any JSON a sender posts. Alerts with the same
// Fingerprint belong to the same incident.
type Alert struct {
	// Source names the sender: "elastalert", "alertmanager", "cloudwatch", "rules", ...
	Source string `json:"source"`
	// Rule is the rule or alarm name that fired.
	Rule string `json:"rule"`
	// Env is the environment (prod, staging, ...). Empty means unspecified.
	Env      string   `json:"env,omitempty"`
	Service  string   `json:"service,omitempty"`
	Category string   `json:"category,omitempty"`
	Severity Severity `json:"severity,omitempty"`
	Title    string   `json:"title,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	// QueryKey holds the values that split one rule into separate incidents, such
	// as {"client_ip": "203.0.113.7"}. They are part of the fingerprint.
	QueryKey map[string]string `json:"query_key,omitempty"`
	// Fields carries the rest of the match document or payload, kept for people.
	Fields map[string]any `json:"fields,omitempty"`
	// Time is when the source saw the condition; ingress fills it when absent.
	Time  time.Time `json:"time,omitzero"`
	Links []Link    `json:"links,omitempty"`
	// ExternalID is the sender's own identity for the alert (Alertmanager's
	// fingerprint, an alarm ARN). It joins the fingerprint when set.
	ExternalID string `json:"external_id,omitempty"`
}

// Link is a URL a person may want next to the alert: a dashboard, a runbook.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:/@+-]*$`)

// Limits keep one alert small enough to travel in a Temporal payload many times over.
const (
	MaxNameLen    = 200
	MaxTextLen    = 4000
	MaxQueryKeys  = 16
	MaxLinks      = 16
	maxFieldBytes = 64 << 10
)

// Validate checks the alert and returns an *Error (EINVALID) naming the first bad
// field, such as "rule: required".
func (a *Alert) Validate() error {
	return a.validate("")
}

func (a *Alert) validate(prefix string) error {
	bad := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "%s%s: %s", prefix, field, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{
		{"source", a.Source, true},
		{"rule", a.Rule, true},
		{"env", a.Env, false},
		{"service", a.Service, false},
		{"category", a.Category, false},
	} {
		switch {
		case f.value == "" && f.required:
			return bad(f.name, "required")
		case f.value == "":
		case len(f.value) > MaxNameLen:
			return bad(f.name, "longer than %d characters", MaxNameLen)
		case !namePattern.MatchString(f.value):
			return bad(f.name, "%q has characters outside letters, digits, space and _.:/@+-", f.value)
		}
	}
	if a.Severity != SeverityUnknown && !a.Severity.Valid() {
		return bad("severity", "unknown severity %d", int(a.Severity))
	}
	if len(a.Title) > MaxTextLen {
		return bad("title", "longer than %d characters", MaxTextLen)
	}
	if len(a.Summary) > MaxTextLen {
		return bad("summary", "longer than %d characters", MaxTextLen)
	}
	if len(a.QueryKey) > MaxQueryKeys {
		return bad("query_key", "more than %d keys", MaxQueryKeys)
	}
	for _, k := range sortedKeys(a.QueryKey) {
		if k == "" {
			return bad("query_key", "empty key")
		}
		if len(k) > MaxNameLen || len(a.QueryKey[k]) > MaxNameLen {
			return bad("query_key."+k, "longer than %d characters", MaxNameLen)
		}
	}
	if len(a.Links) > MaxLinks {
		return bad("links", "more than %d links", MaxLinks)
	}
	for i, l := range a.Links {
		if !strings.HasPrefix(l.URL, "https://") && !strings.HasPrefix(l.URL, "http://") {
			return bad(fmt.Sprintf("links[%d].url", i), "must be an http or https URL")
		}
	}
	if len(a.Fields) > 0 {
		b, err := json.Marshal(a.Fields)
		if err != nil {
			return bad("fields", "%v", err)
		}
		if len(b) > maxFieldBytes {
			return bad("fields", "larger than %d bytes", maxFieldBytes)
		}
	}
	return nil
}

// DecodeAlerts reads irflow's own alert JSON: one object or an array of them.
// Unknown fields are errors that name the field ("alerts[3].rulle: unknown field"),
// and every alert is validated.
func DecodeAlerts(r io.Reader) ([]Alert, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, Errorf(EINVALID, "body: empty, want an alert object or an array of alerts")
	}
	var raws []json.RawMessage
	single := body[0] == '{'
	if single {
		raws = []json.RawMessage{body}
	} else if body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, Errorf(EINVALID, "body: %s", jsonProblem(err))
		}
		if len(raws) == 0 {
			return nil, Errorf(EINVALID, "alerts: empty array")
		}
	} else {
		return nil, Errorf(EINVALID, "body: want an alert object or an array of alerts")
	}
	alerts := make([]Alert, len(raws))
	for i, raw := range raws {
		prefix := fmt.Sprintf("alerts[%d].", i)
		if single {
			prefix = ""
		}
		if err := decodeAlert(raw, &alerts[i], prefix); err != nil {
			return nil, err
		}
	}
	return alerts, nil
}

func decodeAlert(raw []byte, a *Alert, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Errorf(EINVALID, "%s%s: want %s, got %s", prefix, typeErr.Field, typeErr.Type, typeErr.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Errorf(EINVALID, "%s%s: unknown field", prefix, strings.Trim(field, `"`))
		}
		var sevErr *SeverityError
		if errors.As(err, &sevErr) {
			return Errorf(EINVALID, "%sseverity: %s", prefix, sevErr.Error())
		}
		where := strings.TrimSuffix(prefix, ".")
		if where == "" {
			where = "body"
		}
		return Errorf(EINVALID, "%s: %s", where, jsonProblem(err))
	}
	return a.validate(prefix)
}

// jsonProblem turns encoding/json's message into one a sender can act on.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "malformed JSON: unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
