package ingress

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// countingSend records calls and the counts they carry, taking latency to
// answer like a Temporal frontend would.
type countingSend struct {
	calls, sum atomic.Int64
	latency    time.Duration
	err        error
}

func (c *countingSend) send(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
	c.calls.Add(1)
	c.sum.Add(int64(occ.Count))
	time.Sleep(c.latency)
	if c.err != nil {
		return workflows.SendResult{}, c.err
	}
	return incidentsFunc{}.Send(ctx, occ)
}

func TestStormCoalesces(t *testing.T) {
	const n = 1000
	cs := &countingSend{latency: 2 * time.Millisecond}
	srv := MustServer(t, Config{}, incidentsFunc{send: cs.send})
	h := srv.Handler()
	body := []byte(`{"source":"waf","rule":"blocked requests","env":"prod","query_key":{"client_ip":"203.0.113.7"}}`)

	statuses := make([]int, n)
	occurrences := make([]float64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := postJSON(t, h, "/v1/alerts", body)
			statuses[i] = r.Status
			occurrences[i], _ = r.Body["occurrences"].(float64)
		}()
	}
	wg.Wait()
	var batches float64
	for i, s := range statuses {
		if s != http.StatusAccepted {
			t.Fatalf("request %d: status %d", i, s)
		}
		batches += 1 / occurrences[i]
	}
	calls := cs.calls.Load()
	if got := cs.sum.Load(); got != n {
		t.Fatalf("sum of counts = %d, want %d", got, n)
	}
	if calls > n/10 {
		t.Fatalf("%d Sends for %d identical alerts, want far fewer", calls, n)
	}
	// Every request reports the count of the signal that carried it, so the
	// reports add up to one per Send.
	if math.Round(batches) != float64(calls) {
		t.Fatalf("responses describe %.2f signals, Send was called %d times", batches, calls)
	}
	t.Logf("%d requests → %d Sends", n, calls)
}

func TestStormErrorFailsWholeBatch(t *testing.T) {
	const n = 200
	cs := &countingSend{latency: 2 * time.Millisecond, err: incident.Errorf(incident.EUNAVAILABLE, "temporal down")}
	h := MustServer(t, Config{}, incidentsFunc{send: cs.send}).Handler()
	var wg sync.WaitGroup
	var ok, unavailable atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := postJSON(t, h, "/v1/alerts", []byte(`{"source":"waf","rule":"blocked requests"}`))
			if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" {
				unavailable.Add(1)
			} else {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if unavailable.Load() != n || cs.sum.Load() != n || cs.calls.Load() >= n {
		t.Fatalf("503s %d of %d, counts sent %d, Sends %d", unavailable.Load(), n, cs.sum.Load(), cs.calls.Load())
	}
}

func TestCoalescerBatchesDuringFlight(t *testing.T) {
	started := make(chan workflows.Occurrence, 4)
	release := make(chan struct{})
	send := func(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
		started <- occ
		<-release
		return workflows.SendResult{RunID: "r"}, nil
	}
	c := newCoalescer(send, 0, time.Second, 4)
	alert := incident.Alert{Source: "s", Rule: "r"}
	fp := incident.Fingerprint(alert)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var wg sync.WaitGroup
	submit := func(i int) {
		defer wg.Done()
		a := alert
		a.Title = fmt.Sprint("alert ", i)
		at := t0.Add(time.Duration(i) * time.Second)
		if _, _, err := c.submit(context.Background(), workflows.Occurrence{Count: 1, Alert: a, FirstSeen: at, LastSeen: at}); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go submit(0)
	first := <-started
	// Ten more arrive while the first Send is in flight, newest in the middle.
	for _, i := range []int{3, 9, 1, 5, 10, 2, 8, 4, 7, 6} {
		wg.Add(1)
		go submit(i)
	}
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		s := c.slots[fp]
		return s != nil && s.pending != nil && s.pending.requests == 10
	})
	release <- struct{}{}
	second := <-started
	release <- struct{}{}
	wg.Wait()
	if first.Count != 1 || second.Count != 10 {
		t.Fatalf("counts %d, %d; want 1, 10", first.Count, second.Count)
	}
	if !second.FirstSeen.Equal(t0.Add(time.Second)) || !second.LastSeen.Equal(t0.Add(10*time.Second)) || second.Alert.Title != "alert 10" {
		t.Fatalf("second batch: first %v last %v title %q", second.FirstSeen, second.LastSeen, second.Alert.Title)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.slots) != 0 {
		t.Fatalf("%d slots left after all sends finished", len(c.slots))
	}
}

