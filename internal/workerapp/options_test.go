package workerapp

import (
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
)

func TestWorkerOptionsFromConfig(t *testing.T) {
	w := config.Default().Worker
	w.MaxConcurrentActivities = 40
	w.MaxConcurrentLocalActivities = 300
	w.MaxConcurrentWorkflowTasks = 200
	w.WorkflowTaskPollers = 6
	w.ActivityTaskPollers = 3
	w.ShutdownTimeout = config.Duration(20 * time.Second)
	o := WorkerOptions(w)
	if o.MaxConcurrentActivityExecutionSize != 40 || o.MaxConcurrentLocalActivityExecutionSize != 300 ||
		o.MaxConcurrentWorkflowTaskExecutionSize != 200 || o.MaxConcurrentWorkflowTaskPollers != 6 ||
		o.MaxConcurrentActivityTaskPollers != 3 || o.WorkerStopTimeout != 20*time.Second {
		t.Errorf("worker.Options = %+v", o)
	}
	// Zero keeps the SDK's defaults.
	if o := WorkerOptions(config.Default().Worker); o.MaxConcurrentWorkflowTaskPollers != 0 || o.MaxConcurrentWorkflowTaskExecutionSize != 0 {
		t.Errorf("defaults = %+v, want zero (the SDK's)", o)
	}
}
