package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/up":
			w.Write([]byte("ok\n"))
		case "/down":
			http.Error(w, "temporal unreachable: connection refused", http.StatusServiceUnavailable)
		case "/500":
			w.WriteHeader(http.StatusInternalServerError)
		case "/slow":
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)

	tests := []struct {
		path, wantErr string
	}{
		{"/up", ""},
		{"/down", "503 Service Unavailable: temporal unreachable: connection refused"},
		{"/500", "/500: 500 Internal Server Error"},
		{"/slow", "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			start := time.Now()
			err := Check(context.Background(), srv.URL+tt.path, 200*time.Millisecond)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s, want about the timeout", took)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want ...%q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if err := Check(context.Background(), url+"/healthz", time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("err = %v, want connection refused", err)
	}
}
