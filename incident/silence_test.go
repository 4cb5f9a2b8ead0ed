package incident

import (
	"testing"
	"time"
)

func TestParseMatcher(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Matcher
	}{
		{"env=prod", Matcher{"env", MatchEqual, "prod"}},
		{"env!=prod", Matcher{"env", MatchNotEqual, "prod"}},
		{"rule=~ssh-.*", Matcher{"rule", MatchRegexp, "ssh-.*"}},
		{"rule!~ssh-.*", Matcher{"rule", MatchNotRegexp, "ssh-.*"}},
		{" service = db-1 ", Matcher{"service", MatchEqual, "db-1"}},
		{`comment="a b=c"`, Matcher{"comment", MatchEqual, "a b=c"}},
		{"team=", Matcher{"team", MatchEqual, ""}},
		{"severity=warning", Matcher{"severity", MatchEqual, "medium"}},
		{"severity!=CRIT", Matcher{"severity", MatchNotEqual, "critical"}},
		{"severity=~high|critical", Matcher{"severity", MatchRegexp, "high|critical"}},
		{"kubernetes.namespace_name=payments", Matcher{"kubernetes.namespace_name", MatchEqual, "payments"}},
	} {
		got, err := ParseMatcher(tc.in)
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseMatcher(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"env", `"env": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"env!prod", `"env!prod": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"", `"": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"=prod", `"=prod": empty name (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"rule=~ssh-(", "\"rule=~ssh-(\": bad regex: error parsing regexp: missing closing ): `ssh-(`"},
		{"rule!~[", "\"rule!~[\": bad regex: error parsing regexp: missing closing ]: `[`"},
		{"my env=prod", `"my env=prod": name "my env" has spaces`},
		{"severity=meh", `"severity=meh": unknown severity "meh" (want one of info, low, medium, high, critical)`},
		{`env="a\qb"`, `"env=\"a\\qb\"": bad quoted value "a\qb"`},
	} {
		_, err := ParseMatcher(tc.in)
		if err == nil {
			t.Errorf("ParseMatcher(%q): no error, want %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want || ErrorCode(err) != EINVALID {
			t.Errorf("ParseMatcher(%q) error\n got %s (%s)\nwant %s", tc.in, err, ErrorCode(err), tc.want)
		}
	}
}

func mustMatcher(t *testing.T, s string) Matcher {
	t.Helper()
	m, err := ParseMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatcherMatches(t *testing.T) {
	a := Alert{Source: "elastalert", Rule: "ssh-brute", Env: "prod", Service: "db-1", Category: "auth",
		QueryKey: map[string]string{"client_ip": "203.0.113.7", "kubernetes.namespace_name": "payments"}}
	for _, tc := range []struct {
		matcher string
		sev     Severity
		want    bool
	}{
		{"source=elastalert", SeverityHigh, true},
		{"rule=ssh-brute", SeverityHigh, true},
		{"env=prod", SeverityHigh, true},
		{"env=Prod", SeverityHigh, false}, // case-sensitive, as Alertmanager
		{"env!=prod", SeverityHigh, false},
		{"env!=staging", SeverityHigh, true},
		{"service=~db-.*", SeverityHigh, true},
		{"service=~db", SeverityHigh, false}, // anchored: a prefix is not a match
		{"rule=~brute", SeverityHigh, false},
		{"rule=~.*brute", SeverityHigh, true},
		{"rule=~ssh-brute|x", SeverityHigh, true}, // the alternation is grouped inside the anchors
		{"rule!~ssh-.*", SeverityHigh, false},
		{"rule!~web-.*", SeverityHigh, true},
		{"category=auth", SeverityHigh, true},
		{"severity=high", SeverityHigh, true},
		{"severity=error", SeverityHigh, true}, // the alias reads as high
		{"severity=high", SeverityCritical, false},
		{"severity=~high|critical", SeverityCritical, true},
		{"severity=", SeverityUnknown, true},
		{"client_ip=203.0.113.7", SeverityHigh, true},
		{"client_ip=~203\\.0\\.113\\..*", SeverityHigh, true},
		{"kubernetes.namespace_name=payments", SeverityHigh, true},
		{"team=", SeverityHigh, true}, // a missing key is the empty string
		{"team=sre", SeverityHigh, false},
		{"team!=sre", SeverityHigh, true},
		{"team=~.+", SeverityHigh, false},
	} {
		if got := mustMatcher(t, tc.matcher).Matches(a, tc.sev); got != tc.want {
			t.Errorf("%s on %s alert = %v, want %v", tc.matcher, tc.sev, got, tc.want)
		}
	}
	if (Matcher{Name: "rule", Op: MatchRegexp, Value: "("}).Matches(a, SeverityHigh) ||
		(Matcher{Name: "rule", Op: MatchNotRegexp, Value: "("}).Matches(a, SeverityHigh) ||
		(Matcher{Name: "rule", Op: "~", Value: "ssh-brute"}).Matches(a, SeverityHigh) {
		t.Error("a matcher that does not validate matched")
	}
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestSilenceValidateAndState(t *testing.T) {
	valid := func() Silence {
		return Silence{ID: "s1", Matchers: []Matcher{{"env", MatchEqual, "prod"}}, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "alice", CreatedAt: t0}
	}
	s := valid()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Silence)
		want string
	}{
		{"no matchers", func(s *Silence) { s.Matchers = nil }, "matchers: at least one (like env=prod); a silence without matchers would hold back everything"},
		{"bad matcher", func(s *Silence) { s.Matchers = append(s.Matchers, Matcher{"rule", MatchRegexp, "("}) },
			"matchers[1]: bad regex: error parsing regexp: missing closing ): `(`"},
		{"bad op", func(s *Silence) { s.Matchers[0].Op = "==" }, `matchers[0]: unknown operator "==" (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"no start", func(s *Silence) { s.StartsAt = time.Time{} }, "starts_at: required"},
		{"no end", func(s *Silence) { s.EndsAt = time.Time{} }, "ends_at: required"},
		{"end before start", func(s *Silence) { s.EndsAt = t0 }, "ends_at: 2026-12-01T12:00:00Z must be after starts_at 2026-12-01T12:00:00Z"},
		{"no author", func(s *Silence) { s.CreatedBy = "" }, "created_by: required"},
	} {
		s := valid()
		tc.edit(&s)
		if err := s.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}

	for _, tc := range []struct {
		at    time.Time
		state string
	}{
		{t0.Add(-time.Nanosecond), SilencePending},
		{t0, SilenceActive},
		{t0.Add(time.Hour - time.Nanosecond), SilenceActive},
		{t0.Add(time.Hour), SilenceExpired},
	} {
		if got := s.State(tc.at); got != tc.state || s.ActiveAt(tc.at) != (tc.state == SilenceActive) {
			t.Errorf("at %s: state %s (active %v), want %s", tc.at, got, s.ActiveAt(tc.at), tc.state)
		}
	}
	expired := valid()
	expired.ExpiredAt, expired.ExpiredBy = t0.Add(10*time.Minute), "bob"
	if expired.ActiveAt(t0.Add(20*time.Minute)) || expired.State(t0.Add(20*time.Minute)) != SilenceExpired {
		t.Error("a silence expired early is still active")
	}
	if !expired.EndedAt().Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("EndedAt = %s, want the expiry", expired.EndedAt())
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string][2]int{"22:00": {22, 0}, "7:05": {7, 5}, "00:00": {0, 0}, "23:59": {23, 59}} {
		h, m, err := ParseClock(in)
		if err != nil || h != want[0] || m != want[1] {
			t.Errorf("ParseClock(%q) = %d, %d, %v", in, h, m, err)
		}
	}
	for _, in := range []string{"24:00", "22", "22:60", "22:5", "+1:00", "-1:00", "ab:cd", "", "22:00:00"} {
		if _, _, err := ParseClock(in); err == nil || err.Error() != `"`+in+`" is not a time of day like 22:00 (HH:MM, 24-hour)` {
			t.Errorf("ParseClock(%q): %v", in, err)
		}
	}
}

func TestMaintenanceWindowActiveAt(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	every := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		w      MaintenanceWindow
		at     string
		active bool
		end    string
	}{
		// 2026-11-28 is a Saturday.
		{"sat night, before", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 3 * time.Hour}, "2026-11-28T22:59:59Z", false, ""},
		{"sat night, at start", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 3 * time.Hour}, "2026-11-28T23:00:00Z", true, "2026-11-29T02:00:00Z"},
		{"sat night, sunday 01:00", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 3 * time.Hour}, "2026-11-29T01:00:00Z", true, "2026-11-29T02:00:00Z"},
		{"sat night, at end", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 3 * time.Hour}, "2026-11-29T02:00:00Z", false, ""},
		{"sunday 23:30 does not start", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 3 * time.Hour}, "2026-11-29T23:30:00Z", false, ""},
		{"weekend, two days in", MaintenanceWindow{Days: []time.Weekday{time.Friday}, Start: "22:00", Duration: 56 * time.Hour}, "2026-11-29T21:00:00Z", true, "2026-11-30T06:00:00Z"},
		{"week-long, last minute", MaintenanceWindow{Days: []time.Weekday{time.Monday}, Start: "00:00", Duration: MaxWindowDuration}, "2026-12-06T23:59:00Z", true, "2026-12-07T00:00:00Z"},
		{"daily, overlaps pick the later end", MaintenanceWindow{Days: every, Start: "12:00", Duration: 30 * time.Hour}, "2026-12-02T13:00:00Z", true, "2026-12-03T18:00:00Z"},
		// 22:00 Berlin is 20:00 UTC in summer and 21:00 UTC in winter.
		{"berlin summer", MaintenanceWindow{Days: every, Start: "22:00", Duration: 2 * time.Hour, Location: berlin}, "2026-07-01T20:30:00Z", true, "2026-07-01T22:00:00Z"},
		{"berlin winter, UTC 20:30 is 21:30 local", MaintenanceWindow{Days: every, Start: "22:00", Duration: 2 * time.Hour, Location: berlin}, "2026-01-15T20:30:00Z", false, ""},
		{"berlin winter", MaintenanceWindow{Days: every, Start: "22:00", Duration: 2 * time.Hour, Location: berlin}, "2026-01-15T21:30:00Z", true, "2026-01-15T23:00:00Z"},
		{"berlin weekday is local", MaintenanceWindow{Days: []time.Weekday{time.Sunday}, Start: "00:30", Duration: time.Hour, Location: berlin}, "2026-11-28T23:45:00Z", true, "2026-11-29T00:30:00Z"},
		// DST ends 2026-10-25 03:00 CEST → 02:00 CET: Sat 23:00 CEST is 21:00 UTC, and 5h of elapsed time end at 02:00 UTC.
		{"across fall-back", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 5 * time.Hour, Location: berlin}, "2026-10-25T01:30:00Z", true, "2026-10-25T02:00:00Z"},
		{"after fall-back", MaintenanceWindow{Days: []time.Weekday{time.Saturday}, Start: "23:00", Duration: 5 * time.Hour, Location: berlin}, "2026-10-25T02:00:00Z", false, ""},
		// DST starts 2026-03-29 02:00 CET → 03:00 CEST: 01:00 CET is 00:00 UTC.
		{"across spring-forward", MaintenanceWindow{Days: []time.Weekday{time.Sunday}, Start: "01:00", Duration: 3 * time.Hour, Location: berlin}, "2026-03-29T02:30:00Z", true, "2026-03-29T03:00:00Z"},
		{"next day after spring-forward", MaintenanceWindow{Days: every, Start: "01:00", Duration: time.Hour, Location: berlin}, "2026-03-30T00:30:00Z", false, ""},
		{"next day after spring-forward, CEST", MaintenanceWindow{Days: every, Start: "01:00", Duration: time.Hour, Location: berlin}, "2026-03-29T23:30:00Z", true, "2026-03-30T00:00:00Z"},
		{"bad start never opens", MaintenanceWindow{Days: every, Start: "25:00", Duration: time.Hour}, "2026-12-01T01:00:00Z", false, ""},
	} {
		end, ok := tc.w.ActiveAt(utc(tc.at))
		if ok != tc.active {
			t.Errorf("%s: active %v at %s, want %v", tc.name, ok, tc.at, tc.active)
			continue
		}
		if ok && !end.Equal(utc(tc.end)) {
			t.Errorf("%s: ends %s, want %s", tc.name, end.UTC().Format(time.RFC3339), tc.end)
		}
	}
}

func TestMaintenanceWindowValidate(t *testing.T) {
	valid := func() MaintenanceWindow {
		return MaintenanceWindow{Name: "nightly", Days: []time.Weekday{time.Saturday}, Start: "22:00", Duration: 2 * time.Hour,
			Matchers: []Matcher{{"env", MatchEqual, "prod"}}}
	}
	w := valid()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*MaintenanceWindow)
		want string
	}{
		{"name", func(w *MaintenanceWindow) { w.Name = " " }, "name: required"},
		{"days", func(w *MaintenanceWindow) { w.Days = nil }, "days: required (like [mon, tue] or [saturday])"},
		{"day", func(w *MaintenanceWindow) { w.Days = []time.Weekday{7} }, "days[0]: not a weekday (7)"},
		{"no start", func(w *MaintenanceWindow) { w.Start = "" }, "start: required (HH:MM, like 22:00)"},
		{"start", func(w *MaintenanceWindow) { w.Start = "10pm" }, `start: "10pm" is not a time of day like 22:00 (HH:MM, 24-hour)`},
		{"zero duration", func(w *MaintenanceWindow) { w.Duration = 0 }, "duration: must be positive, got 0s"},
		{"long duration", func(w *MaintenanceWindow) { w.Duration = 169 * time.Hour }, "duration: at most 7 days (168h), got 169h0m0s"},
		{"no match", func(w *MaintenanceWindow) { w.Matchers = nil }, `match: at least one matcher (like "env=prod"); a window without matchers would hold back everything`},
		{"bad match", func(w *MaintenanceWindow) { w.Matchers[0].Name = "" }, "match[0]: empty name (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)"},
	} {
		w := valid()
		tc.edit(&w)
		if err := w.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestMatchSilence(t *testing.T) {
	a := Alert{Source: "cloudwatch", Rule: "db-cpu", Env: "prod", Service: "db-1"}
	env := []Matcher{{"env", MatchEqual, "prod"}}
	svc := []Matcher{{"service", MatchRegexp, "db-.*"}}
	other := []Matcher{{"env", MatchEqual, "staging"}}
	sil := func(id string, ms []Matcher, start, end time.Duration) Silence {
		return Silence{ID: id, Matchers: ms, StartsAt: t0.Add(start), EndsAt: t0.Add(end), Comment: "why " + id, CreatedBy: "x"}
	}
	expired := sil("expired", env, -time.Hour, 5*time.Hour)
	expired.ExpiredAt = t0.Add(-time.Minute)
	// t0 is a Tuesday, 12:00 UTC.
	window := MaintenanceWindow{Name: "patch-tuesday", Days: []time.Weekday{time.Tuesday}, Start: "11:00", Duration: 4 * time.Hour, Matchers: svc}
	closed := MaintenanceWindow{Name: "nightly", Days: []time.Weekday{time.Tuesday}, Start: "22:00", Duration: 10 * time.Hour, Matchers: env}

	for _, tc := range []struct {
		name     string
		silences []Silence
		windows  []MaintenanceWindow
		want     SilenceMatch
		ok       bool
	}{
		{"none", nil, nil, SilenceMatch{}, false},
		{"one active", []Silence{sil("s1", env, -time.Hour, time.Hour)}, nil,
			SilenceMatch{Kind: SilenceKindSilence, ID: "s1", Until: t0.Add(time.Hour), Comment: "why s1"}, true},
		{"the one ending last wins", []Silence{sil("s1", env, -time.Hour, time.Hour), sil("s2", svc, -time.Hour, 3*time.Hour), sil("s3", env, -time.Hour, 2*time.Hour)}, nil,
			SilenceMatch{Kind: SilenceKindSilence, ID: "s2", Until: t0.Add(3 * time.Hour), Comment: "why s2"}, true},
		{"pending, ended, expired and other alerts do not count",
			[]Silence{sil("pending", env, time.Minute, 9*time.Hour), sil("ended", env, -2*time.Hour, 0), expired, sil("other", other, -time.Hour, 9*time.Hour)}, nil,
			SilenceMatch{}, false},
		{"a window", nil, []MaintenanceWindow{closed, window},
			SilenceMatch{Kind: SilenceKindMaintenance, ID: "maintenance:patch-tuesday", Until: t0.Add(3 * time.Hour), Comment: "maintenance window patch-tuesday"}, true},
		{"a window ending later than the silence", []Silence{sil("s1", env, -time.Hour, time.Hour)}, []MaintenanceWindow{window},
			SilenceMatch{Kind: SilenceKindMaintenance, ID: "maintenance:patch-tuesday", Until: t0.Add(3 * time.Hour), Comment: "maintenance window patch-tuesday"}, true},
		{"a silence ending with the window wins the tie", []Silence{sil("s1", env, -time.Hour, 3*time.Hour)}, []MaintenanceWindow{window},
			SilenceMatch{Kind: SilenceKindSilence, ID: "s1", Until: t0.Add(3 * time.Hour), Comment: "why s1"}, true},
		{"no matchers match nothing", []Silence{sil("empty", nil, -time.Hour, time.Hour)}, nil, SilenceMatch{}, false},
	} {
		got, ok := MatchSilence(tc.silences, tc.windows, a, SeverityHigh, t0)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// The Slack button's silence matches alerts like the incident's, and only those.
func TestMatchersForSilencesAlertsLikeIt(t *testing.T) {
	a := Alert{Source: "rules", Rule: "login failures", Env: "prod", QueryKey: map[string]string{"client.ip": "203.0.113.9", "user": `o"brien=x`}}
	var ms []Matcher
	for _, s := range MatchersFor(a) {
		m, err := ParseMatcher(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		ms = append(ms, m)
	}
	sil := Silence{ID: "s", Matchers: ms}
	if !sil.Matches(a, SeverityHigh) {
		t.Errorf("silence %v does not match the alert it was made from", ms)
	}
	other := a
	other.QueryKey = map[string]string{"client.ip": "203.0.113.10", "user": `o"brien=x`}
	if sil.Matches(other, SeverityHigh) {
		t.Error("silence matches another client IP")
	}
	other = a
	other.Env = "staging"
	if sil.Matches(other, SeverityHigh) {
		t.Error("silence matches another env")
	}
}
