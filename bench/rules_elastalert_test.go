package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestDiffSorted(t *testing.T) {
	a := []string{"10:00 a", "10:00 a", "10:01 b", "10:03 d"}
	b := []string{"10:00 a", "10:02 c", "10:03 d"}
	onlyA, onlyB := diffSorted(a, b)
	if want := []string{"10:00 a", "10:01 b"}; !slices.Equal(onlyA, want) {
		t.Errorf("only a = %q, want %q", onlyA, want)
	}
	if want := []string{"10:02 c"}; !slices.Equal(onlyB, want) {
		t.Errorf("only b = %q, want %q", onlyB, want)
	}
}

// TestWriteEARule: ElastAlert2's copy merges the import (the child wins),
// drops irflow-only keys and alerters.
func TestWriteEARule(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("_base.yaml", "index: uc-be-*\nowner: backend\nenv: prod\nrealert: {minutes: 15}\nbuffer_time: {minutes: 15}\nalert: [slack]\n")
	rule := write("r.yaml", "import: _base.yaml\nname: r\ntype: new_term\nseverity: low\nrealert: {minutes: 0}\nslack_channel_override: \"#x\"\nfields: [a]\n")
	dest := filepath.Join(dir, "out.yaml")
	if err := writeEARule(rule, dir, dest, "r.fires", "uc-be-bench-ea-r-fires"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"import", "severity", "env", "slack_channel_override"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s kept: %s", k, b)
		}
	}
	if got["name"] != "r.fires" || got["index"] != "uc-be-bench-ea-r-fires" || got["owner"] != "backend" {
		t.Errorf("name, index or owner wrong: %s", b)
	}
	if re, _ := got["realert"].(map[string]any); re["minutes"] != uint64(0) {
		t.Errorf("realert %v (%T), want the child's {minutes: 0}: %s", got["realert"], re["minutes"], b)
	}
	if al, _ := got["alert"].([]any); len(al) != 1 || al[0] != "debug" {
		t.Errorf("alert %v, want [debug]", got["alert"])
	}
}
