package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	irslack "github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

const slackChannel = "#5xx-error-logs"

// benchSlack: issue 5's figures. Alert → chat.postMessage received by a fake
// Slack on loopback, through the real worker and the real Slack notifier, vs
// the start-to-first-activity floor; and a 5,000-occurrence storm's posts and
// edits. Every incident worker polls the same task queue, so the env's worker
// (bench notifier) is stopped for this section and a fresh one replaces it
// afterwards; only the Slack worker takes incidents meanwhile.
func benchSlack(e *env) (map[string]any, error) {
	fake := testenv.StartSlack()
	defer fake.Close()
	for _, ch := range []string{"#alerts", slackChannel} {
		fake.AddChannel(ch)
	}
	// The fake calls this before answering: the moment Slack would have the message.
	fake.OnCall(func(c testenv.SlackCall) {
		if c.Method != "chat.postMessage" || c.ThreadTS != "" || c.Error != "" {
			return
		}
		if id := metadataIncident(c.Metadata); id != "" {
			e.arr.mark("slack:" + id)
		}
	})
	// The default routes: "api 5xx spike" goes to #5xx-error-logs.
	scfg := config.Default().Slack
	scfg.Token, scfg.APIURL = "xoxb-bench", fake.URL()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := irslack.New(scfg, irslack.WithLogger(quiet))
	if err != nil {
		return nil, err
	}

	progress("stopping the bench worker; starting a worker with the Slack notifier (notify_interval 1s)")
	cfg := e.benchCfg
	cfg.Slack = scfg
	cfg.Incident.NotifyInterval = config.Duration(time.Second)
	cfg.Archive.URL = "file://" + filepath.Join(e.home, "archive-slack")
	var started []string
	defer func() {
		for _, id := range started {
			_ = e.c.TerminateWorkflow(context.Background(), id, "", "bench over")
		}
		e.restoreWorker() // later sections get a bench-notifier worker again
	}()
	if err := e.useWorker(cfg, n); err != nil {
		return nil, err
	}

	send := func(a incident.Alert, count int) (string, error) {
		res, err := e.ic.Send(e.ctx, workflows.Occurrence{Count: count, Alert: a})
		if err != nil {
			return "", err
		}
		if res.New {
			started = append(started, res.WorkflowID)
		}
		return res.IncidentID, nil
	}
	alert := func(tag string, i int) incident.Alert {
		return incident.Alert{Source: "bench", Rule: "api 5xx spike", Env: "bench", Severity: incident.SeverityHigh,
			QueryKey: map[string]string{"run": e.runID, "i": tag + strconv.Itoa(i)}}
	}

	progress("slack latency: warm-up, then 200 alerts one at a time against 200 start-to-first-activity floors")
	var floor, toPost []time.Duration
	for i := range 220 {
		id := fmt.Sprintf("slack-floor-%s-%d", e.runID, i)
		ch := e.arr.wait(id)
		t0 := time.Now()
		if _, err := e.c.ExecuteWorkflow(e.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: baselineQueue}, "BenchFirstActivity", id); err != nil {
			return nil, err
		}
		fl := (<-ch).Sub(t0)

		a := alert("lat", i)
		ch = e.arr.wait("slack:" + workflows.IncidentWorkflowID(incident.Fingerprint(a)))
		t0 = time.Now()
		incID, err := send(a, 1)
		if err != nil {
			return nil, err
		}
		var tp time.Duration
		select {
		case t1 := <-ch:
			tp = t1.Sub(t0)
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("alert %s never reached chat.postMessage", incID)
		}
		if i >= 20 { // the first 20 warm up connections and caches on both paths
			floor, toPost = append(floor, fl), append(toPost, tp)
		}
	}
	fl, sp := summarize(floor), summarize(toPost)
	progress("slack latency: floor p50 %.1f ms, alert→chat.postMessage p50 %.1f ms", fl.P50ms, sp.P50ms)

	storm, err := slackStorm(e, fake, send, alert("storm", 0))
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"slack_alert_to_post": map[string]any{
			"what":             "client.Client.Send → chat.postMessage received by the Slack fake (real worker, local notify activity, real Slack notifier incl. Find), 200 alerts one at a time after 20 warm-up, vs start workflow → first activity running",
			"floor":            fl,
			"slack":            sp,
			"p50_ratio":        round2(sp.P50ms / fl.P50ms),
			"target_p50_ratio": 1.5,
		},
		"slack_storm": storm,
	}, nil
}

