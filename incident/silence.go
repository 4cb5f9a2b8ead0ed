package incident

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Matcher operators, spelled as in Alertmanager.
const (
	MatchEqual     = "="
	MatchNotEqual  = "!="
	MatchRegexp    = "=~"
	MatchNotRegexp = "!~"
)

// Matcher selects alerts by one label, as an Alertmanager matcher does. The
// names source, rule, env, service, category and severity read the alert's
// own fields (severity by name: info ... critical); any other name reads its
// query_key value. A label the alert lacks is the empty string, so
// "team=" matches alerts without a team and "env!=prod" alerts without an env.
// Regexes are anchored at both ends: "rule=~ssh-.*" matches "ssh-brute", not
// "old-ssh-brute".
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// matcherHint is what every matcher syntax error suggests.
const matcherHint = "(want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)"

// ParseMatcher reads "env=prod", "env!=prod", "rule=~ssh-.*" or
// "rule!~ssh-.*". The value may be double-quoted ("comment=\"a b\"").
// Errors name the matcher as given; callers prefix the field
// ("match[1]: ...").
func ParseMatcher(s string) (Matcher, error) {
	i := strings.IndexAny(s, "=!")
	var op string
	switch {
	case i < 0:
	case strings.HasPrefix(s[i:], MatchRegexp):
		op = MatchRegexp
	case strings.HasPrefix(s[i:], MatchNotEqual):
		op = MatchNotEqual
	case strings.HasPrefix(s[i:], MatchNotRegexp):
		op = MatchNotRegexp
	case s[i] == '=':
		op = MatchEqual
	}
	if op == "" {
		return Matcher{}, Errorf(EINVALID, "%q: no operator %s", s, matcherHint)
	}
	m := Matcher{Name: strings.TrimSpace(s[:i]), Op: op, Value: strings.TrimSpace(s[i+len(op):])}
	if len(m.Value) >= 2 && m.Value[0] == '"' && m.Value[len(m.Value)-1] == '"' {
		v, err := strconv.Unquote(m.Value)
		if err != nil {
			return Matcher{}, Errorf(EINVALID, "%q: bad quoted value %s", s, m.Value)
		}
		m.Value = v
	}
	// Aliases people type (severity=warning) become the name irflow stores.
	if m.Name == "severity" && (op == MatchEqual || op == MatchNotEqual) && m.Value != "" {
		sev, err := ParseSeverity(m.Value)
		if err != nil {
			return Matcher{}, Errorf(EINVALID, "%q: %v", s, err)
		}
		m.Value = sev.String()
	}
	if err := m.Validate(); err != nil {
		return Matcher{}, Errorf(EINVALID, "%q: %s", s, ErrorMessage(err))
	}
	return m, nil
}

// Validate checks a matcher built without ParseMatcher (one decoded from JSON).
func (m Matcher) Validate() error {
	switch {
	case m.Name == "":
		return Errorf(EINVALID, "empty name %s", matcherHint)
	case strings.ContainsAny(m.Name, " \t\n"):
		return Errorf(EINVALID, "name %q has spaces", m.Name)
	}
	switch m.Op {
	case MatchEqual, MatchNotEqual:
	case MatchRegexp, MatchNotRegexp:
		// The pattern as written, so the error quotes what the user typed.
		if _, err := regexp.Compile(m.Value); err != nil {
			return Errorf(EINVALID, "bad regex: %v", err)
		}
	default:
		return Errorf(EINVALID, "unknown operator %q %s", m.Op, matcherHint)
	}
	return nil
}

func (m Matcher) String() string {
	v := m.Value
	if v == "" || strings.ContainsAny(v, " \t\"") {
		v = strconv.Quote(v)
	}
	return m.Name + m.Op + v
}

