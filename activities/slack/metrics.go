package slack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"

	"github.com/irflow/irflow/activities"
)

// countErrors counts failed Web API calls made during an activity as
// irflow_slack_api_errors_total{method, error}: error is Slack's own code
// ("channel_not_found", "ratelimited"), http_<status> for an HTTP error
// without one, or "transport" when no answer came back. Slack answers most
// failures with 200 and {"ok": false}, so the body is read here.
type countErrors struct{ next http.RoundTripper }

func (t countErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	method := path.Base(req.URL.Path)
	count := func(code string) {
		activities.MetricsHandler(req.Context()).WithTags(map[string]string{
			activities.MetricTagMethod: method, activities.MetricTagError: code,
		}).Counter(activities.MetricSlackAPIErrors).Inc(1)
	}
	if err != nil {
		count("transport")
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		count("transport")
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var answer struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &answer)
	switch {
	case answer.OK != nil && !*answer.OK && answer.Error != "":
		count(answer.Error)
	case resp.StatusCode >= 300:
		count("http_" + strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}
