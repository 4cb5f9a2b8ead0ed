package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
)

func TestSilencesSection(t *testing.T) {
	cfg, err := load(t, `
silences:
  maintenance_windows:
    - name: db-patching
      days: [sat, Sunday]
      start: "22:00"
      duration: 2h
      time_zone: Europe/Berlin
      match: ["env=prod", "service=~db-.*"]
    - name: staging-nightly
      days: [MON, tue, wednesday, thu, fri]
      start: "1:30"
      duration: 30m
      match: ["env=staging"]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := cfg.Silences.Windows()
	if len(ws) != 2 {
		t.Fatalf("windows = %+v, want 2", ws)
	}
	db := ws[0]
	if db.Name != "db-patching" || len(db.Days) != 2 || db.Days[0] != time.Saturday || db.Days[1] != time.Sunday ||
		db.Start != "22:00" || db.Duration != 2*time.Hour || db.Location.String() != "Europe/Berlin" ||
		len(db.Matchers) != 2 || db.Matchers[1] != (incident.Matcher{Name: "service", Op: incident.MatchRegexp, Value: "db-.*"}) {
		t.Errorf("db-patching = %+v", db)
	}
	if ws[1].Location != time.UTC || len(ws[1].Days) != 5 || ws[1].Days[2] != time.Wednesday {
		t.Errorf("staging-nightly = %+v (time zone should default to UTC)", ws[1])
	}
	// Saturday 2026-11-28 22:30 in Berlin is 21:30 UTC.
	a := incident.Alert{Source: "cloudwatch", Rule: "cpu", Env: "prod", Service: "db-1"}
	m, ok := incident.MatchSilence(nil, ws, a, incident.SeverityHigh, time.Date(2026, 11, 28, 21, 30, 0, 0, time.UTC))
	if !ok || m.ID != "maintenance:db-patching" || !m.Until.Equal(time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("match = %+v %v, want db-patching until 23:00 UTC", m, ok)
	}
	if d := Default(); len(d.Silences.Windows()) != 0 {
		t.Errorf("default windows = %+v, want none", d.Silences.Windows())
	}
}

func TestSilencesErrorsNameTheField(t *testing.T) {
	window := func(edit string) string {
		fields := map[string]string{"name": "w", "days": "[sat]", "start": `"22:00"`, "duration": "2h", "match": `["env=prod"]`}
		for _, kv := range strings.Split(edit, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				if v == "-" {
					delete(fields, k)
				} else {
					fields[k] = v
				}
			}
		}
		var b strings.Builder
		b.WriteString("    - ")
		first := true
		for _, k := range []string{"name", "days", "start", "duration", "time_zone", "match"} {
			v, ok := fields[k]
			if !ok {
				continue
			}
			if !first {
				b.WriteString("      ")
			}
			first = false
			b.WriteString(k + ": " + v + "\n")
		}
		return b.String()
	}
	head := "silences:\n  maintenance_windows:\n"
	for _, tc := range []struct{ name, yml, want string }{
		{"zone", head + window("time_zone=Mars/Base"), `silences.maintenance_windows[0].time_zone: unknown time zone "Mars/Base"`},
		{"local zone", head + window("time_zone=Local"), `silences.maintenance_windows[0].time_zone: "Local" depends on the worker's host; name a zone like Europe/Berlin`},
		{"second window's matcher", head + window("") + window(`name=x;match=["env"]`),
			`silences.maintenance_windows[1].match[0]: "env": no operator (want NAME=VALUE, NAME!=VALUE or NAME=~REGEX)`},
		{"regex", head + window(`match=["env=prod", "rule=~ssh-("]`),
			"silences.maintenance_windows[0].match[1]: \"rule=~ssh-(\": bad regex: error parsing regexp: missing closing ): `ssh-(`"},
		{"no match", head + window("match=-"), `silences.maintenance_windows[0].match: at least one matcher (like "env=prod"); a window without matchers would hold back everything`},
		{"no days", head + window("days=-"), `silences.maintenance_windows[0].days: required (like [mon, tue] or [saturday])`},
		{"bad day", head + window("days=[sat, funday]"), `silences.maintenance_windows[0].days[1]: unknown day "funday" (want mon, tue, wed, thu, fri, sat, sun or full names)`},
		{"day twice", head + window("days=[sat, Saturday]"), `silences.maintenance_windows[0].days[1]: saturday listed twice`},
		{"no start", head + window("start=-"), `silences.maintenance_windows[0].start: required (HH:MM, like 22:00)`},
		{"bad start", head + window(`start="10pm"`), `silences.maintenance_windows[0].start: "10pm" is not a time of day like 22:00 (HH:MM, 24-hour)`},
		{"start hour", head + window(`start="24:00"`), `silences.maintenance_windows[0].start: "24:00" is not a time of day like 22:00 (HH:MM, 24-hour)`},
		{"no duration", head + window("duration=-"), `silences.maintenance_windows[0].duration: must be positive, got 0s`},
		{"negative duration", head + window("duration=-1h"), `silences.maintenance_windows[0].duration: must be positive, got -1h0m0s`},
		{"long duration", head + window("duration=170h"), `silences.maintenance_windows[0].duration: at most 7 days (168h), got 170h0m0s`},
		{"no name", head + window("name=-"), `silences.maintenance_windows[0].name: required`},
		{"same name", head + window("name=nightly") + window("name=nightly"), `silences.maintenance_windows[1].name: "nightly" is taken by maintenance_windows[0]`},
		{"unknown key", head + window("") + "      matchers: [env=prod]\n", `unknown field "matchers"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil {
				t.Fatalf("no error for\n%s", tc.yml)
			}
			msg := err.Error()
			if i := strings.Index(msg, "silences."); i >= 0 {
				msg = msg[i:] // drop "config <path>: "
			}
			if !strings.Contains(msg, tc.want) || (strings.HasPrefix(tc.want, "silences.") && msg != tc.want) {
				t.Fatalf("error\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

// The example config carries the section commented out (an image built from
// it must not hold back anyone's alerts); uncommented, it must load.
func TestExampleConfigSilencesBlock(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "config", "irflow.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, "# silences:")
	if start < 0 {
		t.Fatal("no commented silences: section in the example config")
	}
	block := []string{"silences:"}
	for _, line := range lines[start+1:] {
		if !strings.HasPrefix(line, "#   ") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	cfg, err := load(t, strings.Join(block, "\n")+"\n", nil)
	if err != nil {
		t.Fatalf("example silences section:\n%s\n%v", strings.Join(block, "\n"), err)
	}
	ws := cfg.Silences.Windows()
	if len(ws) != 1 || ws[0].Name != "db-patching" || ws[0].Location.String() != "Europe/Berlin" || len(ws[0].Matchers) != 2 {
		t.Errorf("example windows = %+v", ws)
	}
}
