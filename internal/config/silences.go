package config

import (
	"fmt"
	"strings"
	"time"
	// Zone data inside the binary, so time_zone works on images without
	// /usr/share/zoneinfo (scratch, some distroless variants).
	_ "time/tzdata"

	"github.com/irflow/irflow/incident"
)

// Silences is the `silences:` section: the recurring maintenance windows.
// One-off silences live in the silences workflow, added with
// `starter silence add`.
type Silences struct {
	MaintenanceWindows []MaintenanceWindow `yaml:"maintenance_windows"`
}

// MaintenanceWindow is one recurring window: on each of Days, from Start
// (wall clock in TimeZone) for Duration, incidents that Match are held back.
type MaintenanceWindow struct {
	Name string `yaml:"name"`
	// Days are the weekdays the window starts on: mon ... sun or full
	// names, in any case.
	Days []string `yaml:"days"`
	// Start is HH:MM, 24-hour.
	Start    string   `yaml:"start"`
	Duration Duration `yaml:"duration"`
	// TimeZone is an IANA zone like Europe/Berlin; default UTC.
	TimeZone string `yaml:"time_zone"`
	// Match lists Alertmanager-style matchers, all of which must hold:
	// "env=prod", "service=~db-.*".
	Match []string `yaml:"match"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseWeekday accepts mon or monday (any case).
func parseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, ok := weekdays[s]; ok {
		return d, true
	}
	for _, d := range weekdays {
		if s == strings.ToLower(d.String()) {
			return d, true
		}
	}
	return 0, false
}

// window turns one configured window into the domain's, naming the field
// of the first problem (without the section's prefix).
func (w MaintenanceWindow) window() (incident.MaintenanceWindow, error) {
	out := incident.MaintenanceWindow{Name: strings.TrimSpace(w.Name), Start: strings.TrimSpace(w.Start), Duration: time.Duration(w.Duration)}
	if out.Name == "" {
		return out, fmt.Errorf("name: required")
	}
	seen := map[time.Weekday]bool{}
	for i, s := range w.Days {
		d, ok := parseWeekday(s)
		if !ok {
			return out, fmt.Errorf("days[%d]: unknown day %q (want mon, tue, wed, thu, fri, sat, sun or full names)", i, s)
		}
		if seen[d] {
			return out, fmt.Errorf("days[%d]: %s listed twice", i, strings.ToLower(d.String()))
		}
		seen[d] = true
		out.Days = append(out.Days, d)
	}
	switch tz := strings.TrimSpace(w.TimeZone); tz {
	case "", "UTC":
		out.Location = time.UTC
	case "Local":
		// The worker's own zone would make the window move with the host.
		return out, fmt.Errorf("time_zone: \"Local\" depends on the worker's host; name a zone like Europe/Berlin")
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return out, fmt.Errorf("time_zone: unknown time zone %q", tz)
		}
		out.Location = loc
	}
	for i, s := range w.Match {
		m, err := incident.ParseMatcher(s)
		if err != nil {
			return out, fmt.Errorf("match[%d]: %s", i, incident.ErrorMessage(err))
		}
		out.Matchers = append(out.Matchers, m)
	}
	if err := out.Validate(); err != nil {
		return out, fmt.Errorf("%s", incident.ErrorMessage(err))
	}
	return out, nil
}

// Validate checks the section, naming the field
// ("silences.maintenance_windows[0].time_zone: unknown time zone ...").
func (c *Silences) Validate() error {
	names := map[string]int{}
	for i, w := range c.MaintenanceWindows {
		at := fmt.Sprintf("silences.maintenance_windows[%d]", i)
		if _, err := w.window(); err != nil {
			return fmt.Errorf("%s.%w", at, err)
		}
		name := strings.TrimSpace(w.Name)
		if j, dup := names[name]; dup {
			return fmt.Errorf("%s.name: %q is taken by maintenance_windows[%d]", at, name, j)
		}
		names[name] = i
	}
	return nil
}

// Windows returns the maintenance windows for the CheckSilence activity.
// Load has validated them; a window that does not validate is left out.
func (c *Silences) Windows() []incident.MaintenanceWindow {
	var out []incident.MaintenanceWindow
	for _, w := range c.MaintenanceWindows {
		if mw, err := w.window(); err == nil {
			out = append(out, mw)
		}
	}
	return out
}
