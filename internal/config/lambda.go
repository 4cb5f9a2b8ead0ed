package config

import (
	"fmt"
	"regexp"
	"time"
)

// Lambda is the `lambda:` section: re-scan hooks, for checks only your own
// code can make ("is the bad IP still hitting us?"). A hook runs when an
// incident it matches re-scans, instead of the source's own check, and the
// Slack Re-scan button runs it too.
type Lambda struct {
	Region string `yaml:"region"`
	// Endpoint points the client at a Lambda-compatible endpoint (tests, LocalStack).
	Endpoint string `yaml:"endpoint"`
	// Rescan hooks are tried in order; the first whose match holds runs.
	Rescan []LambdaHook `yaml:"rescan"`
}

// LambdaHook is one re-scan hook. The function is invoked synchronously with
// {"incident_id", "alert"} and answers {"clear": bool, "detail": "..."}.
type LambdaHook struct {
	Match MetricMatch `yaml:"match"`
	// Function is the name, ARN or partial ARN of the function (with an
	// optional :alias or :version).
	Function string `yaml:"function"`
	// Timeout bounds one invocation; default 30s, at most 15m (Lambda's own limit).
	Timeout Duration `yaml:"timeout"`
}

// DefaultLambdaTimeout bounds one re-scan hook invocation.
const DefaultLambdaTimeout = 30 * time.Second

var functionPattern = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[a-zA-Z0-9-_]{1,64}(:[a-zA-Z0-9-_$]+)?$`)

// Validate checks the section, naming the field.
func (l *Lambda) Validate() error {
	for i, h := range l.Rescan {
		at := fmt.Sprintf("lambda.rescan[%d]", i)
		switch {
		case h.Match == (MetricMatch{}):
			return fmt.Errorf("%s.match: at least one of source, rule, category, service, env (a hook for every incident is almost surely a mistake)", at)
		case h.Function == "":
			return fmt.Errorf("%s.function: required", at)
		case !functionPattern.MatchString(h.Function):
			return fmt.Errorf("%s.function: %q is not a function name or ARN", at, h.Function)
		case h.Timeout < 0 || time.Duration(h.Timeout) > 15*time.Minute:
			return fmt.Errorf("%s.timeout: %s is outside 0..15m", at, time.Duration(h.Timeout))
		}
	}
	return nil
}
