package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// LambdaFunc is a function the Lambda stand-in runs: it gets the invocation
// payload and returns the response payload, and a non-empty functionError
// ("Unhandled") when the function failed, as Lambda reports it.
type LambdaFunc func(payload []byte) (response []byte, functionError string)

// Lambda is an HTTP stand-in for the Lambda Invoke REST API
// (POST /2015-03-31/functions/{name}/invocations), because moto cannot run
// functions without Docker. The real aws-sdk-go-v2 client talks to it.
type Lambda struct {
	URL string

	mu        sync.Mutex
	functions map[string]LambdaFunc
	calls     map[string][][]byte
}

// NewLambda starts the stand-in; it stops when the test ends.
func NewLambda(tb testing.TB) *Lambda {
	tb.Helper()
	l := &Lambda{functions: map[string]LambdaFunc{}, calls: map[string][][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(l.serve))
	tb.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// Handle deploys fn under name (a name or an ARN, as the caller will pass it).
func (l *Lambda) Handle(name string, fn LambdaFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[name] = fn
}

// Calls returns the payloads name was invoked with.
func (l *Lambda) Calls(name string) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.calls[name]...)
}

func (l *Lambda) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	name, _, ok2 := strings.Cut(rest, "/invocations")
	if !ok || !ok2 || r.Method != http.MethodPost {
		http.Error(w, `{"message":"not an Invoke call"}`, http.StatusNotFound)
		return
	}
	name, _ = url.PathUnescape(name)
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		name += ":" + q
	}
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	fn := l.functions[name]
	l.calls[name] = append(l.calls[name], body)
	l.mu.Unlock()
	if fn == nil {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"Type":"User","message":"Function not found: `+name+`"}`)
		return
	}
	resp, fnErr := fn(body)
	if fnErr != "" {
		w.Header().Set("X-Amz-Function-Error", fnErr)
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
}
