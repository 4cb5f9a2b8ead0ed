package incident

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFingerprintIsStableAndDocumented(t *testing.T) {
	base := Alert{Source: "elastalert", Rule: "5xx spike", Env: "prod", QueryKey: map[string]string{"ns": "payments", "route": "/pay"}}
	// Pinned (and computed independently from the documented recipe): changing it splits every open incident in two. Bump FingerprintVersion instead.
	if got, want := Fingerprint(base), "9db0276f7c0c17f0c1d861072ffb6837"; got != want {
		t.Errorf("Fingerprint(base) = %s, want %s", got, want)
	}
	same := []Alert{
		{Source: " ElastAlert ", Rule: "5XX Spike", Env: "PROD", QueryKey: map[string]string{"route": "/pay", "ns": "payments"}},
		func() Alert {
			a := base
			a.Severity = SeverityCritical
			a.Title = "other words"
			a.Time = time.Now()
			return a
		}(),
		func() Alert { a := base; a.Fields = map[string]any{"num_hits": 9}; return a }(),
	}
	for i, a := range same {
		if Fingerprint(a) != Fingerprint(base) {
			t.Errorf("same[%d] has a different fingerprint", i)
		}
	}
	different := []Alert{
		func() Alert { a := base; a.Source = "alertmanager"; return a }(),
		func() Alert { a := base; a.Rule = "4xx spike"; return a }(),
		func() Alert { a := base; a.Env = "staging"; return a }(),
		func() Alert { a := base; a.QueryKey = map[string]string{"ns": "checkout", "route": "/pay"}; return a }(),
		func() Alert { a := base; a.QueryKey = map[string]string{"ns": "Payments", "route": "/pay"}; return a }(),
		func() Alert { a := base; a.ExternalID = "am-123"; return a }(),
		// Separators cannot be forged by moving text between fields.
		{Source: "elastalert", Rule: "5xx spike\x00prod", QueryKey: base.QueryKey},
	}
	for i, a := range different {
		if Fingerprint(a) == Fingerprint(base) {
			t.Errorf("different[%d] collides with base", i)
		}
	}
	if id := ID(Fingerprint(base)); !strings.HasPrefix(id, "incident-") || len(id) != len("incident-")+32 {
		t.Errorf("ID = %s", id)
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Severity
		emoji string
	}{
		{"critical", SeverityCritical, "🔥"}, {"HIGH", SeverityHigh, "🚨"}, {"warning", SeverityMedium, "⚠️"},
		{"low", SeverityLow, "ℹ️"}, {"info", SeverityInfo, "💬"}, {"page", SeverityHigh, "🚨"},
	} {
		got, err := ParseSeverity(tc.in)
		if err != nil || got != tc.want || got.Emoji() != tc.emoji {
			t.Errorf("ParseSeverity(%q) = %v %s, %v; want %v %s", tc.in, got, got.Emoji(), err, tc.want, tc.emoji)
		}
	}
	if _, err := ParseSeverity("sev1"); err == nil || err.Error() != `unknown severity "sev1" (want one of info, low, medium, high, critical)` {
		t.Errorf("err = %v", err)
	}
	if !(SeverityCritical > SeverityHigh && SeverityHigh > SeverityMedium && SeverityLow > SeverityInfo) {
		t.Error("severities are not ordered")
	}
}

func TestStatus(t *testing.T) {
	for in, want := range map[string]Status{"open": StatusOpen, "Acked": StatusAcknowledged, "snoozed": StatusSnoozed, "resolved": StatusResolved} {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseStatus("closed"); err == nil {
		t.Error("closed accepted")
	}
	if StatusResolved.Active() || !StatusSnoozed.Active() {
		t.Error("Active is wrong")
	}
}

func TestDecodeAlertsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, "body: empty, want an alert object or an array of alerts"},
		{`"x"`, "body: want an alert object or an array of alerts"},
		{`[]`, "alerts: empty array"},
		{`{"source":"x"}`, "rule: required"},
		{`{"rule":"x"}`, "source: required"},
		{`{"source":"x","rule":"y","rulle":"z"}`, "rulle: unknown field"},
		{`[{"source":"x","rule":"y"},{"source":"x","rule":"y"},{"source":"x","rule":"y"},{"source":"x"}]`, "alerts[3].rule: required"},
		{`{"source":"x","rule":"y","severity":"sev1"}`, `severity: unknown severity "sev1"`},
		{`{"source":"x","rule":"y","occurrences":3}`, "occurrences: unknown field"},
		{`{"source":"x","rule":"y","channel":"WAF Alerts"}`, `channel: "WAF Alerts" is not a Slack channel name`},
		{`{"source":"x","rule":"y","query_key":{"a":1}}`, "query_key: want string, got number"},
		{`{"source":"x","rule":"y","links":[{"title":"t","url":"javascript:alert(1)"}]}`, "links[0].url: must be an http or https URL"},
		{`{"source":"x","rule":"bad\nname"}`, `rule: "bad\nname" has characters outside`},
		{`{"source":"x","rule":"y"`, "body: malformed JSON"},
	} {
		_, _, _, err := DecodeAlerts([]byte(tc.body), DecodeOptions{})
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		if ErrorCode(err) != EINVALID || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v (%s)\nwant %s", tc.body, err, ErrorCode(err), tc.want)
		}
	}
	alerts, _, _, err := DecodeAlerts([]byte(`[{"source":"a","rule":"b","severity":"high","query_key":{"ip":"203.0.113.7"}},{"source":"c","rule":"d"}]`), DecodeOptions{})
	if err != nil || len(alerts) != 2 || alerts[0].Severity != SeverityHigh || alerts[0].QueryKey["ip"] != "203.0.113.7" {
		t.Fatalf("valid array: %+v, %v", alerts, err)
	}
}

