package incident

import (
	"fmt"
	"strings"
	"time"
)

// EscalationPolicy is who gets told, and when, while nobody acknowledges.
// Level i fires Levels[i].After after level i-1 (level 0: after the incident opens),
// unless the incident is acknowledged, snoozed or resolved first.
type EscalationPolicy struct {
	Levels []EscalationLevel `json:"levels" yaml:"levels"`
}

// EscalationLevel is one step of a policy.
type EscalationLevel struct {
	After   time.Duration `json:"after" yaml:"after"`
	Targets []Target      `json:"targets" yaml:"targets"`
}

// Target is someone to tell: a channel, a user group or users to mention, or an SNS topic to page.
type Target struct {
	Channel   string   `json:"channel,omitempty" yaml:"channel"`
	UserGroup string   `json:"user_group,omitempty" yaml:"user_group"`
	Users     []string `json:"users,omitempty" yaml:"users"`
	SNSTopic  string   `json:"sns_topic,omitempty" yaml:"sns_topic"`
}

func (t Target) String() string {
	var parts []string
	if t.Channel != "" {
		parts = append(parts, t.Channel)
	}
	if t.UserGroup != "" {
		parts = append(parts, "@"+strings.TrimPrefix(t.UserGroup, "@"))
	}
	for _, u := range t.Users {
		parts = append(parts, "@"+strings.TrimPrefix(u, "@"))
	}
	if t.SNSTopic != "" {
		parts = append(parts, "sns:"+t.SNSTopic)
	}
	return strings.Join(parts, " ")
}

// Validate checks every level, naming the field: "levels[1].after: must be positive".
func (p EscalationPolicy) Validate() error {
	for i, l := range p.Levels {
		if l.After <= 0 {
			return Errorf(EINVALID, "levels[%d].after: must be positive, got %s", i, l.After)
		}
		if len(l.Targets) == 0 {
			return Errorf(EINVALID, "levels[%d].targets: at least one target required", i)
		}
		for j, t := range l.Targets {
			if t.Channel == "" && t.UserGroup == "" && len(t.Users) == 0 && t.SNSTopic == "" {
				return Errorf(EINVALID, "levels[%d].targets[%d]: set channel, user_group, users or sns_topic", i, j)
			}
			if t.SNSTopic != "" && !strings.HasPrefix(t.SNSTopic, "arn:") {
				return Errorf(EINVALID, "levels[%d].targets[%d].sns_topic: %q is not an ARN", i, j, t.SNSTopic)
			}
		}
	}
	return nil
}

// Describe is a one-line summary of a level for timelines and notifications.
func (l EscalationLevel) Describe(n int) string {
	targets := make([]string, len(l.Targets))
	for i, t := range l.Targets {
		targets[i] = t.String()
	}
	return fmt.Sprintf("level %d: %s", n+1, strings.Join(targets, ", "))
}
