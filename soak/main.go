// Command soak runs irflow under a steady mixed load for a while and checks
// that nothing is lost or doubled: alerts sent vs occurrences counted, one
// Slack message per incident, alert→post latency and the worker's memory.
// The worker is the real binary (workers/) in a child process, so its memory
// is its own. `make soak` runs it (10 minutes); SOAK_DURATION or -duration
// shortens it. The JSON goes to stdout, progress to stderr; the exit code is
// non-zero when a count does not match. See docs/resilience.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	temporalclient "go.temporal.io/sdk/client"

	irslack "github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress/slackapp"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/workflows"
)

const (
	slackChannel  = "#5xx-error-logs" // where the default routes send "api 5xx spike"
	signingSecret = "soak-signing-secret"
	slackUser     = "USOAK"
	senders       = 32
)

// mix is the share of each operation in the soak, in percent.
var mix = []struct {
	op  string
	pct int
}{{"new", 40}, {"duplicate", 40}, {"acknowledge", 10}, {"resolve", 5}, {"click", 5}}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...) }

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loadMemory is the soak process's own memory: the Slack fake (which keeps
// every call), the Slack app's handler and the load generator.
func loadMemory() map[string]any {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"rss_mb": round2(float64(rssKB(os.Getpid())) / 1024), "go_heap_inuse_mb": round2(float64(ms.HeapInuse) / (1 << 20)), "goroutines": runtime.NumGoroutine()}
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
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

// soak is the run's shared state.
type soak struct {
	ctx   context.Context
	runID string
	ic    *client.Client
	fake  *testenv.Slack
	click string // the interactions URL

	sent      atomic.Int64 // occurrences accepted (Send returned nil)
	sendFails atomic.Int64
	nextAlert atomic.Int64
	ops       sync.Map // op name → *atomic.Int64 done
	opErrs    sync.Map // op name → *atomic.Int64 failed

	mu      sync.Mutex
	open    []incident.Alert     // incidents duplicates, acks and resolves may pick
	waiting map[string]time.Time // incident ID → when its first alert was sent
	toPost  []time.Duration
	posted  map[string]chan struct{} // incident ID → closed at its first post (saturation)
}

