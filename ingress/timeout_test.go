package ingress

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/workflows"
)

// rawPost writes a POST's headers announcing length bytes of body, then
// trickles the body a byte per gap until the server answers or the
// connection ends, and returns the answer.
func rawPost(t *testing.T, addr, path string, length int, gap time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: irflow\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", path, testToken, length)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body, time.Since(start)
}

// A client trickling its body is answered 408, with the reason, once
// read_timeout has passed since its headers; it cannot hold the connection.
func TestSlowBodyGets408(t *testing.T) {
	cfg := Config{Ingress: config.Ingress{ReadTimeout: config.Duration(300 * time.Millisecond)}}
	srv := MustServer(t, cfg, newRecorder())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	resp, body, took := rawPost(t, ts.Listener.Addr().String(), "/v1/alerts", 1000, 50*time.Millisecond)
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("status %d body %q: %v", resp.StatusCode, body, err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || e.Reason != "timeout" ||
		!strings.HasPrefix(e.Error, "body: not received within 300ms of the headers (ingress.read_timeout);") {
		t.Fatalf("status %d body %s, want 408 naming ingress.read_timeout", resp.StatusCode, body)
	}
	if took > 3*time.Second {
		t.Fatalf("answered after %s, want about 300ms", took)
	}
	if !resp.Close {
		t.Error("408 without Connection: close")
	}
	if m := scrape(t, srv.Handler()); !strings.Contains(m, `irflow_alerts_rejected_total{reason="timeout",source="unknown"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(m, "irflow_alerts_"))
	}
	// A body that is slow but arrives in time is fine.
	resp, body, _ = rawPost(t, ts.Listener.Addr().String(), "/v1/alerts", 3, 20*time.Millisecond)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"reason":"invalid"`) {
		t.Fatalf("a complete body (\"{  \"): status %d %s, want 400 invalid JSON", resp.StatusCode, body)
	}
}

// When Temporal does not answer (a Send that ignores its deadline, a queue
// for send slots), the sender still gets a 503 before write_timeout closes
// the connection under it.
func TestAnswerBeforeWriteTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := incidentsFunc{send: func(context.Context, workflows.Occurrence) (workflows.SendResult, error) {
		<-release
		return workflows.SendResult{}, nil
	}}
	cfg := Config{Ingress: config.Ingress{WriteTimeout: config.Duration(1600 * time.Millisecond), SendTimeout: config.Duration(1500 * time.Millisecond)}}
	srv := MustServer(t, cfg, hang)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.WriteTimeout = time.Duration(cfg.WriteTimeout)
	ts.Start()
	t.Cleanup(ts.Close)
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/alerts", strings.NewReader(`{"source":"ci","rule":"a"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	hc := ts.Client()
	hc.Timeout = 10 * time.Second
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("after %s: %v; want a 503 answer, not a dropped connection", time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"reason":"unavailable"`) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}
