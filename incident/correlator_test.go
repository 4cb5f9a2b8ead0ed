package incident

import (
	"reflect"
	"testing"
	"time"
)

func TestAlertMatcher(t *testing.T) {
	waf := AlertMatcher{Categories: []string{"waf"}, Rules: []string{"*waf*"}}
	fivexx := AlertMatcher{Categories: []string{"5xx", "http-5xx"}, Rules: []string{"*5xx*"}, MinSeverity: SeverityHigh}
	for _, tc := range []struct {
		name string
		m    AlertMatcher
		a    Alert
		sev  Severity
		want bool
	}{
		{"category", waf, Alert{Rule: "sqli-burst", Category: "WAF"}, SeverityLow, true},
		{"rule glob without category", waf, Alert{Rule: "irflow-waf-blocked-alarm", Source: "cloudwatch"}, SeverityLow, true},
		{"neither", waf, Alert{Rule: "be-5xx-burst", Category: "reliability"}, SeverityHigh, false},
		{"second list", fivexx, Alert{Rule: "fe-errors", Category: "http-5xx"}, SeverityHigh, true},
		{"rule glob across categories", fivexx, Alert{Rule: "be-5xx-burst-per-namespace", Category: "reliability"}, SeverityCritical, true},
		{"below min severity", fivexx, Alert{Rule: "fe-errors", Category: "5xx"}, SeverityMedium, false},
		{"source", AlertMatcher{Sources: []string{"alertmanager"}}, Alert{Source: "Alertmanager", Rule: "x"}, SeverityInfo, true},
		{"star needs a value", AlertMatcher{Categories: []string{"*"}}, Alert{Rule: "x"}, SeverityHigh, false},
		{"severity only", AlertMatcher{MinSeverity: SeverityHigh}, Alert{Rule: "x"}, SeverityHigh, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Match(&tc.a, tc.sev); got != tc.want {
				t.Errorf("Match(%+v, %s) = %v, want %v", tc.a, tc.sev, got, tc.want)
			}
		})
	}
}

func TestRelationKeyValue(t *testing.T) {
	ip := RelationKey{Name: "source_ip", Fields: []string{"source_ip", "src_ip", "client.ip", "httpRequest.clientIp"}}
	service := RelationKey{Name: "service", Fields: []string{"service", "kubernetes.namespace_name"}}
	for _, tc := range []struct {
		name string
		k    RelationKey
		a    Alert
		want string
	}{
		{"query key", ip, Alert{QueryKey: map[string]string{"src_ip": "203.0.113.7"}}, "203.0.113.7"},
		{"nested field", ip, Alert{Fields: map[string]any{"client": map[string]any{"ip": " 203.0.113.7 "}}}, "203.0.113.7"},
		{"flat dotted field", ip, Alert{Fields: map[string]any{"httpRequest.clientIp": "198.51.100.2"}}, "198.51.100.2"},
		{"first field wins", ip, Alert{QueryKey: map[string]string{"src_ip": "b"}, Fields: map[string]any{"source_ip": "a"}}, "a"},
		{"list has no single value", ip, Alert{Fields: map[string]any{"source_ip": []any{"a", "b"}, "src_ip": "c"}}, "c"},
		{"none", ip, Alert{Fields: map[string]any{"dest_ip": "10.0.0.1"}}, ""},
		{"alert's service", service, Alert{Service: "payments", QueryKey: map[string]string{"kubernetes.namespace_name": "other"}}, "payments"},
		{"namespace as service", service, Alert{QueryKey: map[string]string{"kubernetes.namespace_name": "payments"}}, "payments"},
		{"number", RelationKey{Name: "account", Fields: []string{"account"}}, Alert{Fields: map[string]any{"account": float64(123456789012)}}, "123456789012"},
		{"env", RelationKey{Name: "env", Fields: []string{"env"}}, Alert{Env: "prod"}, "prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.k.Value(&tc.a); got != tc.want {
				t.Errorf("Value = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCorrelationRulesLongestAndKeys(t *testing.T) {
	ip := RelationKey{Name: "source_ip", Fields: []string{"source_ip"}}
	svc := RelationKey{Name: "service", Fields: []string{"service"}}
	r := CorrelationRules{
		Pairs:  []PairRule{{Name: "p", Same: svc, Within: 10 * time.Minute}},
		Bursts: []BurstRule{{Name: "b", Within: 5 * time.Minute, Keys: []RelationKey{ip, svc}}},
	}
	if got := r.Longest(); got != 10*time.Minute {
		t.Errorf("Longest = %s, want 10m", got)
	}
	if got := r.Keys(); !reflect.DeepEqual(got, []RelationKey{svc, ip}) {
		t.Errorf("Keys = %+v, want service then source_ip, once each", got)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second:                "40s",
		59600 * time.Millisecond:        "1m",
		4*time.Minute + 10*time.Second:  "4m",
		-4 * time.Minute:                "4m",
		time.Hour + 5*time.Minute:       "1h5m",
		2 * time.Hour:                   "2h",
		0:                               "0s",
		9*time.Minute + 59*time.Second:  "10m",
		30*time.Minute + 29*time.Second: "30m",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
