package ingress

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/irflow/irflow/incident"
)

// retryAfterSeconds is what a 503 tells senders to wait; Temporal outages are
// usually seconds (a frontend restart), and every sender retries anyway.
const retryAfterSeconds = 5

// statusByCode is the one table from domain error codes to HTTP statuses.
var statusByCode = map[string]int{
	incident.EINVALID:     http.StatusBadRequest,
	incident.ENOTFOUND:    http.StatusNotFound,
	incident.ECONFLICT:    http.StatusConflict,
	incident.EUNAVAILABLE: http.StatusServiceUnavailable,
	incident.ETOOLARGE:    http.StatusRequestEntityTooLarge,
}

// Codes for answers that exist only at the HTTP layer; ingress wraps them in
// *incident.Error so one table still decides every status. A refusal's code
// is also its "reason": in the JSON body and in the label of
// irflow_alerts_rejected_total, so the set stays small and fixed.
const (
	codeUnauthorized    = "unauthorized"     // no or wrong bearer token
	codeForbiddenSource = "forbidden_source" // the token may not send as that source
	codeSNSTopic        = "sns_topic"        // TopicArn not allowed
	codeSNSSignature    = "sns_signature"    // signature missing, refused version, or does not verify
	codeSNSCertificate  = "sns_certificate"  // SigningCertURL/SubscribeURL not SNS, or its certificate unusable
	codeSNSStale        = "sns_stale"        // Timestamp older than max_age, or in the future: a replay
	codeTimeout         = "timeout"          // the body did not arrive within read_timeout
	codeMethod          = "method_not_allowed"
	codeMediaType       = "unsupported_media_type"
	codeRouteNotFound   = "route_not_found"
)

var statusByHTTPCode = map[string]int{
	codeUnauthorized:    http.StatusUnauthorized,
	codeForbiddenSource: http.StatusForbidden,
	codeSNSTopic:        http.StatusForbidden,
	codeSNSSignature:    http.StatusForbidden,
	codeSNSCertificate:  http.StatusForbidden,
	codeSNSStale:        http.StatusForbidden,
	codeTimeout:         http.StatusRequestTimeout,
	codeMethod:          http.StatusMethodNotAllowed,
	codeMediaType:       http.StatusUnsupportedMediaType,
	codeRouteNotFound:   http.StatusNotFound,
}

// ErrorStatus returns the HTTP status for err: the table above for *incident.Error
// codes and the ingress-only codes, 500 for anything else.
func ErrorStatus(err error) int {
	code := incident.ErrorCode(err)
	if s, ok := statusByCode[code]; ok {
		return s
	}
	if s, ok := statusByHTTPCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// unavailable turns a failed Send or Clear into the error a sender sees. The
// Temporal client reports an outage as EUNAVAILABLE; any error that is not an
// *incident.Error is treated the same, because the alert was not made durable
// and the sender must retry.
func unavailable(err error) error {
	var e *incident.Error
	if errors.As(err, &e) {
		if e.Code == incident.EINTERNAL {
			return incident.Errorf(incident.EUNAVAILABLE, "temporal: %s", e.Message)
		}
		return err
	}
	return incident.Errorf(incident.EUNAVAILABLE, "temporal unavailable, retry later")
}

// ErrorReason is the machine-readable reason of err: its code ("invalid",
// "unauthorized", "forbidden_source", "sns_stale", ...), "internal" for an
// error that is not an *incident.Error.
func ErrorReason(err error) string {
	return incident.ErrorCode(err)
}

type errorBody struct {
	Error    string   `json:"error"`
	Reason   string   `json:"reason"`
	Warnings []string `json:"warnings,omitempty"`
}

// writeError answers with {"error": "...", "reason": "..."}; 503 adds
// Retry-After, 408 closes the connection. Internal errors are logged by the
// caller and never shown to senders.
func writeError(w http.ResponseWriter, err error, warnings []string) int {
	status := ErrorStatus(err)
	msg := incident.ErrorMessage(err)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="irflow"`)
	case http.StatusRequestTimeout:
		// The rest of the body may still be on its way; the connection cannot be reused.
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, status, errorBody{Error: msg, Reason: ErrorReason(err), Warnings: warnings})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