// slackStorm sends 5,000 occurrences of one alert as 5,000 signals from 50
// senders with notify_interval 1s, and counts what reached Slack.
func slackStorm(e *env, fake *testenv.Slack, send func(incident.Alert, int) (string, error), a incident.Alert) (map[string]any, error) {
	const total, senders = 5000, 50
	const interval = time.Second
	progress("slack storm: %d occurrence signals from %d senders, notify_interval %s", total, senders, interval)
	start := time.Now()
	id, err := send(a, 1)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	next.Store(1)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				if _, err := e.ic.Send(e.ctx, workflows.Occurrence{Count: 1, Alert: a}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("storm send: %w", err)
	}
	sent := time.Since(start)

	// Wait until the message shows the total, then one interval more for stragglers.
	want := fmt.Sprintf(`*Occurrences*\n%d`, total)
	var post testenv.SlackCall
	deadline := time.Now().Add(2 * time.Minute)
	for {
		posts := stormPosts(fake, id)
		if len(posts) > 0 {
			post = posts[0]
			if shown(fake, post.TS) == total {
				break
			}
		}
		if time.Now().After(deadline) {
			// Say what the workflow itself knows, so a stuck message can be told from a stuck incident.
			state := "status query failed"
			if inc, err := e.ic.Get(e.ctx, id); err == nil {
				tail := inc.Timeline[max(0, len(inc.Timeline)-8):]
				state = fmt.Sprintf("workflow counts %d occurrences, run %s, last timeline %+v", inc.Occurrences, inc.RunID, tail)
			}
			return nil, fmt.Errorf("storm: the message never showed %s (shows %d, %d updates); %s",
				want, shown(fake, post.TS), len(fake.Calls("chat.update")), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	shownAt := time.Now()
	time.Sleep(interval + 500*time.Millisecond)
	var updates []testenv.SlackCall
	for _, c := range fake.OKCalls("chat.update") {
		if c.TS == post.TS {
			updates = append(updates, c)
		}
	}
	posts := stormPosts(fake, id)
	var elapsed time.Duration
	if len(updates) > 0 {
		elapsed = updates[len(updates)-1].At.Sub(post.At)
	}
	limit := int(elapsed/interval) + 1
	var maxGap time.Duration
	prev := post.At
	var edits [][2]float64 // seconds after the post, occurrences shown
	for _, u := range updates {
		maxGap, prev = max(maxGap, u.At.Sub(prev)), u.At
		n := 0
		if g := occurrencesField.FindSubmatch(u.Blocks); g != nil {
			n, _ = strconv.Atoi(string(g[1]))
		}
		edits = append(edits, [2]float64{round2(u.At.Sub(post.At).Seconds()), float64(n)})
	}
	// An edit with an older count than one before it comes from a workflow
	// task Temporal failed and replayed (see docs/slack.md, "When Slack says no").
	var outOfOrder, highest int
	for _, u := range fake.Calls("chat.update") {
		if g := occurrencesField.FindSubmatch(u.Blocks); g != nil {
			n, _ := strconv.Atoi(string(g[1]))
			if n < highest {
				outOfOrder++
			}
			highest = max(highest, n)
		}
	}
	progress("slack storm: %d posts, %d updates over %s (limit %d)", len(posts), len(updates), elapsed.Round(time.Millisecond), limit)
	if len(posts) != 1 || len(updates) > limit {
		return nil, fmt.Errorf("storm: %d posts and %d updates in %s; want 1 post and at most %d updates", len(posts), len(updates), elapsed, limit)
	}
	return map[string]any{
		"what":                     "5,000 occurrence signals of one alert via client.Client.Send, 50 senders, notify_interval 1s; calls counted at the Slack fake",
		"occurrences":              total,
		"signals":                  total,
		"senders":                  senders,
		"notify_interval_s":        interval.Seconds(),
		"send_s":                   round2(sent.Seconds()),
		"chat_post_message":        len(posts),
		"chat_update":              len(updates),
		"post_to_last_update_s":    round2(elapsed.Seconds()),
		"update_limit":             limit,
		"max_gap_between_edits_s":  round2(maxGap.Seconds()),
		"edits":                    edits,
		"edits_out_of_order":       outOfOrder,
		"workflow_tasks_failed":    failedTasks(e, id),
		"send_end_after_post_s":    round2(start.Add(sent).Sub(post.At).Seconds()),
		"final_occurrences_shown":  shown(fake, post.TS),
		"total_shown_after_send_s": round2(shownAt.Sub(start.Add(sent)).Seconds()),
	}, nil
}

// stormPosts are the top-level posts of the incident, failed ones included.
func stormPosts(fake *testenv.Slack, id string) []testenv.SlackCall {
	var out []testenv.SlackCall
	for _, c := range fake.Calls("chat.postMessage") {
		if c.ThreadTS == "" && metadataIncident(c.Metadata) == id {
			out = append(out, c)
		}
	}
	return out
}

var occurrencesField = regexp.MustCompile(`\*Occurrences\*\\n(\d+)`)

// shown is the occurrence count the message ts currently displays.
func shown(fake *testenv.Slack, ts string) int {
	for _, m := range fake.Messages(slackChannel) {
		if m.TS == ts {
			if g := occurrencesField.FindSubmatch(m.Blocks); g != nil {
				n, _ := strconv.Atoi(string(g[1]))
				return n
			}
		}
	}
	return 0
}

func metadataIncident(md json.RawMessage) string {
	if len(md) == 0 || !strings.Contains(string(md), irslack.MetadataEventType) {
		return ""
	}
	var m struct {
		EventPayload struct {
			IncidentID string `json:"incident_id"`
		} `json:"event_payload"`
	}
	_ = json.Unmarshal(md, &m)
	return m.EventPayload.IncidentID
}

// failedTasks counts the incident's failed workflow tasks by cause, over all
// its runs: FORCE_CLOSE_COMMAND means Temporal failed a task because more
// than 100 signals arrived while it ran.
func failedTasks(e *env, id string) map[string]int {
	out := map[string]int{}
	resp, err := e.c.ListWorkflow(e.ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = %q", id)})
	if err != nil {
		out["list: "+err.Error()]++
		return out
	}
	for _, x := range resp.GetExecutions() {
		it := e.c.GetWorkflowHistory(e.ctx, id, x.GetExecution().GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
				out[strings.TrimPrefix(a.GetCause().String(), "WORKFLOW_TASK_FAILED_CAUSE_")]++
			}
		}
	}
	return out
}
