package ingress

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
)

func TestDecodeAlerts(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		source      string
		wantRules   []string
		wantSingle  bool
		wantWarn    []string
		wantErr     string
		wantErrCode string
	}{
		{name: "single", body: `{"source":"ci","rule":"disk full","env":"prod"}`, wantRules: []string{"disk full"}, wantSingle: true},
		{name: "array", body: `[{"source":"ci","rule":"a"},{"source":"ci","rule":"b"}]`, wantRules: []string{"a", "b"}},
		{name: "unknown fields warn", body: `[{"source":"ci","rule":"a","foo":1,"bar":{}}]`, wantRules: []string{"a"},
			wantWarn: []string{"alerts[0].bar: unknown field, ignored", "alerts[0].foo: unknown field, ignored"}},
		{name: "unknown field single", body: `{"source":"ci","rule":"a","rulle":"x"}`, wantRules: []string{"a"}, wantSingle: true,
			wantWarn: []string{"rulle: unknown field, ignored"}},
		{name: "case-insensitive known field", body: `{"Source":"ci","Rule":"a"}`, wantRules: []string{"a"}, wantSingle: true},
		{name: "source from token", body: `{"rule":"a"}`, source: "grafana", wantRules: []string{"a"}, wantSingle: true},
		{name: "missing rule names index", body: `[{"source":"ci","rule":"a"},{"source":"ci","rule":"b"},{"source":"ci","rule":"c"},{"source":"ci"}]`,
			wantErr: "alerts[3].rule: required", wantErrCode: incident.EINVALID},
		{name: "missing source without token name", body: `{"rule":"a"}`, wantErr: "source: required", wantErrCode: incident.EINVALID},
		{name: "wrong type", body: `[{"source":"ci","rule":5}]`, wantErr: "alerts[0].rule: want string", wantErrCode: incident.EINVALID},
		{name: "bad severity", body: `{"source":"ci","rule":"a","severity":"apocalyptic"}`, wantErr: "severity: unknown severity", wantErrCode: incident.EINVALID},
		{name: "empty", body: ``, wantErr: "body: empty", wantErrCode: incident.EINVALID},
		{name: "empty array", body: `[]`, wantErr: "alerts: empty array", wantErrCode: incident.EINVALID},
		{name: "null element", body: `[null]`, wantErr: "alerts[0]: want an alert object, got null", wantErrCode: incident.EINVALID},
		{name: "scalar", body: `42`, wantErr: "body: want an alert object", wantErrCode: incident.EINVALID},
		{name: "malformed", body: `{"source":"ci",`, wantErr: "malformed JSON", wantErrCode: incident.EINVALID},
		{name: "too many", body: `[` + strings.Repeat(`{"source":"ci","rule":"a"},`, 4) + `{"source":"ci","rule":"a"}]`, wantErr: "5 alerts in one request, at most 4", wantErrCode: incident.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts, single, warnings, err := incident.DecodeAlerts([]byte(tt.body), incident.DecodeOptions{Lenient: true, DefaultSource: tt.source, MaxAlerts: 4})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if got := incident.ErrorCode(err); got != tt.wantErrCode {
					t.Fatalf("code = %q, want %q", got, tt.wantErrCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, a := range alerts {
				rules = append(rules, a.Rule)
				want := "ci"
				if tt.source != "" {
					want = tt.source
				}
				if a.Source != want {
					t.Errorf("source = %q, want %q", a.Source, want)
				}
			}
			if !reflect.DeepEqual(rules, tt.wantRules) || single != tt.wantSingle || !reflect.DeepEqual(warnings, tt.wantWarn) {
				t.Fatalf("got rules %v single %v warnings %q; want %v %v %q", rules, single, warnings, tt.wantRules, tt.wantSingle, tt.wantWarn)
			}
		})
	}
}

