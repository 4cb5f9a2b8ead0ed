package incident

import "fmt"

// ClassifyInput is everything an incident's severity depends on.
type ClassifyInput struct {
	// Alert is the severity the alerts gave: the rule's priority, or the
	// highest any occurrence said. Unknown counts as medium.
	Alert Severity
	// Enrichment is the incident's context; any threat-intel hit raises the
	// alert's severity one level. Nil raises nothing.
	Enrichment *Enrichment
	// Floors are what the correlator said, in the order it said it: the
	// incident is at least each one's severity.
	Floors []SeverityFloor
}

// SeverityFloor is a severity an incident may not be below, and why: a
// correlation ("WAF blocks (incident-a) and 5xx (incident-b) on service
// payments within 4m").
type SeverityFloor struct {
	Severity Severity `json:"severity"`
	Reason   string   `json:"reason"`
}

// Classify is the one place an incident's severity is decided:
//
//  1. the alert's severity (the rule's priority); unknown is medium;
//  2. a threat-intel hit in the enrichment raises that one level, at most
//     to critical ("raised to high: 203.0.113.7 on threat list tor-exits");
//  3. each correlation's severity is a floor, applied in order
//     ("raised to critical: WAF blocks (...) and 5xx (...) on service
//     payments within 4m").
//
// The result never goes below the alert's severity. Intel raises the alert's
// severity, not a correlation's floor, so the answer does not depend on
// which of the two arrived first. Reasons explain each raise, in order: the
// last one says why the severity is what it is. The incident workflow calls
// Classify whenever enrichment or a correlation arrives and records the
// reasons when the severity changes.
func Classify(in ClassifyInput) (Severity, []string) {
	sev := in.Alert
	if !sev.Valid() {
		sev = SeverityMedium
	}
	var reasons []string
	if e := in.Enrichment; e != nil && len(e.ThreatIntel) > 0 && sev < SeverityCritical {
		sev++
		h := e.ThreatIntel[0]
		reason := fmt.Sprintf("raised to %s: %s on threat list %s", sev, h.Indicator, h.Source)
		if more := len(e.ThreatIntel) - 1; more > 0 {
			reason += fmt.Sprintf(" (and %d more)", more)
		}
		reasons = append(reasons, reason)
	}
	for _, f := range in.Floors {
		if f.Severity.Valid() && f.Severity > sev {
			sev = f.Severity
			reasons = append(reasons, fmt.Sprintf("raised to %s: %s", sev, f.Reason))
		}
	}
	return sev, reasons
}
