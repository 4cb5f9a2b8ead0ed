package incident

import (
	"fmt"
	"strings"
)

// Severity orders how urgent an incident is. The zero value is SeverityUnknown.
type Severity int

const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"", "info", "low", "medium", "high", "critical"}

// Severities lists every valid severity from least to most urgent.
var Severities = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// ParseSeverity accepts a severity name in any case, plus the common aliases
// alerting tools send (warning, error, page, ...).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "info", "informational", "notice", "none":
		return SeverityInfo, nil
	case "low", "minor":
		return SeverityLow, nil
	case "medium", "warning", "warn", "moderate":
		return SeverityMedium, nil
	case "high", "error", "major", "page":
		return SeverityHigh, nil
	case "critical", "crit", "fatal", "emergency":
		return SeverityCritical, nil
	}
	return SeverityUnknown, &SeverityError{Value: s}
}

// SeverityError reports a severity name ParseSeverity does not know.
type SeverityError struct{ Value string }

func (e *SeverityError) Error() string {
	return fmt.Sprintf("unknown severity %q (want one of info, low, medium, high, critical)", e.Value)
}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s >= SeverityInfo && s <= SeverityCritical }

// Emoji is the marker Slack and the console put in front of an incident title.
func (s Severity) Emoji() string {
	switch s {
	case SeverityCritical:
		return "🔥"
	case SeverityHigh:
		return "🚨"
	case SeverityMedium:
		return "⚠️"
	case SeverityLow:
		return "ℹ️"
	case SeverityInfo:
		return "💬"
	}
	return "❔"
}

func (s Severity) MarshalText() ([]byte, error) {
	if s == SeverityUnknown {
		return []byte(""), nil
	}
	return []byte(s.String()), nil
}

func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = SeverityUnknown
		return nil
	}
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverityMatch reads a route's severity condition: a name ("high") or
// a floor (">=high").
func ParseSeverityMatch(s string) (sev Severity, atLeast bool, err error) {
	name, atLeast := strings.CutPrefix(strings.TrimSpace(s), ">=")
	sev, err = ParseSeverity(name)
	return sev, atLeast, err
}
