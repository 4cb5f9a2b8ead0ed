package incident

import (
	"fmt"
	"strings"
)

// Status is where an incident is in its life.
type Status string

const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusSnoozed      Status = "snoozed"
	StatusResolved     Status = "resolved"
)

// Statuses lists every valid status.
var Statuses = []Status{StatusOpen, StatusAcknowledged, StatusSnoozed, StatusResolved}

// ParseStatus accepts a status name in any case, and "acked" for acknowledged.
func ParseStatus(s string) (Status, error) {
	switch v := Status(strings.ToLower(strings.TrimSpace(s))); v {
	case StatusOpen, StatusAcknowledged, StatusSnoozed, StatusResolved:
		return v, nil
	case "acked", "ack":
		return StatusAcknowledged, nil
	}
	return "", fmt.Errorf("unknown status %q (want one of open, acknowledged, snoozed, resolved)", s)
}

// Active reports whether the incident still needs a person: not resolved.
func (s Status) Active() bool { return s != StatusResolved }
