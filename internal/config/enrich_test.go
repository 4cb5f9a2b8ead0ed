package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnrichSection(t *testing.T) {
	dir := t.TempDir()
	db, list := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "tor.txt")
	for _, p := range []string{db, list} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := load(t, "enrich:\n  owners:\n    - match: {index: \"uc-be-*\"}\n      team: payments\n      channel: \"#payments\"\n",
		map[string]string{EnvGeoIPDB: db, EnvThreatIntel: list + ", " + list})
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Enrich
	if e.GeoIPDB != db || len(e.ThreatIntel) != 2 || e.ThreatIntel[1] != list || time.Duration(e.ReloadInterval) != DefaultReloadInterval ||
		len(e.IPFields) == 0 || e.IPFields[0] != "source_ip" || e.Owners[0].Team != "payments" {
		t.Fatalf("enrich = %+v", e)
	}
	for _, tc := range []struct{ name, yml, want string }{
		{"missing db", "enrich:\n  geoip_db: " + filepath.Join(dir, "nope.mmdb") + "\n", `enrich.geoip_db: "` + filepath.Join(dir, "nope.mmdb") + `": no such file or directory`},
		{"list is a dir", "enrich:\n  threat_intel: [" + dir + "]\n", `enrich.threat_intel[0]: "` + dir + `" is a directory, want a file`},
		{"fast reload", "enrich:\n  reload_interval: 10ms\n", `enrich.reload_interval: 10ms is under 1s`},
		{"empty field", "enrich:\n  ip_fields: [src, \"\"]\n", `enrich.ip_fields[1]: empty field name`},
		{"owner without match", "enrich:\n  owners:\n    - team: x\n", `enrich.owners[0].match: at least one of index, service, namespace, rule, category`},
		{"owner without team", "enrich:\n  owners:\n    - match: {service: api}\n", `enrich.owners[0].team: required`},
		{"owner channel", "enrich:\n  owners:\n    - match: {service: api}\n      team: t\n      channel: \"Bad Channel\"\n", `enrich.owners[0].channel: "Bad Channel" is not a channel name`},
		{"owner runbook", "enrich:\n  owners:\n    - match: {service: api}\n      team: t\n      runbook: wiki/page\n", `enrich.owners[0].runbook: "wiki/page" must be an http or https URL`},
		{"unknown key", "enrich:\n  geoip: x\n", `unknown field "geoip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}
