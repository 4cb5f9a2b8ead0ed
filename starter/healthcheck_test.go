package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheckCommand runs `starter healthcheck` as a container would:
// nil (exit 0) for a 2xx, an error naming the status and body (exit 1) for
// anything else.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "temporal unreachable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	run := func(args ...string) error {
		root := newRootCmd()
		root.SetArgs(append([]string{"healthcheck"}, args...))
		return root.Execute()
	}
	if err := run("--max-time", "2s", srv.URL+"/healthz"); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := run(srv.URL + "/readyz"); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable: temporal unreachable") {
		t.Errorf("unhealthy: err = %v", err)
	}
	if err := run(); err == nil {
		t.Error("no URL: want a usage error")
	}
}