// Matches reports whether the alert, at severity sev, satisfies the matcher.
// A matcher that does not validate matches nothing.
func (m Matcher) Matches(a Alert, sev Severity) bool {
	v := silenceLabel(a, sev, m.Name)
	switch m.Op {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp, MatchNotRegexp:
		re := anchored(m.Value)
		if re == nil {
			return false
		}
		return re.MatchString(v) == (m.Op == MatchRegexp)
	}
	return false
}

// silenceLabel is the value a matcher named name reads from the alert.
func silenceLabel(a Alert, sev Severity, name string) string {
	switch name {
	case "source":
		return a.Source
	case "rule":
		return a.Rule
	case "env":
		return a.Env
	case "service":
		return a.Service
	case "category":
		return a.Category
	case "severity":
		if sev == SeverityUnknown {
			return ""
		}
		return sev.String()
	}
	return a.QueryKey[name]
}

// The compiled regexes of matchers, kept because a storm of new incidents
// matches every silence against each; bounded because patterns come from
// people and config and could in principle grow without end.
var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

const maxCachedRegexes = 512

// anchored compiles ^(?:pattern)$, or returns nil when it does not compile.
func anchored(pattern string) *regexp.Regexp {
	regexMu.Lock()
	defer regexMu.Unlock()
	if re, ok := regexCache[pattern]; ok {
		return re
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		re = nil
	}
	if len(regexCache) >= maxCachedRegexes {
		clear(regexCache)
	}
	regexCache[pattern] = re
	return re
}

// matchAll reports whether every matcher matches; no matchers match nothing,
// so a malformed silence or window never silences everything.
func matchAll(ms []Matcher, a Alert, sev Severity) bool {
	if len(ms) == 0 {
		return false
	}
	for _, m := range ms {
		if !m.Matches(a, sev) {
			return false
		}
	}
	return true
}

