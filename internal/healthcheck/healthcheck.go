// Package healthcheck is `starter healthcheck`: the probe a distroless
// container (no shell, no wget) runs on itself as its ECS health check.
package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Check GETs url and returns nil when it answers 2xx within timeout, else an
// error saying why: the status and the start of the body (a /healthz answer
// names what is down), or that no answer came in time.
func Check(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck %s: no answer within %s", url, timeout)
		}
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			return fmt.Errorf("healthcheck %s: %s", url, resp.Status)
		}
		return fmt.Errorf("healthcheck %s: %s: %s", url, resp.Status, msg)
	}
	return nil
}
