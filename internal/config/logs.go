package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Logs is the `logs:` section: the log pipeline's Firehose transform (the
// Lambda) and `starter logs replay`. Enrichment comes from the `enrich:`
// section, so log time and alert time use the same GeoIP and threat lists.
type Logs struct {
	// Output is how a Firehose record's documents go back to Firehose:
	// "opensearch" (default) returns one document per record, because an
	// OpenSearch destination indexes each record as one document, and puts a
	// record's other log events back into the delivery stream as records of
	// their own; "ndjson" returns all of them as newline-delimited JSON, for an
	// S3 or HTTP endpoint destination.
	Output string `yaml:"output"`
	// Routes map a log group (and stream) to an index and env/app tags; the
	// first match wins. A record no route matches is ProcessingFailed.
	Routes []LogRoute `yaml:"routes"`
	// FirehoseEndpoint points the re-ingestion client at a Firehose-compatible
	// endpoint (moto, LocalStack); empty is AWS.
	FirehoseEndpoint string `yaml:"firehose_endpoint"`
}

// Log outputs.
const (
	LogsOutputOpenSearch = "opensearch"
	LogsOutputNDJSON     = "ndjson"
)

// Env overrides of the logs section (read in applyEnv, like every env var).
const (
	EnvLogsOutput       = "IRFLOW_LOGS_OUTPUT"
	EnvFirehoseEndpoint = "IRFLOW_FIREHOSE_ENDPOINT"
)

// LogRoute sends the events of matching log groups to one index family.
//
// LogGroup and LogStream are patterns: * is any run of characters, ? one
// character, {name} captures a run without "/" that Env and App may use:
//
//	log_group: /aws/containerinsights/{env}/application
//	log_stream: "{app}-api-*"
//	index: uc-be
//	env: "{env}"
//	app: "{app}"
type LogRoute struct {
	LogGroup string `yaml:"log_group"`
	// LogStream is optional; empty matches every stream.
	LogStream string `yaml:"log_stream"`
	// Index is the index family: documents go to <index>-YYYY.MM.DD (UTC day
	// of the event), like uc-be-2026.11.22.
	Index string `yaml:"index"`
	// Env and App become the documents' service.environment and service.name.
	Env string `yaml:"env"`
	App string `yaml:"app"`
}

// SetDefaults fills the zero fields.
func (l *Logs) SetDefaults() {
	if l.Output == "" {
		l.Output = LogsOutputOpenSearch
	}
}

// indexFamily is what OpenSearch accepts in an index name, minus what would
// make the dated name odd (uppercase, a leading -, _ or +).
var indexFamily = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,199}$`)

// Validate checks the section, naming the field. Routes are optional here
// (the worker does not need them); the log transform refuses to start
// without one.
func (l *Logs) Validate() error {
	switch l.Output {
	case LogsOutputOpenSearch, LogsOutputNDJSON:
	default:
		return fmt.Errorf("logs.output: %q is not %s or %s", l.Output, LogsOutputOpenSearch, LogsOutputNDJSON)
	}
	for i, r := range l.Routes {
		if _, err := r.Compile(); err != nil {
			return fmt.Errorf("logs.routes[%d].%w", i, err)
		}
	}
	return nil
}

// LogMatcher is a compiled LogRoute.
type LogMatcher struct {
	Route         LogRoute
	group, stream *regexp.Regexp
}

// Compile checks the route and compiles its patterns. Errors start with the
// field name ("index: ...").
func (r LogRoute) Compile() (*LogMatcher, error) {
	if r.LogGroup == "" {
		return nil, errors.New("log_group: required")
	}
	m := &LogMatcher{Route: r}
	captures := map[string]bool{}
	var err error
	if m.group, err = compileLogPattern(r.LogGroup, captures); err != nil {
		return nil, fmt.Errorf("log_group: %w", err)
	}
	if r.LogStream != "" {
		if m.stream, err = compileLogPattern(r.LogStream, captures); err != nil {
			return nil, fmt.Errorf("log_stream: %w", err)
		}
	}
	if !indexFamily.MatchString(r.Index) {
		return nil, fmt.Errorf("index: %q is not an index family name (lowercase letters, digits, '.', '_', '-'; the date is added)", r.Index)
	}
	for _, f := range []struct{ name, tmpl string }{{"env", r.Env}, {"app", r.App}} {
		for _, name := range placeholders(f.tmpl) {
			if !captures[name] {
				return nil, fmt.Errorf("%s: {%s} is not captured by log_group or log_stream", f.name, name)
			}
		}
	}
	return m, nil
}

// Match reports whether group and stream match, and the route's env and app
// with their placeholders filled.
func (m *LogMatcher) Match(group, stream string) (env, app string, ok bool) {
	g := m.group.FindStringSubmatch(group)
	if g == nil {
		return "", "", false
	}
	var s []string
	if m.stream != nil {
		if s = m.stream.FindStringSubmatch(stream); s == nil {
			return "", "", false
		}
	}
	if !strings.Contains(m.Route.Env+m.Route.App, "{") {
		return m.Route.Env, m.Route.App, true
	}
	lookup := func(name string) string {
		if i := m.group.SubexpIndex(name); i > 0 {
			return g[i]
		}
		if m.stream != nil {
			if i := m.stream.SubexpIndex(name); i > 0 {
				return s[i]
			}
		}
		return ""
	}
	return fill(m.Route.Env, lookup), fill(m.Route.App, lookup), true
}

// compileLogPattern turns * ? and {name} into an anchored regexp, adding the
// capture names to captures (a name used twice is an error).
func compileLogPattern(p string, captures map[string]bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	lit := 0 // start of the literal run not yet written
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '*' && c != '?' && c != '{' && c != '}' {
			continue
		}
		b.WriteString(regexp.QuoteMeta(p[lit:i]))
		lit = i + 1
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '{':
			end := strings.IndexByte(p[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed {", p)
			}
			name := p[i+1 : i+end]
			if !captureName.MatchString(name) {
				return nil, fmt.Errorf("%q: {%s} is not a capture name (letters, digits, _)", p, name)
			}
			if captures[name] {
				return nil, fmt.Errorf("%q: {%s} is captured twice", p, name)
			}
			captures[name] = true
			b.WriteString("(?P<" + name + ">[^/]+?)")
			i += end
			lit = i + 1
		case '}':
			return nil, fmt.Errorf("%q: } without {", p)
		}
	}
	b.WriteString(regexp.QuoteMeta(p[lit:]))
	b.WriteString("$")
	return regexp.Compile(b.String())
}

var (
	captureName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	placeholder = regexp.MustCompile(`\{([^{}]*)\}`)
)

func placeholders(tmpl string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

func fill(tmpl string, lookup func(string) string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	return placeholder.ReplaceAllStringFunc(tmpl, func(m string) string { return lookup(m[1 : len(m)-1]) })
}
