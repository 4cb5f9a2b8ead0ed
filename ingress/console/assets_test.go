package console_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"
)

// The embedded htmx is the one package-lock.json pins: after make ui-assets
// (npm ci), node_modules holds it, and the copy in static/ must match byte
// for byte. Without node_modules the test is skipped, except under CI=true,
// where make test has run ui-assets first.
func TestEmbeddedHTMXIsThePinnedOne(t *testing.T) {
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	b, err := os.ReadFile("assets/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	pinned := lock.Packages["node_modules/htmx.org"].Version
	if pinned == "" {
		t.Fatal("package-lock.json pins no htmx.org")
	}
	vendored, err := os.ReadFile("assets/node_modules/htmx.org/dist/htmx.min.js")
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("CI") == "true" {
			t.Fatal("ingress/console/assets/node_modules is missing: run make ui-assets (npm ci)")
		}
		t.Skip("no node_modules: make ui-assets installs htmx.org " + pinned)
	}
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Version string }
	if b, err := os.ReadFile("assets/node_modules/htmx.org/package.json"); err != nil || json.Unmarshal(b, &pkg) != nil || pkg.Version != pinned {
		t.Fatalf("node_modules has htmx.org %q, package-lock.json pins %q: run make ui-assets", pkg.Version, pinned)
	}
	embedded, err := os.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, vendored) {
		t.Fatalf("static/htmx.min.js differs from htmx.org %s in node_modules: run make ui-assets", pinned)
	}
}
