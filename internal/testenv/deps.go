package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is irflow's module path, with the trailing slash.
const Module = "github.com/irflow/irflow/"

// Deps lists the irflow packages that the packages matched by pattern link
// (tests excluded), by path relative to the module, each with its imports.
func Deps(tb testing.TB, pattern string) map[string][]string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \",\"}}", pattern).CombinedOutput()
	if err != nil {
		tb.Fatalf("go list -deps %s: %v\n%s", pattern, err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if rel, ok := strings.CutPrefix(pkg, Module); ok {
			deps[rel] = strings.Split(imports, ",")
		}
	}
	if len(deps) == 0 {
		tb.Fatalf("go list -deps %s found no irflow package:\n%s", pattern, out)
	}
	return deps
}

// Under reports whether rel is dir or a package below it.
func Under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }
