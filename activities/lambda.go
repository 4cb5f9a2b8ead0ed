package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/internal/config"
)

// LambdaHooks runs the re-scan hooks of the lambda section: a function the
// user wrote answers whether the incident's condition has cleared.
type LambdaHooks struct {
	Client *lambda.Client
	Hooks  []config.LambdaHook
}

// LambdaRescanRequest is the payload a hook function receives.
type LambdaRescanRequest struct {
	IncidentID string         `json:"incident_id"`
	Alert      incident.Alert `json:"alert"`
}

// LambdaRescanResponse is what a hook function must answer.
type LambdaRescanResponse struct {
	// Clear is true when the condition is gone (a clean scan).
	Clear *bool `json:"clear"`
	// Detail says what the function saw; it goes into the timeline.
	Detail string `json:"detail"`
}

// For returns the first hook whose match holds for a.
func (l *LambdaHooks) For(a incident.Alert) (config.LambdaHook, bool) {
	if l == nil {
		return config.LambdaHook{}, false
	}
	for _, h := range l.Hooks {
		m := h.Match
		if incident.Glob(m.Source, a.Source) && incident.Glob(m.Rule, a.Rule) && incident.Glob(m.Category, a.Category) &&
			incident.Glob(m.Service, a.Service) && incident.Glob(m.Env, a.Env) {
			return h, true
		}
	}
	return config.LambdaHook{}, false
}

// Run invokes the hook synchronously. A function that fails (FunctionError)
// or answers without "clear" gives an unknown scan, which neither counts as
// clean nor resets the count: a broken hook never resolves an incident.
func (l *LambdaHooks) Run(ctx context.Context, h config.LambdaHook, req LambdaRescanRequest) (incident.Scan, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return incident.Scan{}, fmt.Errorf("encode hook payload: %w", err)
	}
	timeout := time.Duration(h.Timeout)
	if timeout <= 0 {
		timeout = config.DefaultLambdaTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(h.Function), InvocationType: lambdatypes.InvocationTypeRequestResponse, Payload: payload,
	})
	if err != nil {
		return incident.Scan{}, fmt.Errorf("lambda hook %s: %w", h.Function, err)
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		return incident.Scan{State: incident.ScanUnknown, Detail: fmt.Sprintf("lambda hook %s failed (%s): %.300s", h.Function, fe, out.Payload)}, nil
	}
	var resp LambdaRescanResponse
	if err := json.Unmarshal(out.Payload, &resp); err != nil || resp.Clear == nil {
		return incident.Scan{State: incident.ScanUnknown, Detail: fmt.Sprintf(`lambda hook %s answered %.200q, want {"clear": true|false, "detail": "..."}`, h.Function, out.Payload)}, nil
	}
	state := incident.ScanFiring
	if *resp.Clear {
		state = incident.ScanClean
	}
	detail := resp.Detail
	if detail == "" {
		detail = "lambda hook " + h.Function + " says " + string(state)
	}
	return incident.Scan{State: state, Detail: incident.Truncate(detail, 500)}, nil
}
