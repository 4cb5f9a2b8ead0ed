package incident

import (
	"reflect"
	"testing"
)

func TestClassify(t *testing.T) {
	intel := &Enrichment{ThreatIntel: []ThreatHit{{Indicator: "203.0.113.7", Match: "203.0.113.0/24", Source: "tor-exits"}}}
	twoHits := &Enrichment{ThreatIntel: []ThreatHit{
		{Indicator: "203.0.113.7", Source: "tor-exits"}, {Indicator: "evil.example", Source: "phishing"},
	}}
	geoOnly := &Enrichment{Geo: []IPGeo{{IP: "203.0.113.7", CountryISO: "NL"}}, Owner: &Owner{Team: "payments"}}
	waf := SeverityFloor{Severity: SeverityCritical, Reason: "WAF blocks (incident-a) and 5xx (incident-b) on service payments within 4m"}
	burst := SeverityFloor{Severity: SeverityHigh, Reason: "3 related incidents: source_ip=203.0.113.7"}
	for _, tc := range []struct {
		name    string
		in      ClassifyInput
		want    Severity
		reasons []string
	}{
		{"rule priority as is", ClassifyInput{Alert: SeverityLow}, SeverityLow, nil},
		{"unknown is medium", ClassifyInput{}, SeverityMedium, nil},
		{"out of range is medium", ClassifyInput{Alert: Severity(9)}, SeverityMedium, nil},
		{"enrichment without intel raises nothing", ClassifyInput{Alert: SeverityLow, Enrichment: geoOnly}, SeverityLow, nil},
		{"intel raises one level", ClassifyInput{Alert: SeverityMedium, Enrichment: intel}, SeverityHigh,
			[]string{"raised to high: 203.0.113.7 on threat list tor-exits"}},
		{"intel on unknown raises medium", ClassifyInput{Enrichment: intel}, SeverityHigh,
			[]string{"raised to high: 203.0.113.7 on threat list tor-exits"}},
		{"several hits raise one level", ClassifyInput{Alert: SeverityHigh, Enrichment: twoHits}, SeverityCritical,
			[]string{"raised to critical: 203.0.113.7 on threat list tor-exits (and 1 more)"}},
		{"intel stops at critical", ClassifyInput{Alert: SeverityCritical, Enrichment: intel}, SeverityCritical, nil},
		{"correlation is a floor", ClassifyInput{Alert: SeverityMedium, Floors: []SeverityFloor{waf}}, SeverityCritical,
			[]string{"raised to critical: WAF blocks (incident-a) and 5xx (incident-b) on service payments within 4m"}},
		{"a floor below says nothing", ClassifyInput{Alert: SeverityCritical, Floors: []SeverityFloor{burst}}, SeverityCritical, nil},
		{"a floor never lowers", ClassifyInput{Alert: SeverityHigh, Floors: []SeverityFloor{{Severity: SeverityLow, Reason: "x"}}}, SeverityHigh, nil},
		{"unknown floor is ignored", ClassifyInput{Alert: SeverityLow, Floors: []SeverityFloor{{Reason: "no severity"}}}, SeverityLow, nil},
		{"floors in order", ClassifyInput{Alert: SeverityLow, Floors: []SeverityFloor{burst, waf}}, SeverityCritical,
			[]string{"raised to high: 3 related incidents: source_ip=203.0.113.7", "raised to critical: WAF blocks (incident-a) and 5xx (incident-b) on service payments within 4m"}},
		// Intel raises the rule's severity, not the floor: the order the two
		// arrived in does not matter.
		{"intel under a floor", ClassifyInput{Alert: SeverityMedium, Enrichment: intel, Floors: []SeverityFloor{burst}}, SeverityHigh,
			[]string{"raised to high: 203.0.113.7 on threat list tor-exits"}},
		{"intel then a higher floor", ClassifyInput{Alert: SeverityMedium, Enrichment: intel, Floors: []SeverityFloor{waf}}, SeverityCritical,
			[]string{"raised to high: 203.0.113.7 on threat list tor-exits", "raised to critical: WAF blocks (incident-a) and 5xx (incident-b) on service payments within 4m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reasons := Classify(tc.in)
			if got != tc.want || !reflect.DeepEqual(reasons, tc.reasons) {
				t.Errorf("Classify = %s, %q\nwant %s, %q", got, reasons, tc.want, tc.reasons)
			}
		})
	}
}
