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
// *incident.Error so one table still decides every status.
const (
	codeUnauthorized  = "unauthorized"
	codeForbidden     = "forbidden"
	codeMethod        = "method_not_allowed"
	codeMediaType     = "unsupported_media_type"
	codeRouteNotFound = "route_not_found"
)

var statusByHTTPCode = map[string]int{
	codeUnauthorized:  http.StatusUnauthorized,
	codeForbidden:     http.StatusForbidden,
	codeMethod:        http.StatusMethodNotAllowed,
	codeMediaType:     http.StatusUnsupportedMediaType,
	codeRouteNotFound: http.StatusNotFound,
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

type errorBody struct {
	Error    string   `json:"error"`
	Warnings []string `json:"warnings,omitempty"`
}

// writeError answers with {"error": "..."}; 503 adds Retry-After. Internal
// errors are logged by the caller and never shown to senders.
func writeError(w http.ResponseWriter, err error, warnings []string) int {
	status := ErrorStatus(err)
	msg := incident.ErrorMessage(err)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="irflow"`)
	}
	writeJSON(w, status, errorBody{Error: msg, Warnings: warnings})
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
