package main

import (
	"slices"
	"testing"

	"github.com/irflow/irflow/internal/testenv"
)

// The production worker links neither test kit nor adapters it does not run:
// no ingress, no dev stack, and no irflow package that imports "testing".
// (The Temporal SDK itself links package testing through
// go.temporal.io/sdk/internal/workflow_testsuite.go; that is not ours to drop.)
func TestWorkerLinksNoTestKitOrIngress(t *testing.T) {
	for pkg, imports := range testenv.Deps(t, ".") {
		for _, dir := range []string{"ingress", "internal/testenv", "internal/devstack", "internal/opensearch",
			"internal/demologs", "internal/ingressapp", "internal/checkout", "bench"} {
			if testenv.Under(pkg, dir) {
				t.Errorf("the worker links %s", pkg)
			}
		}
		if slices.Contains(imports, "testing") {
			t.Errorf("%s, linked by the worker, imports testing", pkg)
		}
	}
}