func (s *soak) count(m *sync.Map, op string) {
	v, _ := m.LoadOrStore(op, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (s *soak) alert() incident.Alert {
	return incident.Alert{Source: "soak", Rule: "api 5xx spike", Env: "soak", Severity: incident.SeverityHigh,
		QueryKey: map[string]string{"run": s.runID, "i": strconv.FormatInt(s.nextAlert.Add(1), 10)}}
}

// onPost times the first top-level post of each incident the soak timed.
func (s *soak) onPost(c testenv.SlackCall) {
	if c.Method != "chat.postMessage" || c.ThreadTS != "" || c.Error != "" {
		return
	}
	id := metadataIncident(c.Metadata)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t0, ok := s.waiting[id]; ok {
		s.toPost = append(s.toPost, c.At.Sub(t0))
		delete(s.waiting, id)
	}
	if ch, ok := s.posted[id]; ok {
		close(ch)
		delete(s.posted, id)
	}
}

func (s *soak) send(a incident.Alert) error {
	if _, err := s.ic.Send(s.ctx, workflows.Occurrence{Count: 1, Alert: a}); err != nil {
		s.sendFails.Add(1)
		return err
	}
	s.sent.Add(1)
	return nil
}

// newAlert opens an incident and times it to its Slack post.
func (s *soak) newAlert(timed bool) error { return s.newAlertOf(s.alert(), timed) }

func (s *soak) newAlertOf(a incident.Alert, timed bool) error {
	if timed {
		s.mu.Lock()
		s.waiting[workflows.IncidentWorkflowID(incident.Fingerprint(a))] = time.Now()
		s.mu.Unlock()
	}
	if err := s.send(a); err != nil {
		return err
	}
	s.mu.Lock()
	s.open = append(s.open, a)
	s.mu.Unlock()
	return nil
}

// pick returns a random open incident; remove takes it off the list first,
// so no duplicate is sent to an incident being resolved.
func (s *soak) pick(remove bool) (incident.Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return incident.Alert{}, false
	}
	i := rand.IntN(len(s.open))
	a := s.open[i]
	if remove {
		s.open[i] = s.open[len(s.open)-1]
		s.open = s.open[:len(s.open)-1]
	}
	return a, true
}

// press posts a signed block_actions payload to the interactions endpoint, as Slack does.
func (s *soak) press(action, id string) error {
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": slackUser, "username": "soak", "name": "soak"},
		"response_url": s.fake.URL() + "soak-response",
		"channel":      map[string]string{"id": "C1"},
		"actions":      []map[string]string{{"type": "button", "action_id": action, "block_id": "irflow_actions", "value": id}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.click, strings.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackapp.Sign(signingSecret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("interactions: %s", resp.Status)
	}
	return nil
}

// do runs one operation of the mix.
func (s *soak) do(op string) {
	var err error
	switch op {
	case "new":
		err = s.newAlert(true)
	case "duplicate":
		if a, ok := s.pick(false); ok {
			err = s.send(a)
		} else {
			op, err = "new", s.newAlert(true)
		}
	case "acknowledge":
		if a, ok := s.pick(false); ok {
			_, err = s.ic.Acknowledge(s.ctx, workflows.IncidentWorkflowID(incident.Fingerprint(a)), workflows.AcknowledgeRequest{By: "soak"})
			if incident.ErrorCode(err) == incident.ECONFLICT {
				err = nil // already acknowledged: the workflow said no, as it should
			}
		}
	case "resolve":
		if a, ok := s.pick(true); ok {
			_, err = s.ic.Resolve(s.ctx, workflows.IncidentWorkflowID(incident.Fingerprint(a)), workflows.ResolveRequest{By: "soak", Note: "soak"})
		}
	case "click":
		action := irslack.ActionAcknowledge
		resolve := rand.IntN(2) == 0
		if resolve {
			action = irslack.ActionResolve
		}
		if a, ok := s.pick(resolve); ok {
			err = s.press(action, workflows.IncidentWorkflowID(incident.Fingerprint(a)))
		}
	}
	if err != nil {
		s.count(&s.opErrs, op)
		return
	}
	s.count(&s.ops, op)
}

// saturation is the end-to-end rate: senders goroutines each send a distinct
// alert and wait for its Slack post before the next, for d. Send alone is
// accepted faster than the worker posts; a soak at a share of that rate would
// only grow a backlog.
func (s *soak) saturation(d, wait time.Duration) (float64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	end := start.Add(d)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				a := s.alert()
				id := workflows.IncidentWorkflowID(incident.Fingerprint(a))
				posted := make(chan struct{})
				s.mu.Lock()
				s.posted[id] = posted
				s.mu.Unlock()
				if err := s.newAlertOf(a, false); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				select {
				case <-posted:
					n.Add(1)
				case <-time.After(wait):
					firstErr.CompareAndSwap(nil, fmt.Errorf("saturation: %s not posted after %s", id, wait))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// load runs the mix at perSec operations per second for d.
func (s *soak) load(d time.Duration, perSec float64, middle func()) (behind int64) {
	ops := make(chan string, senders*4)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range ops {
				s.do(op)
			}
		}()
	}
	var deck []string
	for _, m := range mix {
		for range m.pct {
			deck = append(deck, m.op)
		}
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / perSec)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var issued int64
	half := false
	for now := range tick.C {
		el := now.Sub(start)
		if el >= d {
			break
		}
		if !half && el >= d/2 {
			half = true
			middle()
		}
		// Catch up on ticks a slow loop missed, so the rate holds.
		for want := int64(el.Seconds() * perSec); issued < want; issued++ {
			select {
			case ops <- deck[rand.IntN(len(deck))]:
			default:
				behind++ // every sender busy: the system is slower than the target rate
			}
		}
		if int(el/(10*time.Second)) != int((el-interval)/(10*time.Second)) {
			progress("%s: %d alerts sent", el.Round(time.Second), s.sent.Load())
		}
	}
	close(ops)
	wg.Wait()
	return behind
}

// tally counts occurrences over every incident run of the soak (running ones
// answer the status query, closed ones give their final state), and the
// Slack fake's top-level posts per incident.
type tally struct {
	Counted   int64          `json:"counted"`
	Incidents int            `json:"incidents"`
	Messages  int            `json:"slack_messages"`
	Unread    int            `json:"runs_unread"`
	Mismatch  map[string]int `json:"incidents_without_one_message,omitempty"` // incident ID → messages - runs
}

func (s *soak) tally(since time.Time) (tally, error) {
	incs, unread, err := s.ic.IncidentsSince(s.ctx, since, time.Now().Add(time.Hour))
	if err != nil {
		return tally{}, err
	}
	t := tally{Unread: unread, Mismatch: map[string]int{}}
	runs := map[string]int{}
	for _, inc := range incs {
		if inc.Alert.Source != "soak" || inc.Alert.QueryKey["run"] != s.runID {
			continue
		}
		t.Counted += int64(inc.Occurrences)
		t.Incidents++
		runs[inc.ID]++
	}
	posts := map[string]int{}
	for _, c := range s.fake.OKCalls("chat.postMessage") {
		if id := metadataIncident(c.Metadata); c.ThreadTS == "" && id != "" {
			posts[id]++
			t.Messages++
		}
	}
	for id, n := range runs {
		if posts[id] != n {
			t.Mismatch[id] = posts[id] - n
		}
	}
	for id, n := range posts {
		if _, ok := runs[id]; !ok {
			t.Mismatch[id] = n
		}
	}
	return t, nil
}

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run() (int, error) {
	def := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("SOAK_DURATION: %w", err)
		}
		def = d
	}
	duration := flag.Duration("duration", def, "how long the mixed load runs (env SOAK_DURATION)")
	satFor := flag.Duration("saturation", 20*time.Second, "how long the saturation rate is measured first")
	share := flag.Float64("load", 0.5, "the soak's rate as a share of the saturation rate")
	quiet := flag.Duration("settle", 3*time.Minute, "how long to wait at most for the counts to settle")
	sticky := flag.Int("sticky-cache", 256, "the worker's sticky cache bound (worker.sticky_cache_size): small, so the soak fills it and RSS can level off within the run")
	every := flag.Duration("sample", 30*time.Second, "how often the worker's memory is sampled during the run")
	flag.Parse()

	ctx := context.Background()
	bin, err := devstack.FindTemporal()
	if err != nil {
		return 0, err
	}
	home, err := os.MkdirTemp("", "irflow-soak-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(home)
	progress("starting Temporal dev server (%s, in %s)", bin, home)
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Bin: bin, Home: home, Port: freePort(), UIPort: freePort(), Log: io.Discard})
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	c, err := temporalclient.Dial(temporalclient.Options{HostPort: srv.Address, Logger: devstack.QuietLogger})
	if err != nil {
		return 0, err
	}
	defer c.Close()

	fake := testenv.StartSlack()
	defer fake.Close()
	for _, ch := range []string{"#alerts", slackChannel} {
		fake.AddChannel(ch)
	}
	s := &soak{ctx: ctx, runID: time.Now().Format("150405"), ic: client.New(c, "default"), fake: fake, waiting: map[string]time.Time{}, posted: map[string]chan struct{}{}}
	fake.OnCall(s.onPost)

	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	progress("building and starting the worker (sticky cache %d)", *sticky)
	w, err := startWorker(ctx, home, srv.Address, fake.URL(), *sticky)
	if err != nil {
		return 0, err
	}
	workerStopped := false
	defer func() {
		if !workerStopped {
			_ = w.stop()
		}
	}()
	workerStart := time.Now()

	h := slackapp.NewHandler(slackapp.Config{SlackApp: config.SlackApp{SigningSecret: signingSecret, AllowResolve: []string{slackUser}}}, s.ic, discard)
	clicks := httptest.NewServer(h)
	defer clicks.Close()
	s.click = clicks.URL + slackapp.InteractionsPath

	since := time.Now().Add(-time.Minute)
	memStart, loadStart := w.sample(ctx, c, workerStart), loadMemory()
	// Samples through the saturation burst and the load, to show the level
	// RSS settles at as the sticky cache fills.
	series := []sample{memStart}
	var seriesMu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				sm := w.sample(ctx, c, workerStart)
				seriesMu.Lock()
				series = append(series, sm)
				seriesMu.Unlock()
			}
		}
	}()
	progress("measuring saturation: distinct alerts from %d senders for %s", senders, *satFor)
	sat, err := s.saturation(*satFor, *quiet)
	if err != nil {
		return 0, err
	}
	target := sat * *share
	progress("saturation %.1f alerts/s; soak at %.1f ops/s for %s", sat, target, *duration)

	var memMiddle sample
	began := time.Now()
	behind := s.load(*duration, target, func() { memMiddle = w.sample(ctx, c, workerStart) })
	elapsed := time.Since(began)
	if elapsed > *duration+time.Second {
		progress("load took %s: operations outlasted the run", elapsed.Round(time.Second))
	}
	h.Wait()
	memEnd, loadEnd := w.sample(ctx, c, workerStart), loadMemory()
	close(stopSampling)
	<-sampled
	seriesMu.Lock()
	series = append(series, memEnd)
	seriesMu.Unlock()

	progress("load over (%d alerts sent); waiting for the counts to settle", s.sent.Load())
	var t tally
	settleStart := time.Now()
	for {
		t, err = s.tally(since)
		if err != nil {
			progress("tally: %v", err)
		}
		s.mu.Lock()
		waiting := len(s.waiting)
		s.mu.Unlock()
		if err == nil && t.Counted == s.sent.Load() && t.Messages == t.Incidents && len(t.Mismatch) == 0 && waiting == 0 && t.Unread == 0 {
			break
		}
		if time.Since(settleStart) > *quiet {
			progress("counts did not settle within %s", *quiet)
			break
		}
		progress("settling: sent %d counted %d, incidents %d messages %d, %d posts awaited", s.sent.Load(), t.Counted, t.Incidents, t.Messages, waiting)
		time.Sleep(3 * time.Second)
	}
	settled := time.Since(settleStart)
	workerStopped = true
	workerExit := "0 after SIGTERM"
	if err := w.stop(); err != nil {
		workerExit = err.Error()
	}

	opsDone, opsFailed := map[string]int64{}, map[string]int64{}
	s.ops.Range(func(k, v any) bool { opsDone[k.(string)] = v.(*atomic.Int64).Load(); return true })
	s.opErrs.Range(func(k, v any) bool { opsFailed[k.(string)] = v.(*atomic.Int64).Load(); return true })
	s.mu.Lock()
	toPost := slices.Clone(s.toPost)
	s.mu.Unlock()
	mixOut := map[string]int{}
	for _, m := range mix {
		mixOut[m.op] = m.pct
	}
	ok := t.Counted == s.sent.Load() && t.Messages == t.Incidents && len(t.Mismatch) == 0
	out := map[string]any{
		"machine":            map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version(), "temporal_cli": devstack.TemporalVersion},
		"what":               "saturation: distinct alerts via client.Client.Send from 32 senders, each waiting for its chat.postMessage at the Slack fake before the next (end to end); then the mix at a share of it against the real worker binary (a child process, with the real Slack notifier) and a Slack fake; clicks are signed block_actions through ingress/slackapp",
		"duration_s":         round2(elapsed.Seconds()),
		"saturation_per_s":   round2(sat),
		"target_ops_per_s":   round2(target),
		"achieved_ops_per_s": round2(float64(sum(opsDone)+sum(opsFailed)) / elapsed.Seconds()),
		"ops_behind":         behind,
		"mix_pct":            mixOut,
		"ops":                opsDone,
		"ops_failed":         opsFailed,
		"alerts_sent":        s.sent.Load(),
		"alerts_send_failed": s.sendFails.Load(),
		"alerts_counted":     t.Counted,
		"incidents":          t.Incidents,
		"slack_messages":     t.Messages,
		"runs_unread":        t.Unread,
		"settle_s":           round2(settled.Seconds()),
		"alert_to_post": map[string]any{
			"p50_ms": percentile(toPost, 0.5), "p99_ms": percentile(toPost, 0.99), "n": len(toPost),
		},
		"memory": map[string]any{
			"note":                      "the worker is the real binary (workers/) in a child process; start is before the saturation burst, middle halfway through the load, end when it stops; RSS is its /proc/<pid>/status VmRSS, the rest its /metrics",
			"sticky_cache_size":         *sticky,
			"start":                     memStart,
			"middle":                    memMiddle,
			"end":                       memEnd,
			"series":                    series,
			"rss_growth_second_half_mb": round2(memEnd.RSSMB - memMiddle.RSSMB),
			"load_process":              map[string]any{"start": loadStart, "end": loadEnd},
		},
		"worker_exit": workerExit,
		"ok":          ok,
	}
	if len(t.Mismatch) > 0 {
		out["incidents_without_one_message"] = t.Mismatch
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return 0, err
	}
	if !ok {
		progress("FAILED: sent %d counted %d, incidents %d messages %d", s.sent.Load(), t.Counted, t.Incidents, t.Messages)
		return 2, nil
	}
	return 0, nil
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
