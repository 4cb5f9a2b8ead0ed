package activities

import (
	"fmt"
	"net/http"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
)

// NewSearchClient returns the opensearch-go client rule sweeps and re-scans use,
// for one URL (like http://127.0.0.1:9200).
// It retries on 429 as well as the default 502/503/504, which a small dev node
// returns under bulk load.
func NewSearchClient(url string) (*opensearchgo.Client, error) {
	c, err := opensearchgo.NewClient(opensearchgo.Config{
		Addresses:     []string{url},
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		MaxRetries:    5,
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond },
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch client for %s: %w", url, err)
	}
	return c, nil
}
