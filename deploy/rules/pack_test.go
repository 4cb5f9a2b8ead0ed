// Package rules_test checks the rule pack: every rule loads, fires on its
// testdata/<rule>.fires.ndjson and stays quiet on <rule>.quiet.ndjson.
package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/irflow/irflow/rules"
)

const minRules = 20

func TestRulePack(t *testing.T) {
	files, err := rules.Files(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < minRules {
		t.Fatalf("rule pack has %d rules, want at least %d", len(files), minRules)
	}
	names := map[string]string{}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		t.Run(base, func(t *testing.T) {
			r, err := rules.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if other, dup := names[r.Name]; dup {
				t.Fatalf("name %q also used by %s", r.Name, other)
			}
			names[r.Name] = f
			if r.Name != base {
				t.Errorf("rule name %q differs from file name %q", r.Name, base)
			}
			if r.Severity == "" || r.Owner == "" {
				t.Errorf("rule needs severity and owner for routing (severity %q, owner %q)", r.Severity, r.Owner)
			}
			for _, kind := range []string{"fires", "quiet"} {
				path := filepath.Join(filepath.Dir(f), "testdata", base+"."+kind+".ndjson") // sigma/ keeps its own
				events, err := rules.ReadNDJSONFile(path)
				if err != nil {
					t.Fatalf("%v (every rule needs %s)", err, path)
				}
				res, err := rules.Backtest(r, events, 0)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case kind == "fires" && len(res.Matches) == 0:
					t.Errorf("%s: no match over %d events in %d sweeps", path, res.Events, res.Sweeps)
				case kind == "quiet" && len(res.Matches) > 0:
					m := res.Matches[0]
					t.Errorf("%s: %d matches, first at %s key %q: %v", path, len(res.Matches), m.Time, m.Key, m.Fields)
				}
			}
		})
	}
	// No orphaned testdata: ElastAlert2 rules are .yaml, Sigma rules (sigma/) .yml.
	for _, dir := range []string{".", "sigma"} {
		data, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.ndjson"))
		for _, d := range data {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(d), ".ndjson"), ".fires"), ".quiet")
			_, errYAML := os.Stat(filepath.Join(dir, base+".yaml"))
			_, errYML := os.Stat(filepath.Join(dir, base+".yml"))
			if errYAML != nil && errYML != nil {
				t.Errorf("%s has no rule %s.yaml or .yml", d, base)
			}
		}
	}
}
