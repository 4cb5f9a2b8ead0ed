package ingress_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	temporalclient "go.temporal.io/sdk/client"

	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/internal/client"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/internal/workerapp"
)

// TestFaultTemporalRestartMidStorm survives the Temporal dev server being
// stopped and started again (same state) while a storm of alerts is in
// flight: senders post without pause through the stop and the restart, each
// alert its own incident. Every alert answered 2xx has its occurrence signal
// in Temporal's history after the restart; every other answer is a 503.
func TestFaultTemporalRestartMidStorm(t *testing.T) {
	start := restartableTemporal(t)
	tmp := start()
	t.Cleanup(func() { _ = tmp.Stop() })
	c, err := temporalclient.Dial(temporalclient.Options{HostPort: tmp.Address, Namespace: "default", Logger: testenv.QuietLogger()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	testenv.Worker(t, c, func(m *workerapp.Main) {
		m.Notifier = &testenv.Recorder{}
		m.Config.Incident.RescanInterval = 0
	})
	srv := MustIngress(t, client.New(c, "default"), func(cfg *ingress.Config) { cfg.SendTimeout = config.Duration(2 * time.Second) })
	const senders = 4
	hc := keepAlive(senders)
	url := srv.URL + "/v1/alerts"
	base := ruleFor(t)

	type sent struct {
		rule string
		answer
	}
	var (
		mu       sync.Mutex
		answers  []sent
		accepted atomic.Int64
		refused  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rule := fmt.Sprintf("%s s%d-%d", base, s, i)
				a := post(hc, url, alertBody(rule))
				switch {
				case a.err == nil && a.status/100 == 2:
					accepted.Add(1)
				case a.err == nil && a.status == http.StatusServiceUnavailable:
					refused.Add(1)
					time.Sleep(50 * time.Millisecond) // a sender backing off, not an assertion
				}
				mu.Lock()
				answers = append(answers, sent{rule, a})
				mu.Unlock()
			}
		}()
	}
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()

	testenv.Eventually(t, 60*time.Second, "alerts accepted before the outage", func() bool { return accepted.Load() >= 10 })
	if err := tmp.Stop(); err != nil {
		t.Fatalf("stop temporal: %v", err)
	}
	testenv.Eventually(t, 60*time.Second, "503s during the outage", func() bool { return refused.Load() >= senders })
	beforeRestart := accepted.Load()
	tmp = start()
	testenv.Eventually(t, 90*time.Second, "alerts accepted after the restart", func() bool { return accepted.Load() >= beforeRestart+10 })
	close(stop)
	wg.Wait()
	stopped = true

	var ok []sent
	for _, a := range answers {
		switch {
		case a.err == nil && a.status/100 == 2:
			ok = append(ok, a)
		case a.err == nil && a.status == http.StatusServiceUnavailable:
		default:
			t.Errorf("alert %q: status %d, err %v; want 2xx or 503", a.rule, a.status, a.err)
		}
	}
	t.Logf("%d requests: %d accepted (%d before the restart), %d refused with 503", len(answers), len(ok), beforeRestart, refused.Load())
	for _, a := range ok {
		if a.result.IncidentID == "" {
			t.Errorf("alert %q: 2xx without an incident ID", a.rule)
			continue
		}
		if n := signalsSent(t, c, a.result.IncidentID); n < 1 {
			t.Errorf("alert %q was answered %d but incident %s has no occurrence signal after the restart", a.rule, a.status, a.result.IncidentID)
		}
	}
	if int64(len(ok)) != accepted.Load() {
		t.Errorf("%d 2xx answers recorded, %d counted", len(ok), accepted.Load())
	}
}
