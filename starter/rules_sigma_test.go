package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRulesSigmaShow(t *testing.T) {
	out, _, err := runLogs(t, "rules", "sigma", "show", "../deploy/rules/sigma/waf-sqli-blocked-external.yml")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rule, Index, Severity string
		Query                 map[string]any
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	q, _ := json.Marshal(got.Query)
	const want = `{"bool":{"filter":[{"bool":{"filter":[{"term":{"action":{"case_insensitive":true,"value":"BLOCK"}}},` +
		`{"wildcard":{"terminatingRuleId":{"case_insensitive":true,"value":"AWS-AWSManagedRulesSQLiRuleSet*"}}}]}},` +
		`{"bool":{"must_not":[{"wildcard":{"httpRequest.clientIp":{"value":"10.*"}}}]}}]}}`
	if got.Rule != "waf-sqli-blocked-external" || got.Index != "waf-logs-*" || got.Severity != "high" || string(q) != want {
		t.Errorf("got %s %s %s\n%s\nwant query %s", got.Rule, got.Index, got.Severity, q, want)
	}

	_, _, err = runLogs(t, "rules", "sigma", "show", "../deploy/rules/waf-sqli-burst.yaml")
	if err == nil || !strings.Contains(err.Error(), "waf-sqli-burst.yaml:1: rule: not a Sigma rule") {
		t.Errorf("an ElastAlert2 rule: %v", err)
	}
}

func TestRulesSigmaShowCorrelation(t *testing.T) {
	out, _, err := runLogs(t, "rules", "sigma", "show", "../deploy/rules/sigma/waf-sqli-blocked-burst.yml")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rule, Index, Severity, Type, Timeframe string
		QueryKey                               []string `json:"query_key"`
		NumEvents                              int      `json:"num_events"`
		Query                                  map[string]any
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Rule != "waf-sqli-blocked-burst" || got.Index != "waf-logs-*" || got.Severity != "critical" || got.Type != "frequency" ||
		got.Timeframe != "5m0s" || strings.Join(got.QueryKey, ",") != "httpRequest.clientIp" || got.NumEvents != 5 || got.Query["bool"] == nil {
		t.Errorf("printed:\n%s", out)
	}
}

func TestRulesValidateSigma(t *testing.T) {
	out, _, err := runLogs(t, "rules", "validate", "../deploy/rules/sigma")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ok ../deploy/rules/sigma/aws-root-credentials.yml (aws-root-credentials, any)") {
		t.Errorf("validate printed:\n%s", out)
	}
}