func TestDecodeElastAlert(t *testing.T) {
	t.Run("frequency", func(t *testing.T) {
		a, warnings, err := DecodeElastAlert(MustReadFile(t, "elastalert_frequency.json"), config.ElastAlert{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Source != "elastalert" || a.Rule != "Brute force login _uc-be_" || a.Env != "prod" || a.Severity != incident.SeverityHigh {
			t.Errorf("alert = %+v", a)
		}
		if want := []string{`rule_name: "Brute force login (uc-be)" sent as "Brute force login _uc-be_"`}; !reflect.DeepEqual(warnings, want) {
			t.Errorf("warnings = %q, want %q", warnings, want)
		}
		if !reflect.DeepEqual(a.QueryKey, map[string]string{"key": "203.0.113.7"}) {
			t.Errorf("query key = %v", a.QueryKey)
		}
		if want := time.Date(2026, 11, 22, 19, 41, 7, 482e6, time.UTC); !a.Time.Equal(want) {
			t.Errorf("time = %v, want %v", a.Time, want)
		}
		for _, k := range []string{"num_hits", "num_matches", "client_ip", "http", "_index"} {
			if _, ok := a.Fields[k]; !ok {
				t.Errorf("fields lack %s: %v", k, a.Fields)
			}
		}
		for _, k := range []string{"rule_name", "env", "severity"} {
			if _, ok := a.Fields[k]; ok {
				t.Errorf("fields keep mapped %s", k)
			}
		}
		if got := stringify(a.Fields["num_hits"]); got != "1342" {
			t.Errorf("num_hits = %s", got)
		}
	})
	t.Run("spike", func(t *testing.T) {
		a, _, err := DecodeElastAlert(MustReadFile(t, "elastalert_spike.json"), config.ElastAlert{QueryKeyFields: []string{"terminatingRuleId", "httpRequest.clientIp"}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Rule != "WAF block spike" || a.Env != "prod" || a.Title != "WAF block spike" {
			t.Errorf("alert = %+v", a)
		}
		want := map[string]string{"terminatingRuleId": "AWS-AWSManagedRulesSQLiRuleSet", "httpRequest.clientIp": "198.51.100.23"}
		if !reflect.DeepEqual(a.QueryKey, want) {
			t.Errorf("query key = %v, want %v", a.QueryKey, want)
		}
		if stringify(a.Fields["spike_count"]) != "412" || stringify(a.Fields["reference_count"]) != "18" {
			t.Errorf("spike fields = %v", a.Fields)
		}
	})
	tests := []struct {
		name, body, wantErr string
		cfg                 config.ElastAlert
		check               func(t *testing.T, a incident.Alert, warnings []string)
	}{
		{name: "no rule name", body: `{"num_hits":3}`, wantErr: "rule_name: required"},
		{name: "alert_subject as rule", body: `{"alert_subject":"Too many 5xx"}`, check: func(t *testing.T, a incident.Alert, _ []string) {
			if a.Rule != "Too many 5xx" || a.Title != "" {
				t.Errorf("rule %q title %q", a.Rule, a.Title)
			}
		}},
		{name: "configured rule field", body: `{"meta":{"rule":"x"}}`, cfg: config.ElastAlert{RuleFields: []string{"meta.rule"}}, check: func(t *testing.T, a incident.Alert, _ []string) {
			if a.Rule != "x" {
				t.Errorf("rule %q", a.Rule)
			}
		}},
		{name: "bad timestamp warns", body: `{"rule_name":"r","@timestamp":"yesterday"}`, check: func(t *testing.T, a incident.Alert, w []string) {
			if !a.Time.IsZero() || len(w) != 1 || !strings.Contains(w[0], "@timestamp") {
				t.Errorf("time %v warnings %q", a.Time, w)
			}
		}},
		{name: "epoch millis", body: `{"rule_name":"r","@timestamp":1732300000000}`, check: func(t *testing.T, a incident.Alert, _ []string) {
			if !a.Time.Equal(time.UnixMilli(1732300000000)) {
				t.Errorf("time %v", a.Time)
			}
		}},
		{name: "unknown severity warns", body: `{"rule_name":"r","severity":"sev9"}`, check: func(t *testing.T, a incident.Alert, w []string) {
			if a.Severity != incident.SeverityUnknown || len(w) != 1 {
				t.Errorf("severity %v warnings %q", a.Severity, w)
			}
		}},
		{name: "huge field dropped", body: `{"rule_name":"r","related_events":"` + strings.Repeat("x", 70<<10) + `","num_hits":2}`, check: func(t *testing.T, a incident.Alert, w []string) {
			if _, ok := a.Fields["related_events"]; ok || a.Fields["num_hits"] == nil || len(w) != 1 {
				t.Errorf("fields %v warnings %q", len(a.Fields), w)
			}
		}},
		{name: "array rejected", body: `[{"rule_name":"r"}]`, wantErr: "want a JSON object"},
		{name: "trailing garbage", body: `{"rule_name":"r"} {}`, wantErr: "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, w, err := DecodeElastAlert([]byte(tt.body), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || incident.ErrorCode(err) != incident.EINVALID {
					t.Fatalf("err = %v, want EINVALID containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, a, w)
		})
	}
}

func TestDecodeAlertmanager(t *testing.T) {
	items, warnings, err := DecodeAlertmanager(MustReadFile(t, "alertmanager_v4.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 || len(items) != 2 {
		t.Fatalf("items %d warnings %q", len(items), warnings)
	}
	firing, resolved := items[0], items[1]
	a := firing.Alert
	if firing.Resolved || a.Source != "alertmanager" || a.Rule != "HighErrorRate" || a.Env != "prod" || a.Severity != incident.SeverityCritical ||
		a.Service != "checkout" || a.ExternalID != "c4a1d7e29b0f5e31" || a.Title != "5xx rate above 5%" {
		t.Errorf("firing alert = %+v", a)
	}
	wantQK := map[string]string{"instance": "10.0.1.17:8080", "job": "uc-be", "service": "checkout"}
	if !reflect.DeepEqual(a.QueryKey, wantQK) {
		t.Errorf("query key = %v, want %v", a.QueryKey, wantQK)
	}
	if len(a.Links) != 2 || a.Links[1].URL != "https://runbooks.example.com/high-error-rate" {
		t.Errorf("links = %v", a.Links)
	}
	if !a.Time.Equal(time.Date(2026, 11, 22, 19, 40, 0, 0, time.UTC)) {
		t.Errorf("time = %v", a.Time)
	}
	if !resolved.Resolved || resolved.Clear.Source != "alertmanager" || !resolved.Clear.At.Equal(time.Date(2026, 11, 22, 19, 38, 0, 0, time.UTC)) {
		t.Errorf("resolved = %+v", resolved)
	}
	// A resolved alert must reach the incident its firing twin opened.
	firingTwin := strings.Replace(string(MustReadFile(t, "alertmanager_v4.json")), `"status": "resolved"`, `"status": "firing"`, 1)
	twins, _, err := DecodeAlertmanager([]byte(firingTwin))
	if err != nil {
		t.Fatal(err)
	}
	if incident.Fingerprint(twins[1].Alert) != incident.Fingerprint(resolved.Alert) {
		t.Error("resolved and firing versions of one alert have different fingerprints")
	}

	for _, tt := range []struct{ name, body, wantErr string }{
		{"version", `{"version":"3","alerts":[{"status":"firing","labels":{"alertname":"a"}}]}`, `version: "3", want "4"`},
		{"no alertname", `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"a"}},{"status":"firing","labels":{"job":"x"}}]}`, "alerts[1].labels.alertname: required"},
		{"bad status", `{"version":"4","alerts":[{"status":"pending","labels":{"alertname":"a"}}]}`, `alerts[0].status: "pending", want firing or resolved`},
		{"no alerts", `{"version":"4","alerts":[]}`, "alerts: empty"},
		{"label type", `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":1}}]}`, "want string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeAlertmanager([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || incident.ErrorCode(err) != incident.EINVALID {
				t.Fatalf("err = %v, want EINVALID containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("too many labels", func(t *testing.T) {
		labels := `"alertname":"a"`
		for i := range 20 {
			labels += `,"l` + string(rune('a'+i)) + `":"v"`
		}
		items, w, err := DecodeAlertmanager([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{` + labels + `}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(items[0].Alert.QueryKey) != incident.MaxQueryKeys || len(w) != 1 {
			t.Fatalf("query key %d warnings %q", len(items[0].Alert.QueryKey), w)
		}
	})
}

func TestDecodeCloudWatchAlarm(t *testing.T) {
	m, err := DecodeSNS(MustReadFile(t, "sns_cloudwatch_alarm.json"))
	if err != nil {
		t.Fatal(err)
	}
	item, state, warnings, err := DecodeCloudWatchAlarm(m.Message)
	if err != nil {
		t.Fatal(err)
	}
	a := item.Alert
	if state != "ALARM" || item.Resolved || len(warnings) != 0 {
		t.Fatalf("state %s resolved %v warnings %q", state, item.Resolved, warnings)
	}
	if a.Source != "cloudwatch" || a.Rule != "waf-blocked-requests-high" || a.ExternalID != "arn:aws:cloudwatch:us-east-1:123456789012:alarm:waf-blocked-requests-high" {
		t.Errorf("alert = %+v", a)
	}
	if !a.Time.Equal(time.Date(2026, 11, 22, 19, 45, 12, 345e6, time.UTC)) {
		t.Errorf("time = %v", a.Time)
	}
	if a.Fields["metric_name"] != "BlockedRequests" || a.Fields["namespace"] != "AWS/WAFV2" ||
		!reflect.DeepEqual(a.Fields["dimensions"], map[string]string{"WebACL": "prod-web-acl", "Region": "us-east-1", "Rule": "ALL"}) {
		t.Errorf("fields = %v", a.Fields)
	}

	okMsg, err := DecodeSNS(MustReadFile(t, "sns_cloudwatch_ok.json"))
	if err != nil {
		t.Fatal(err)
	}
	ok, state, _, err := DecodeCloudWatchAlarm(okMsg.Message)
	if err != nil {
		t.Fatal(err)
	}
	if state != "OK" || !ok.Resolved || ok.Clear.Source != "cloudwatch" || incident.Fingerprint(ok.Alert) != incident.Fingerprint(a) {
		t.Errorf("OK item = %+v (fingerprint must equal the ALARM's)", ok)
	}

	insufficient := strings.Replace(m.Message, `"NewStateValue": "ALARM"`, `"NewStateValue": "INSUFFICIENT_DATA"`, 1)
	if it, state, _, err := DecodeCloudWatchAlarm(insufficient); it != nil || state != "INSUFFICIENT_DATA" || err != nil {
		t.Errorf("INSUFFICIENT_DATA: item %v state %q err %v", it, state, err)
	}
	for _, tt := range []struct{ msg, wantErr string }{
		{"hello from a plain topic", "not a CloudWatch alarm"},
		{`{"AlarmName":"x"}`, "NewStateValue: required"},
		{`{"NewStateValue":"ALARM"}`, "AlarmName: required"},
		{`{"AlarmName":"x","NewStateValue":"MAYBE"}`, `"MAYBE", want ALARM`},
	} {
		if _, _, _, err := DecodeCloudWatchAlarm(tt.msg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.msg, err, tt.wantErr)
		}
	}
}

func TestDecodeSNS(t *testing.T) {
	for _, tt := range []struct{ name, body, wantErr string }{
		{"type", `{"Type":"Surprise"}`, `Type: "Surprise"`},
		{"no type", `{}`, "Type: required"},
		{"no signature", `{"Type":"Notification","MessageId":"1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"m","Timestamp":"t","SignatureVersion":"1","SigningCertURL":"https://x"}`, "Signature: required"},
		{"confirmation needs SubscribeURL", `{"Type":"SubscriptionConfirmation","MessageId":"1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"m","Timestamp":"t","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://x","Token":"t"}`, "SubscribeURL: required"},
		{"bad arn", `{"Type":"Notification","MessageId":"1","TopicArn":"arn:aws:sqs:us-east-1:1:t","Message":"m","Timestamp":"t","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://x"}`, "not an SNS topic ARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeSNS([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
