package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
	"github.com/irflow/irflow/workflows"
)

// Adds and held signals racing continue-as-new all land, each once: no
// silence is added twice (Temporal may deliver an update completed in the
// continuing task again to the next run) and no signal is lost.
func TestDevServerSilencesAcrossContinueAsNew(t *testing.T) {
	c := testenv.Client(t)
	testenv.Worker(t, c, func(m *workerapp.Main) { m.Notifier = &testenv.Recorder{} })
	ctx := context.Background()
	// The client's own workflow, started small so the adds span several runs.
	_ = c.TerminateWorkflow(ctx, workflows.SilencesWorkflowID, "", "test starts clean")
	if _, err := c.ExecuteWorkflow(ctx, temporalclient.StartWorkflowOptions{ID: workflows.SilencesWorkflowID, TaskQueue: workflows.TaskQueue},
		workflows.SilencesWorkflowName, workflows.SilencesInput{MaxMessagesPerRun: 6}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), workflows.SilencesWorkflowID, "", "test over") })
	ic := client.New(c, "default")

	const n = 12
	slots := make(chan struct{}, 3) // three operators at once
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			s, err := ic.AddSilence(ctx, workflows.AddSilenceRequest{Matchers: []string{fmt.Sprintf("rule=devserver-%d", i)},
				EndsAt: time.Now().Add(time.Hour), By: "test"})
			ids[i], errs[i] = s.ID, err
			if err == nil {
				errs[i] = c.SignalWorkflow(ctx, workflows.SilencesWorkflowID, "", workflows.SignalSilenceHeld,
					workflows.SilenceHeld{SilenceID: s.ID, IncidentID: fmt.Sprintf("incident-devserver-%d", i)})
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			logRuns(t, c, workflows.SilencesWorkflowID, 0)
			t.Fatalf("add %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("ID %s given twice", ids[i])
		}
		seen[ids[i]] = true
	}
	var list []incident.Silence
	testenv.Eventually(t, 10*time.Second, "every held signal taken", func() bool {
		var err error
		if list, err = ic.Silences(ctx); err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, s := range list {
			held += len(s.Held)
		}
		return held >= n
	})
	if len(list) != n {
		t.Fatalf("%d silences listed, want %d", len(list), n)
	}
	for _, s := range list {
		i := slices.Index(ids, s.ID)
		if i < 0 || s.State(time.Now()) != incident.SilenceActive || !slices.Equal(s.Held, []string{fmt.Sprintf("incident-devserver-%d", i)}) {
			t.Errorf("listed %+v", s)
		}
	}
	runs := runsOf(t, c, workflows.SilencesWorkflowID)
	if len(runs) < 3 {
		t.Errorf("%d runs, want the adds to span several", len(runs))
	}
	t.Logf("%d adds over %d runs", n, len(runs))
}