// Silence states, as `starter silence list` shows them.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// Silence holds back the incidents its matchers select between StartsAt and
// EndsAt: they are opened and counted, not announced, not escalated. The
// silences workflow owns silences; `starter silence add` makes them.
type Silence struct {
	ID       string    `json:"id"`
	Matchers []Matcher `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Comment  string    `json:"comment,omitempty"`
	// CreatedBy is the person who added the silence.
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// EndOnResolve ends the silence when the last incident it holds resolves.
	EndOnResolve bool `json:"end_on_resolve,omitempty"`
	// ExpiredAt and ExpiredBy say who ended the silence early (irflow when
	// EndOnResolve did); expiring also moves EndsAt to ExpiredAt.
	ExpiredAt time.Time `json:"expired_at,omitzero"`
	ExpiredBy string    `json:"expired_by,omitempty"`
	// Held lists the open incidents the silence is holding back, told when
	// it ends.
	Held []string `json:"held,omitempty"`
}

// MaxSilenceMatchers bounds one silence, which every new incident is matched against.
const MaxSilenceMatchers = 32

// Validate checks the silence (its ID aside, which the silences workflow
// assigns), naming the field.
func (s Silence) Validate() error {
	if len(s.Matchers) == 0 {
		return Errorf(EINVALID, "matchers: at least one (like env=prod); a silence without matchers would hold back everything")
	}
	if len(s.Matchers) > MaxSilenceMatchers {
		return Errorf(EINVALID, "matchers: %d, at most %d", len(s.Matchers), MaxSilenceMatchers)
	}
	for i, m := range s.Matchers {
		if err := m.Validate(); err != nil {
			return Errorf(EINVALID, "matchers[%d]: %s", i, ErrorMessage(err))
		}
	}
	switch {
	case s.StartsAt.IsZero():
		return Errorf(EINVALID, "starts_at: required")
	case s.EndsAt.IsZero():
		return Errorf(EINVALID, "ends_at: required")
	case !s.EndsAt.After(s.StartsAt):
		return Errorf(EINVALID, "ends_at: %s must be after starts_at %s", s.EndsAt.UTC().Format(time.RFC3339), s.StartsAt.UTC().Format(time.RFC3339))
	case s.CreatedBy == "":
		return Errorf(EINVALID, "created_by: required")
	case len(s.Comment) > MaxTextLen:
		return Errorf(EINVALID, "comment: longer than %d characters", MaxTextLen)
	}
	return nil
}

// ActiveAt reports whether the silence holds alerts back at t.
func (s Silence) ActiveAt(t time.Time) bool {
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt) && (s.ExpiredAt.IsZero() || t.Before(s.ExpiredAt))
}

// EndedAt is when the silence ended or ends: ExpiredAt when expired early, else EndsAt.
func (s Silence) EndedAt() time.Time {
	if !s.ExpiredAt.IsZero() && s.ExpiredAt.Before(s.EndsAt) {
		return s.ExpiredAt
	}
	return s.EndsAt
}

// State is SilencePending, SilenceActive or SilenceExpired at t.
func (s Silence) State(t time.Time) string {
	switch {
	case s.ActiveAt(t):
		return SilenceActive
	case t.Before(s.StartsAt) && s.ExpiredAt.IsZero():
		return SilencePending
	}
	return SilenceExpired
}

// Matches reports whether every matcher matches the alert at severity sev.
// Whether the silence is active is ActiveAt's question.
func (s Silence) Matches(a Alert, sev Severity) bool { return matchAll(s.Matchers, a, sev) }

// MaintenanceWindow is a recurring silence from config: on each of Days,
// from Start (wall clock in Location) for Duration.
type MaintenanceWindow struct {
	Name string `json:"name"`
	// Days are the weekdays the window starts on; a window from Saturday
	// 23:00 for 3h is still active early on Sunday.
	Days []time.Weekday `json:"days"`
	// Start is "HH:MM", 24-hour, in Location.
	Start string `json:"start"`
	// Duration is elapsed time, so a window spanning a DST change lasts
	// exactly Duration.
	Duration time.Duration `json:"duration"`
	// Location is the window's time zone; nil is UTC. Config resolves it
	// from time_zone (JSON does not carry it).
	Location *time.Location `json:"-"`
	Matchers []Matcher      `json:"matchers"`
}

// MaxWindowDuration bounds a maintenance window: longer would overlap the
// same weekday's next start.
const MaxWindowDuration = 7 * 24 * time.Hour

// ParseClock reads "HH:MM" (24-hour).
func ParseClock(s string) (hour, minute int, err error) {
	bad := Errorf(EINVALID, "%q is not a time of day like 22:00 (HH:MM, 24-hour)", s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, 0, bad
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 || h[0] == '+' || h[0] == '-' {
		return 0, 0, bad
	}
	return hour, minute, nil
}

// Validate checks the window, naming the field as config spells it.
func (w MaintenanceWindow) Validate() error {
	if strings.TrimSpace(w.Name) == "" {
		return Errorf(EINVALID, "name: required")
	}
	if len(w.Days) == 0 {
		return Errorf(EINVALID, "days: required (like [mon, tue] or [saturday])")
	}
	for i, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return Errorf(EINVALID, "days[%d]: not a weekday (%d)", i, int(d))
		}
	}
	if w.Start == "" {
		return Errorf(EINVALID, "start: required (HH:MM, like 22:00)")
	}
	if _, _, err := ParseClock(w.Start); err != nil {
		return Errorf(EINVALID, "start: %s", ErrorMessage(err))
	}
	switch {
	case w.Duration <= 0:
		return Errorf(EINVALID, "duration: must be positive, got %s", w.Duration)
	case w.Duration > MaxWindowDuration:
		return Errorf(EINVALID, "duration: at most 7 days (168h), got %s", w.Duration)
	}
	if len(w.Matchers) == 0 {
		return Errorf(EINVALID, "match: at least one matcher (like \"env=prod\"); a window without matchers would hold back everything")
	}
	for i, m := range w.Matchers {
		if err := m.Validate(); err != nil {
			return Errorf(EINVALID, "match[%d]: %s", i, ErrorMessage(err))
		}
	}
	return nil
}

// ActiveAt reports whether the window is open at t and, if so, when the
// occurrence holding t ends (the latest, should occurrences overlap).
// Starts are computed on the calendar of the window's zone, so "22:00" is
// 22:00 local on both sides of a DST change.
func (w MaintenanceWindow) ActiveAt(t time.Time) (end time.Time, ok bool) {
	hour, minute, err := ParseClock(w.Start)
	if err != nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	y, m, d := local.Date()
	// Occurrences that started up to Duration ago (plus a day for DST and
	// the start being later in the day than t) may still hold t.
	back := int(w.Duration/(24*time.Hour)) + 1
	for k := 0; k <= back; k++ {
		start := time.Date(y, m, d-k, hour, minute, 0, 0, loc)
		if !w.startsOn(start.Weekday()) {
			continue
		}
		stop := start.Add(w.Duration)
		if !t.Before(start) && t.Before(stop) && stop.After(end) {
			end, ok = stop, true
		}
	}
	return end, ok
}

func (w MaintenanceWindow) startsOn(d time.Weekday) bool {
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

// Matches reports whether every matcher matches the alert at severity sev.
func (w MaintenanceWindow) Matches(a Alert, sev Severity) bool { return matchAll(w.Matchers, a, sev) }

// SilenceMatch kinds.
const (
	SilenceKindSilence     = "silence"
	SilenceKindMaintenance = "maintenance"
)

// MaintenanceIDPrefix starts the SilenceMatch ID of a maintenance window.
const MaintenanceIDPrefix = "maintenance:"

// SilenceMatch is what holds an incident back: a silence or a maintenance
// window, and until when.
type SilenceMatch struct {
	// Kind is SilenceKindSilence or SilenceKindMaintenance.
	Kind string `json:"kind"`
	// ID is the silence ID, or "maintenance:" and the window's name.
	ID      string    `json:"id"`
	Until   time.Time `json:"until"`
	Comment string    `json:"comment,omitempty"`
}

// MatchSilence finds what holds the alert (at severity sev) back at t: of
// the active silences and maintenance windows that match, the one that ends
// last. On a tie the first wins, silences before windows.
func MatchSilence(silences []Silence, windows []MaintenanceWindow, a Alert, sev Severity, at time.Time) (SilenceMatch, bool) {
	var best SilenceMatch
	found := false
	consider := func(m SilenceMatch) {
		if !found || m.Until.After(best.Until) {
			best, found = m, true
		}
	}
	for i := range silences {
		s := &silences[i]
		if s.ActiveAt(at) && s.Matches(a, sev) {
			consider(SilenceMatch{Kind: SilenceKindSilence, ID: s.ID, Until: s.EndedAt(), Comment: s.Comment})
		}
	}
	for i := range windows {
		w := &windows[i]
		if end, ok := w.ActiveAt(at); ok && w.Matches(a, sev) {
			consider(SilenceMatch{Kind: SilenceKindMaintenance, ID: MaintenanceIDPrefix + w.Name, Until: end,
				Comment: fmt.Sprintf("maintenance window %s", w.Name)})
		}
	}
	return best, found
}

// MatchersFor are the matchers of a silence for alerts like a: the same
// source, rule, env and query-key values (what the Slack "Silence 1h"
// button silences). Values are quoted, so any character is safe.
func MatchersFor(a Alert) []string {
	out := []string{"source=" + strconv.Quote(a.Source), "rule=" + strconv.Quote(a.Rule)}
	if a.Env != "" {
		out = append(out, "env="+strconv.Quote(a.Env))
	}
	for _, k := range slices.Sorted(maps.Keys(a.QueryKey)) {
		out = append(out, k+"="+strconv.Quote(a.QueryKey[k]))
	}
	return out
}
