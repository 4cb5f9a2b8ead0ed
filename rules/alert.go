package rules

import (
	"strings"

	"github.com/irflow/irflow/incident"
)

// AlertSource is the source of alerts raised by rule sweeps; the re-scan
// checker for it is activities.RuleCheck.
const AlertSource = "rules"

// Ref names a rule file. YAML, when set, is the file's content as applied
// by `starter schedules apply`, so a worker without the file (or with an older
// copy) still sweeps what was applied; ${VAR} expansion and imports resolve on
// the worker, relative to Path.
type Ref struct {
	Name string `json:"name"`
	Path string `json:"path"`
	YAML string `json:"yaml,omitempty"`
}

// Load parses the rule.
func (r Ref) Load() (*Rule, error) {
	if r.YAML == "" {
		return LoadFile(r.Path)
	}
	return Parse(r.Path, []byte(r.YAML))
}

// MatchAlert turns a rule match into the alert the incident workflow gets. Its
// fingerprint is source "rules" + rule name + env + the query_key values, so a
// sweep and ingress agree on the incident.
func MatchAlert(r *Rule, m Match) incident.Alert {
	subject, text := r.Render(m)
	sev, _ := incident.ParseSeverity(r.Severity)
	a := incident.Alert{
		Source: AlertSource, Rule: r.Name, Env: r.Env, Category: r.Category, Severity: sev,
		Title: incident.Truncate(subject, incident.MaxTextLen), Summary: incident.Truncate(text, incident.MaxTextLen),
		QueryKey: QueryKeyValues(r, m.Key), Fields: m.Fields, Time: m.Time, Channel: r.SlackChannel,
	}
	if len(r.Tags) > 0 {
		a.Fields = make(map[string]any, len(m.Fields)+1)
		for k, v := range m.Fields {
			a.Fields[k] = v
		}
		a.Fields[TagsField] = append([]string(nil), r.Tags...)
	}
	return a
}

// QueryKeyValues splits a match key ("a, b") into the rule's query_key fields.
func QueryKeyValues(r *Rule, key string) map[string]string {
	if len(r.QueryKey) == 0 {
		return nil
	}
	parts := []string{key}
	if len(r.QueryKey) > 1 {
		parts = strings.SplitN(key, ", ", len(r.QueryKey))
	}
	out := make(map[string]string, len(r.QueryKey))
	for i, f := range r.QueryKey {
		if i < len(parts) {
			out[f] = parts[i]
		}
	}
	return out
}