func TestMTTAAndMTTR(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	inc := Incident{OpenedAt: t0}
	if _, ok := inc.MTTA(); ok {
		t.Error("MTTA before anything happened")
	}
	inc.AcknowledgedAt = t0.Add(4 * time.Minute)
	inc.ResolvedAt = t0.Add(30 * time.Minute)
	if d, _ := inc.MTTA(); d != 4*time.Minute {
		t.Errorf("MTTA = %s", d)
	}
	if d, _ := inc.MTTR(); d != 30*time.Minute {
		t.Errorf("MTTR = %s", d)
	}
	// Resolved without an ack: acknowledgement time is resolution time.
	inc2 := Incident{OpenedAt: t0, ResolvedAt: t0.Add(10 * time.Minute)}
	if d, ok := inc2.MTTA(); !ok || d != 10*time.Minute {
		t.Errorf("MTTA without ack = %s %v", d, ok)
	}
}

func TestPolicyValidate(t *testing.T) {
	ok := DefaultPolicy()
	ok.Escalation.Levels = []EscalationLevel{{After: time.Minute, Targets: []Target{{UserGroup: "S1"}}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Policy)
		want string
	}{
		{func(p *Policy) { p.Escalation.Levels[0].After = 0 }, "escalation.levels[0].after: must be positive, got 0s"},
		{func(p *Policy) { p.Escalation.Levels[0].Targets = nil }, "escalation.levels[0].targets: at least one target required"},
		{func(p *Policy) { p.Escalation.Levels[0].Targets = []Target{{}} }, "escalation.levels[0].targets[0]: set channel, user_group, users or sns_topic"},
		{func(p *Policy) { p.RescanInterval = time.Millisecond }, "rescan_interval: must be at least 1s, got 1ms"},
		{func(p *Policy) { p.CleanScansToResolve = -1 }, "clean_scans_to_resolve: must not be negative"},
		{func(p *Policy) { p.MaxSignalsPerRun = 5000 }, "max_signals_per_run: must be between 10 and 1900, got 5000"},
	} {
		p := ok
		p.Escalation.Levels = []EscalationLevel{{After: time.Minute, Targets: []Target{{UserGroup: "S1"}}}}
		tc.edit(&p)
		if err := p.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %s", err, tc.want)
		}
	}
}

func TestNormalizeIDAndErrors(t *testing.T) {
	for in, want := range map[string]string{"abc": "incident-abc", "incident-abc": "incident-abc", " abc ": "incident-abc"} {
		if got, err := NormalizeID(in); err != nil || got != want {
			t.Errorf("NormalizeID(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := NormalizeID(""); ErrorCode(err) != EINVALID {
		t.Errorf("empty id: %v", err)
	}
	wrapped := errors.Join(errors.New("ctx"), Errorf(ENOTFOUND, "no incident x"))
	if ErrorCode(wrapped) != ENOTFOUND || ErrorMessage(wrapped) != "no incident x" {
		t.Error("codes are not found through wrapping")
	}
	if ErrorCode(errors.New("boom")) != EINTERNAL || ErrorMessage(errors.New("boom")) != "internal error" {
		t.Error("plain errors must not leak")
	}
}

// Truncate keeps within the byte limit and never splits a rune.
func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 6, "é…"}, // 10 bytes; a cut inside the second é backs off
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q (%d bytes), want %q", tc.in, tc.n, got, len(got), tc.want)
		}
	}
}
