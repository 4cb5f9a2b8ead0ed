package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDigestDefaults(t *testing.T) {
	got := Default().Digest
	want := Digest{Enabled: false, At: "08:00", TimeZone: "UTC", Channel: "#security-digest", Since: Duration(24 * time.Hour)}
	if got != want {
		t.Errorf("default digest = %+v, want %+v", got, want)
	}
	cfg, err := load(t, "digest:\n  enabled: true\n  at: \"07:30\"\n  time_zone: Europe/Berlin\n  channel: C0DIGEST1\n  since: 12h\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Digest
	h, m, _ := d.Clock()
	loc, _ := d.Location()
	if !d.Enabled || h != 7 || m != 30 || loc.String() != "Europe/Berlin" || d.Channel != "C0DIGEST1" || time.Duration(d.Since) != 12*time.Hour {
		t.Errorf("digest = %+v (clock %d:%d, zone %v)", d, h, m, loc)
	}
	// A partial section keeps the other defaults.
	cfg, err = load(t, "digest:\n  enabled: true\n", nil)
	if err != nil || cfg.Digest.At != "08:00" || cfg.Digest.Channel != "#security-digest" {
		t.Errorf("partial section = %+v, %v", cfg.Digest, err)
	}
}

func TestDigestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"hour out of range", "digest:\n  at: \"25:00\"\n", `digest.at: "25:00" is not HH:MM (24-hour, like 08:00)`},
		{"no leading zero", "digest:\n  at: \"8:00\"\n", `digest.at: "8:00" is not HH:MM (24-hour, like 08:00)`},
		{"am/pm", "digest:\n  at: 8am\n", `digest.at: "8am" is not HH:MM (24-hour, like 08:00)`},
		{"unknown zone", "digest:\n  time_zone: Mars/Olympus\n", `digest.time_zone: unknown time zone "Mars/Olympus"`},
		{"local zone", "digest:\n  time_zone: Local\n", `digest.time_zone: unknown time zone "Local"`},
		{"bad channel", "digest:\n  channel: \"#Security Digest\"\n", `digest.channel: "#Security Digest" is not a Slack channel name (#lowercase-name) or ID`},
		{"negative since", "digest:\n  since: -1h\n", `digest.since: must be between 1s and 744h0m0s (31 days), got -1h0m0s`},
		{"long since", "digest:\n  since: 800h\n", `digest.since: must be between 1s and 744h0m0s (31 days), got 800h0m0s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			// Load prefixes the file: "config /tmp/.../irflow.yaml: <field error>".
			_, msg, _ := strings.Cut(err.Error(), filepath.Base("irflow.yaml")+": ")
			if msg != tc.want {
				t.Fatalf("error = %q\nwant    %q", err, tc.want)
			}
		})
	}
	// Disabled sections are checked too: enabling one later holds no surprise.
	if _, err := load(t, "digest:\n  enabled: false\n  time_zone: Nowhere\n", nil); err == nil {
		t.Error("a bad time zone in a disabled section passed")
	}
	d := Default().Digest
	d.Channel = ""
	if err := d.Validate(); err == nil || err.Error() != "digest.channel: required" {
		t.Errorf("empty channel: %v", err)
	}
}
