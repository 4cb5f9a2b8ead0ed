package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

const benchIngressToken = "bench-ingress-token"

// ingressBench is a real ingress server on loopback in front of the bench's
// incidents client, and a keep-alive HTTP client for it.
type ingressBench struct {
	url    string
	hc     *http.Client
	reg    *prometheus.Registry
	window time.Duration
}

func (b *ingressBench) post(body string) error {
	req, err := http.NewRequest(http.MethodPost, b.url+"/v1/alerts", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchIngressToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/alerts: %d %s", resp.StatusCode, msg)
	}
	return nil
}

// signals reads irflow_ingress_signals_total from the server's registry.
func (b *ingressBench) signals() (float64, error) {
	mfs, err := b.reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "irflow_ingress_signals_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue(), nil
		}
	}
	return 0, fmt.Errorf("irflow_ingress_signals_total not found")
}

func ingressAlert(rule string) string {
	return fmt.Sprintf(`{"source":"bench","rule":%q,"env":"bench","severity":"low","title":"bench"}`, rule)
}

// benchIngress: issue 4's figures. Distinct alerts over HTTP vs raw
// SignalWithStart, a one-fingerprint storm, and latency at half saturation.
func benchIngress(e *env) (map[string]any, error) {
	reg := prometheus.NewRegistry()
	srv, err := ingress.NewServer(ingress.Config{Ingress: config.Ingress{Tokens: map[string]string{"bench": benchIngressToken}}, Registry: reg},
		e.ic, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// The timeouts starter serve uses (internal/ingressapp).
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: config.DefaultReadHeaderTimeout,
		ReadTimeout: config.DefaultReadHeaderTimeout + config.DefaultReadTimeout, WriteTimeout: config.DefaultWriteTimeout, IdleTimeout: config.DefaultIdleTimeout}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	const maxConns = 128
	b := &ingressBench{
		url: "http://" + ln.Addr().String(),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns,
		}},
		reg:    reg,
		window: config.DefaultCoalesceWindow,
	}

	// Every distinct alert opens an incident; the storm and the latency phase
	// wait until the worker has announced them all, so they start on an idle worker.
	var announced []chan time.Time
	var announcedMu sync.Mutex
	distinct := func(tag string) func(i int) error {
		return func(i int) error {
			rule := fmt.Sprintf("ingress %s %s %d", e.runID, tag, i)
			a := incident.Alert{Source: "bench", Rule: rule, Env: "bench"}
			ch := e.arr.wait(workflows.IncidentWorkflowID(incident.Fingerprint(a)))
			announcedMu.Lock()
			announced = append(announced, ch)
			announcedMu.Unlock()
			return b.post(ingressAlert(rule))
		}
	}

	const n, conc = 400, 32
	progress("ingress warm-up")
	if _, err := e.rawRate("ingress-warm", 100, conc); err != nil {
		return nil, err
	}
	if _, err := rate(100, conc, distinct("warm")); err != nil {
		return nil, err
	}
	var rawRates, httpRates []float64
	for round := range 3 {
		progress("ingress throughput round %d: %d raw SignalWithStart, %d distinct alerts over HTTP, %d clients", round+1, n, n, conc)
		r, err := e.rawRate(fmt.Sprint("ingress-", round), n, conc)
		if err != nil {
			return nil, fmt.Errorf("raw SignalWithStart: %w", err)
		}
		h, err := rate(n, conc, distinct(fmt.Sprint(round)))
		if err != nil {
			return nil, fmt.Errorf("ingress distinct alerts: %w", err)
		}
		rawRates, httpRates = append(rawRates, r), append(httpRates, h)
	}
	slices.Sort(rawRates)
	slices.Sort(httpRates)
	rawMed, httpMed := rawRates[1], httpRates[1]
	progress("ingress throughput: raw %.0f/s, HTTP %.0f/s", rawMed, httpMed)

	progress("ingress: waiting for the worker to announce all %d incidents", len(announced))
	for _, ch := range announced {
		select {
		case <-ch:
		case <-time.After(5 * time.Minute):
			return nil, fmt.Errorf("the worker did not announce every incident within 5 minutes")
		}
	}

	// The storm runs on an idle worker, so its baseline is taken the same way.
	progress("ingress: raw SignalWithStart baseline on the idle worker")
	rawIdle, err := e.rawRate("ingress-idle", n, conc)
	if err != nil {
		return nil, fmt.Errorf("raw SignalWithStart: %w", err)
	}

	// One fingerprint, many senders: the coalescer folds them into few signals.
	const stormN, stormConc = 10000, 64
	stormRule := fmt.Sprintf("ingress storm %s", e.runID)
	stormBody := ingressAlert(stormRule)
	stormID := workflows.IncidentWorkflowID(incident.Fingerprint(incident.Alert{Source: "bench", Rule: stormRule, Env: "bench"}))
	before, err := b.signals()
	if err != nil {
		return nil, err
	}
	progress("ingress storm: %d posts of one alert from %d clients", stormN, stormConc)
	stormStart := time.Now()
	stormRate, err := rate(stormN, stormConc, func(int) error { return b.post(stormBody) })
	if err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	stormDur := time.Since(stormStart)
	after, err := b.signals()
	if err != nil {
		return nil, err
	}
	metricSignals := int(after - before)
	historySignals, err := countOccurrenceSignals(e, stormID)
	if err != nil {
		return nil, err
	}
	var occurrences int
	deadline := time.Now().Add(time.Minute)
	for {
		inc, err := e.ic.Get(e.ctx, stormID)
		if err == nil {
			occurrences = inc.Occurrences
		}
		if occurrences == stormN || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	windows := stormDur.Seconds() / b.window.Seconds()
	progress("ingress storm: %.0f accepted/s, %d signals (history %d), %d occurrences", stormRate, metricSignals, historySignals, occurrences)

	// Open loop at half the measured saturation: requests start on schedule
	// whether or not earlier ones finished; latency counts from the scheduled
	// start, so a stalled server cannot hide its queue.
	paced := httpMed / 2
	const pacedFor = 10 * time.Second
	total := int(paced * pacedFor.Seconds())
	progress("ingress latency: %d distinct alerts at %.0f/s (half of %.0f/s), open loop", total, paced, httpMed)
	lat := make([]time.Duration, total)
	errs := make([]error, total)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range total {
		at := t0.Add(time.Duration(float64(i) / paced * float64(time.Second)))
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = distinct("paced")(i)
			lat[i] = time.Since(at)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("paced load: %w", err)
		}
	}
	pl := summarize(lat)

	return map[string]any{
		"ingress_throughput": map[string]any{
			"what":                    "distinct alerts/s POSTed to a real ingress server on loopback (keep-alive) vs a raw SignalWithStart loop on an empty workflow; median of 3 interleaved rounds",
			"clients":                 conc,
			"per_round":               n,
			"raw_signal_with_start_s": round2(rawMed),
			"ingress_alerts_s":        round2(httpMed),
			"ratio":                   round2(httpMed / rawMed),
			"target_ratio":            0.85,
			"rounds_raw":              roundAll(rawRates),
			"rounds_ingress":          roundAll(httpRates),
		},
		"ingress_storm": map[string]any{
			"what":                      "one alert POSTed 10,000 times from 64 keep-alive clients, on an idle worker, vs a raw SignalWithStart loop (32 clients) just before it",
			"requests":                  stormN,
			"clients":                   stormConc,
			"accepted_s":                round2(stormRate),
			"raw_signal_with_start_s":   round2(rawIdle),
			"ratio_to_raw":              round2(stormRate / rawIdle),
			"target_ratio_to_raw":       20,
			"signals_sent":              metricSignals,
			"signals_in_history":        historySignals,
			"occurrences_counted":       occurrences,
			"coalesce_window_ms":        float64(b.window.Microseconds()) / 1000,
			"duration_s":                round2(stormDur.Seconds()),
			"signals_per_window":        round2(float64(metricSignals) / windows),
			"target_signals_per_window": 1,
		},
		"ingress_latency": map[string]any{
			"what":          "POST /v1/alerts latency (from scheduled start) of distinct alerts, open loop at half the saturation rate above, for 10 s",
			"rate_s":        round2(paced),
			"saturation_s":  round2(httpMed),
			"post_latency":  pl,
			"requests_sent": total,
		},
	}, nil
}

// countOccurrenceSignals counts occurrence signals in every run of workflow id.
func countOccurrenceSignals(e *env, id string) (int, error) {
	n, runID := 0, ""
	for range 1000 {
		it := e.c.GetWorkflowHistory(e.ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		prev := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, fmt.Errorf("history of %s: %w", id, err)
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				prev = ev.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalOccurrence {
					n++
				}
			}
		}
		if prev == "" {
			return n, nil
		}
		runID = prev
	}
	return 0, fmt.Errorf("%s: more than 1000 runs", id)
}
