package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/irflow/irflow/incident"
)

const testSigmaMapping = `logsources:
  - logsource: {category: webserver}
    index: web-*
    owner: security
    env: prod
    category: web
    slack_channel: "#sec"
    fields:
      c-uri: request.path
`

func writeSigma(t *testing.T, name, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_sigma.yaml"), []byte(testSigmaMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "web")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSigma(t *testing.T) {
	path := writeSigma(t, "traversal.yml", `title: Traversal
description: dots in the path
tags: [attack.initial-access, attack.t1190]
falsepositives: [scanners]
logsource: {category: webserver}
detection:
  sel:
    c-uri|contains: '../'
  condition: sel
level: informational
`)
	r, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "traversal" || r.Type != TypeAny || r.Index != "web-*" || r.Severity != "info" ||
		r.Owner != "security" || r.Env != "prod" || r.Category != "web" || r.SlackChannel != "#sec" || r.TimestampField != "@timestamp" {
		t.Errorf("rule = %+v", r)
	}
	want := []map[string]any{{"wildcard": map[string]any{"request.path": map[string]any{"value": "*../*"}}}}
	if !reflect.DeepEqual(r.RawFilter, want) {
		t.Errorf("RawFilter = %v, want %v", r.RawFilter, want)
	}
	hit := Event{"@timestamp": "2026-11-22T10:00:00Z", "request": map[string]any{"path": "/a/../../etc"}}
	miss := Event{"@timestamp": "2026-11-22T10:00:01Z", "request": map[string]any{"path": "/a/b"}}
	res, err := Backtest(r, []Event{hit, miss}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 1 {
		t.Fatalf("%d matches, want 1", len(res.Matches))
	}
	a := MatchAlert(r, res.Matches[0])
	if a.Title != "Traversal" || a.Severity != incident.SeverityInfo ||
		a.Summary != "dots in the path\nTags: attack.initial-access, attack.t1190\nFalse positives: scanners" {
		t.Errorf("alert title %q severity %v summary %q", a.Title, a.Severity, a.Summary)
	}
	if got, _ := a.Fields[TagsField].([]string); !reflect.DeepEqual(got, []string{"attack.initial-access", "attack.t1190"}) {
		t.Errorf("alert %s = %v", TagsField, a.Fields[TagsField])
	}
	if _, ok := res.Matches[0].Fields[TagsField]; ok {
		t.Error("MatchAlert wrote the tags into the match's own fields")
	}
}

func TestLoadSigmaErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unmapped logsource", "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection: {sel: {a: b}, condition: sel}\n",
			"x.yml:2: logsource {product: aws, service: cloudtrail}: not mapped in MAPPING (mapped: {category: webserver})"},
		{"unmapped field", "title: t\nlogsource: {category: webserver}\ndetection:\n  sel:\n    cs-referrer: x\n  condition: sel\n",
			"x.yml:5: field cs-referrer: not mapped for logsource {category: webserver} (add it under fields in _sigma.yaml)"},
		{"modifier", "title: t\nlogsource: {category: webserver}\ndetection:\n  sel:\n    c-uri|wide|contains: x\n  condition: sel\n",
			"x.yml:5: modifier wide: not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSigma(t, "x.yml", tc.text)
			_, err := LoadFile(path)
			mapping := filepath.Join(filepath.Dir(filepath.Dir(path)), "_sigma.yaml")
			want := path[:len(path)-len("x.yml")] + strings.ReplaceAll(tc.want, "MAPPING", mapping)
			if err == nil || err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
	// Without a mapping file anywhere up the tree.
	dir := t.TempDir()
	path := filepath.Join(dir, "x.yml")
	_ = os.WriteFile(path, []byte("title: t\nlogsource: {category: webserver}\ndetection: {sel: {a: b}, condition: sel}\n"), 0o644)
	if _, err := LoadFile(path); err == nil {
		t.Error("loaded a Sigma rule without a mapping")
	}
}
