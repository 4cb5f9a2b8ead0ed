package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/irflow/irflow/rules/sigma"
)

// TagsField is the alert field holding a rule's tags (Sigma's ATT&CK tags);
// the event's own fields keep their names.
const TagsField = "rule_tags"

// IsSigma reports whether data is a Sigma rule rather than an ElastAlert2 one.
func IsSigma(data []byte) bool { return sigma.IsRule(data) }

// parseSigma builds a rule of type any from a Sigma rule: the detection
// compiled to one OpenSearch query (RawFilter) and to the Go evaluator of the
// same detection (Filter), the index, field names and routing from the
// logsource's entry in the nearest sigma.MappingFile. A correlation file
// becomes the rule parseCorrelation builds.
func parseSigma(file string, data []byte) (*Rule, error) {
	sf, err := sigma.ParseFile(file, data)
	if err != nil {
		return nil, asRuleError(err)
	}
	if sf.Correlation != nil {
		return parseCorrelation(sf.Correlation) // sigma_correlation.go
	}
	sr := sf.Rule
	src, c, err := compileSigma(file, sr)
	if err != nil {
		return nil, err
	}
	name := sigmaName(file, sr.Name)
	r := &Rule{
		File: file, Name: name, Type: TypeAny, Index: src.Index,
		Filter:    []Filter{filterFunc(func(e Event) bool { return c.Match(e) })},
		RawFilter: []map[string]any{c.Query},
		RunEvery:  time.Minute, BufferTime: 15 * time.Minute, Realert: time.Minute,
		TermsWindowSize: 30 * 24 * time.Hour, TermsSize: 50,
		TimestampField: src.TimestampField, Enabled: true,
		AlertSubject: sr.Title, AlertText: sigmaText(sr),
		Owner: src.Owner, Env: src.Env, Category: src.Category, SlackChannel: src.SlackChannel,
		Severity: sr.Severity(), Description: sr.Description, Tags: sr.Tags,
	}
	r.comp()
	return r, nil
}

// sigmaName is the rule's name attribute, else the file name without
// extension.
func sigmaName(file, name string) string {
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	return name
}

// compileSigma maps a Sigma rule's logsource through the nearest mapping
// file and compiles its detection.
func compileSigma(file string, sr *sigma.Rule) (*sigma.Source, *sigma.Compiled, error) {
	m, err := sigma.LoadMapping(file)
	if err != nil {
		return nil, nil, asRuleError(&Error{File: file, Line: sr.LogsourceLine(), Option: "logsource", Problem: err.Error()})
	}
	src, ok := m.Lookup(sr.Logsource)
	if !ok {
		return nil, nil, &Error{File: file, Line: sr.LogsourceLine(), Option: "logsource " + sr.Logsource.String(),
			Problem: fmt.Sprintf("not mapped in %s (mapped: %s)", m.File, m.Known())}
	}
	c, err := sigma.Compile(sr, src)
	if err != nil {
		return nil, nil, asRuleError(err)
	}
	return src, c, nil
}

// sigmaText is the alert text: the description, the tags and the known false
// positives, so a responder sees them in Slack.
func sigmaText(sr *sigma.Rule) string {
	return alertText(sr.Description, sr.Tags, sr.FalsePositives)
}

func alertText(description string, tags, falsePositives []string) string {
	var lines []string
	if description != "" {
		lines = append(lines, strings.TrimSpace(description))
	}
	if len(tags) > 0 {
		lines = append(lines, "Tags: "+strings.Join(tags, ", "))
	}
	if len(falsePositives) > 0 {
		lines = append(lines, "False positives: "+strings.Join(falsePositives, "; "))
	}
	// Render fills {0}-style placeholders; a Sigma text has none to fill.
	return strings.Join(lines, "\n")
}

func asRuleError(err error) error {
	var se *sigma.Error
	if errors.As(err, &se) {
		return &Error{File: se.File, Line: se.Line, Option: se.What, Problem: se.Problem}
	}
	return err
}

// LoadSigma loads a rule file that must be a Sigma rule (for `starter rules
// sigma show`, which prints what the detection compiled to).
func LoadSigma(path string) (*Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load rule %s: %w", path, err)
	}
	if !IsSigma(data) {
		return nil, &Error{File: path, Line: 1, Option: "rule", Problem: "not a Sigma rule (a Sigma rule has logsource and detection, and no type)"}
	}
	return parseSigma(path, data)
}
