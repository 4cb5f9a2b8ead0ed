package rules

import (
	"testing"
	"time"
)

// slack_channel_override is honoured: the rule's alerts carry the channel,
// which the notifier puts ahead of the configured routes.
func TestMatchAlertCarriesTheChannelOverride(t *testing.T) {
	r := MustParse(t, "name: waf burst\ntype: any\nindex: waf-logs-*\nslack_channel_override: \"#waf-alerts\"\n")
	a := MatchAlert(r, Match{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)})
	if a.Channel != "#waf-alerts" {
		t.Fatalf("alert channel = %q, want #waf-alerts", a.Channel)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a := MatchAlert(MustParse(t, "name: plain\ntype: any\nindex: i\n"), Match{}); a.Channel != "" {
		t.Fatalf("a rule without an override set channel %q", a.Channel)
	}
}