// A storm on one fingerprint against a slow Temporal: one Send in flight at
// a time, so the signals are few and full, and every occurrence counted once.
func TestCoalescerOneSendPerFingerprint(t *testing.T) {
	const window, latency, n = 5 * time.Millisecond, 20 * time.Millisecond, 2000
	var cur, peak, calls, sum atomic.Int64
	send := func(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
		calls.Add(1)
		sum.Add(int64(occ.Count))
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(latency)
		cur.Add(-1)
		return workflows.SendResult{}, nil
	}
	c := newCoalescer(send, window, time.Second, 64)
	a := incident.Alert{Source: "s", Rule: "storm"}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%200) * time.Millisecond) // spread over 200 ms
			if _, _, err := c.submit(context.Background(), workflows.Occurrence{Count: 1, Alert: a}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if sum.Load() != n {
		t.Fatalf("counts sum to %d, want %d", sum.Load(), n)
	}
	if p := peak.Load(); p != 1 {
		t.Fatalf("peak Sends in flight for one fingerprint %d, want 1", p)
	}
	// 200 ms of arrivals, a Send every latency+: about ten, never one per alert.
	if calls.Load() > 20 {
		t.Fatalf("%d Sends for %d occurrences over 200 ms", calls.Load(), n)
	}
	t.Logf("%d occurrences → %d Sends", n, calls.Load())
}

// A critical followed within the window by a low raises the incident: the
// signal carries the latest alert with the highest severity of its batch.
func TestCoalescerKeepsHighestSeverity(t *testing.T) {
	got := make(chan workflows.Occurrence, 4)
	send := func(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
		got <- occ
		return workflows.SendResult{}, nil
	}
	c := newCoalescer(send, 50*time.Millisecond, time.Second, 4)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i, sev := range []incident.Severity{incident.SeverityCritical, incident.SeverityLow, incident.SeverityUnknown} {
		a := incident.Alert{Source: "s", Rule: "r", Severity: sev, Title: fmt.Sprint("alert ", i)}
		at := t0.Add(time.Duration(i) * time.Second)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.submit(context.Background(), workflows.Occurrence{Count: 1, Alert: a, FirstSeen: at, LastSeen: at}); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(2 * time.Millisecond) // arrive in this order, well within the window
	}
	wg.Wait()
	occ := <-got
	if occ.Count != 3 || occ.Alert.Severity != incident.SeverityCritical || occ.Alert.Title != "alert 2" {
		t.Fatalf("signal count %d severity %s title %q; want 3, critical, the latest alert's title", occ.Count, occ.Alert.Severity, occ.Alert.Title)
	}
	// And regardless of arrival order.
	into := workflows.Occurrence{Count: 1, Alert: incident.Alert{Severity: incident.SeverityLow, Title: "new"}, LastSeen: t0.Add(time.Hour)}
	merge(&into, workflows.Occurrence{Count: 1, Alert: incident.Alert{Severity: incident.SeverityHigh, Title: "old"}, LastSeen: t0})
	if into.Alert.Severity != incident.SeverityHigh || into.Alert.Title != "new" {
		t.Fatalf("merge of an older high into a newer low: %+v", into.Alert)
	}
}

func TestCoalescerBoundsInflight(t *testing.T) {
	const limit, fingerprints = 4, 24
	var cur, peak atomic.Int64
	send := func(ctx context.Context, occ workflows.Occurrence) (workflows.SendResult, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		cur.Add(-1)
		return workflows.SendResult{}, nil
	}
	c := newCoalescer(send, time.Millisecond, time.Second, limit)
	var wg sync.WaitGroup
	for i := range fingerprints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := incident.Alert{Source: "s", Rule: fmt.Sprint("rule ", i)}
			if _, n, err := c.submit(context.Background(), workflows.Occurrence{Count: 1, Alert: a}); err != nil || n != 1 {
				t.Errorf("count %d err %v", n, err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p < 2 {
		t.Fatalf("peak concurrent Sends %d, want 2..%d", p, limit)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
