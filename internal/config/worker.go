package config

import (
	"fmt"
	"strconv"
)

// WorkerTuning sizes the worker's slots and pollers (Temporal's
// worker.Options). Zero keeps the SDK's default. docs/deploy.md explains the
// trade-offs; in short:
//   - more slots let one worker do more at once, at the cost of memory and of
//     the clients they share (Slack's rate limits, OpenSearch);
//   - more pollers only help when schedule-to-start latency grows while
//     slots are free;
//   - a bigger sticky cache replays fewer histories after a burst, at the cost
//     of memory (one cached incident is its state, a few tens of KB).
type WorkerTuning struct {
	// MaxConcurrentLocalActivities bounds local activities (notify, policy)
	// at once; SDK default 1000.
	MaxConcurrentLocalActivities int `yaml:"max_concurrent_local_activities"`
	// MaxConcurrentWorkflowTasks bounds workflow tasks executing at once;
	// SDK default 1000; 1 is refused by the SDK.
	MaxConcurrentWorkflowTasks int `yaml:"max_concurrent_workflow_tasks"`
	// WorkflowTaskPollers is the number of workflow task pollers; SDK
	// default 2; 1 is refused by the SDK (it would poll only the sticky queue).
	WorkflowTaskPollers int `yaml:"workflow_task_pollers"`
	// ActivityTaskPollers is the number of activity task pollers; SDK default 2.
	ActivityTaskPollers int `yaml:"activity_task_pollers"`
	// StickyCacheSize is how many workflow executions the process keeps in
	// memory between tasks; SDK default 10000. It is process-wide and taken
	// when the first worker starts.
	StickyCacheSize int `yaml:"sticky_cache_size"`
}

// Env names of the worker tuning keys (integers).
const (
	EnvWorkerMaxConcurrentActivities      = "IRFLOW_WORKER_MAX_CONCURRENT_ACTIVITIES"
	EnvWorkerMaxConcurrentLocalActivities = "IRFLOW_WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES"
	EnvWorkerMaxConcurrentWorkflowTasks   = "IRFLOW_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"
	EnvWorkerWorkflowTaskPollers          = "IRFLOW_WORKER_WORKFLOW_TASK_POLLERS"
	EnvWorkerActivityTaskPollers          = "IRFLOW_WORKER_ACTIVITY_TASK_POLLERS"
	EnvWorkerStickyCacheSize              = "IRFLOW_WORKER_STICKY_CACHE_SIZE"
)

func (t *WorkerTuning) validate() error {
	for _, f := range []struct {
		key    string
		v      int
		notOne bool
		why    string
	}{
		{"max_concurrent_local_activities", t.MaxConcurrentLocalActivities, false, ""},
		{"max_concurrent_workflow_tasks", t.MaxConcurrentWorkflowTasks, true, "a worker with one slot would poll only its sticky queue"},
		{"workflow_task_pollers", t.WorkflowTaskPollers, true, "one poller would poll only the sticky queue"},
		{"activity_task_pollers", t.ActivityTaskPollers, false, ""},
		{"sticky_cache_size", t.StickyCacheSize, false, ""},
	} {
		if f.v < 0 {
			return fmt.Errorf("worker.%s: must be 0 (the SDK default) or more, got %d", f.key, f.v)
		}
		if f.notOne && f.v == 1 {
			return fmt.Errorf("worker.%s: must be 0 (the SDK default) or at least 2, got 1: %s", f.key, f.why)
		}
	}
	return nil
}

// applyEnv reads the worker's integer env vars; a value that is not a whole
// number is an error naming the variable.
func (w *Worker) applyEnv(getenv func(string) string) error {
	for _, f := range []struct {
		dst  *int
		name string
	}{
		{&w.MaxConcurrentActivities, EnvWorkerMaxConcurrentActivities},
		{&w.MaxConcurrentLocalActivities, EnvWorkerMaxConcurrentLocalActivities},
		{&w.MaxConcurrentWorkflowTasks, EnvWorkerMaxConcurrentWorkflowTasks},
		{&w.WorkflowTaskPollers, EnvWorkerWorkflowTaskPollers},
		{&w.ActivityTaskPollers, EnvWorkerActivityTaskPollers},
		{&w.StickyCacheSize, EnvWorkerStickyCacheSize},
	} {
		if err := setInt(f.dst, f.name, getenv); err != nil {
			return err
		}
	}
	return nil
}

func setInt(dst *int, name string, getenv func(string) string) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not a whole number", name, v)
	}
	*dst = n
	return nil
}
