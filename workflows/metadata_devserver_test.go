package workflows_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// TestDevServerIncidentShowsItsTitleInTheWebUI: what the Temporal Web UI's
// workflow list and page show for a new incident (its user metadata), next to
// the search attributes saved views filter on.
func TestDevServerIncidentShowsItsTitleInTheWebUI(t *testing.T) {
	c := testenv.Client(t)
	rec := &testenv.Recorder{}
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = rec })
	ic := client.New(c, "default")
	alert := alertFor(t)
	alert.Title = "5xx spike on checkout"

	res, err := ic.Send(context.Background(), workflows.Occurrence{Count: 1, Alert: alert})
	if err != nil {
		t.Fatal(err)
	}
	cleanupIncident(t, c, res.IncidentID)
	desc, err := c.DescribeWorkflow(context.Background(), res.IncidentID, "")
	if err != nil {
		t.Fatal(err)
	}
	summary, err := desc.GetStaticSummary()
	if err != nil {
		t.Fatal(err)
	}
	if summary != "🚨 high · 5xx spike on checkout" {
		t.Errorf("summary = %q", summary)
	}
	details, err := desc.GetStaticDetails()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**🚨 high · 5xx spike on checkout**", "- **rule**: " + alert.Rule, "- **env**: prod", "- **kubernetes.namespace_name**: payments"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	// The saved views docs/web-ui.md tells people to create find it (or not).
	views := savedViews(t)
	if len(views) != 3 {
		t.Fatalf("docs/web-ui.md lists %d saved views, want 3: %v", len(views), views)
	}
	want := map[string]bool{"open critical": false, "unacknowledged > 15 min": true, "by rule": true}
	for name, q := range views {
		shown, ok := want[name]
		if !ok {
			t.Errorf("unexpected view %q", name)
			continue
		}
		q = strings.NewReplacer("<rule>", alert.Rule,
			"<15 minutes ago>", time.Now().Add(time.Minute).UTC().Format(time.RFC3339)).Replace(q)
		testenv.Eventually(t, 10*time.Second, "view "+name, func() bool {
			resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: q})
			if err != nil {
				t.Fatalf("view %q: query %s: %v", name, q, err)
			}
			found := false
			for _, e := range resp.GetExecutions() {
				found = found || e.GetExecution().GetWorkflowId() == res.IncidentID
			}
			return found == shown
		})
	}
}

// savedViews reads the saved views table of docs/web-ui.md: name -> query.
func savedViews(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../docs/web-ui.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| ([^|`]+) \\| `([^`]+)` \\|$").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}
