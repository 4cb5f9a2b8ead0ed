package ingress_test

import (
	"strings"
	"testing"

	"github.com/irflow/irflow/internal/testenv"
)

// Adapters depend down only: the ingress and the Slack app know the domain,
// the workflow names and the config sections, never the Temporal client or
// the processes that wire them.
func TestIngressDependsDownOnly(t *testing.T) {
	for pkg := range testenv.Deps(t, "./...") {
		if strings.HasPrefix(pkg, "internal/") && pkg != "internal/config" {
			t.Errorf("ingress links %s", pkg)
		}
	}
}
