package ingress

import (
	"fmt"
	"sort"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
)

// SourceElastAlert is the Source of alerts posted by ElastAlert2.
const SourceElastAlert = "elastalert"

// DecodeElastAlert turns one ElastAlert2 http_post body into an alert. The
// whole document except the fields mapped onto the alert (rule, env,
// severity, alert_subject, alert_text, service, category) is kept in Fields,
// so num_hits, num_matches, spike_count, reference_count, old_value,
// new_value and the matched event stay visible. cfg's zero value uses the
// defaults documented on config.ElastAlert.
func DecodeElastAlert(body []byte, cfg config.ElastAlert) (incident.Alert, []string, error) {
	cfg.SetDefaults()
	doc, err := decodeObject(body, "an ElastAlert2 match")
	if err != nil {
		return incident.Alert{}, nil, err
	}
	var warnings []string
	a := incident.Alert{Source: SourceElastAlert}
	first := func(fields []string) (string, string) {
		for _, f := range fields {
			if v, ok := lookup(doc, f); ok {
				if s := stringify(v); s != "" {
					return f, s
				}
			}
		}
		return "", ""
	}
	ruleField, rule := first(cfg.RuleFields)
	if rule == "" {
		return a, warnings, incident.Errorf(incident.EINVALID, "rule_name: required (looked for %v; set http_post_static_payload: {rule_name: ...} in the rule)", cfg.RuleFields)
	}
	a.Rule = cleanName(ruleField, rule, &warnings)
	consumed := map[string]bool{ruleField: true}
	if f, env := first(cfg.EnvFields); env != "" {
		a.Env = cleanName(f, env, &warnings)
		consumed[f] = true
	}
	if f, sev := first(cfg.SeverityFields); sev != "" {
		if s, err := incident.ParseSeverity(sev); err == nil {
			a.Severity = s
			consumed[f] = true
		} else {
			warnings = append(warnings, fmt.Sprintf("%s: %v, left unset", f, err))
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"service", &a.Service}, {"category", &a.Category}} {
		if v, ok := doc[f.name]; ok {
			if s := stringify(v); s != "" {
				*f.dst = cleanName(f.name, s, &warnings)
				consumed[f.name] = true
			}
		}
	}
	if v, ok := doc["alert_subject"]; ok && ruleField != "alert_subject" {
		a.Title = clip("alert_subject", stringify(v), incident.MaxTextLen, &warnings)
		consumed["alert_subject"] = true
	}
	if v, ok := doc["alert_text"]; ok {
		a.Summary = clip("alert_text", stringify(v), incident.MaxTextLen, &warnings)
		consumed["alert_text"] = true
	}
	qk := map[string]string{}
	for _, f := range cfg.QueryKeyFields {
		if v, ok := lookup(doc, f); ok && v != nil {
			qk[f] = stringify(v)
		}
	}
	a.QueryKey = capQueryKey("query_key", qk, &warnings)
	if v, ok := lookup(doc, cfg.TimestampField); ok {
		if t, ok := parseTime(v); ok {
			a.Time = t
		} else {
			warnings = append(warnings, fmt.Sprintf("%s: %q is not an RFC 3339 time or epoch milliseconds, using the receive time", cfg.TimestampField, stringify(v)))
		}
	}
	a.Fields = make(map[string]any, len(doc))
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !consumed[k] {
			a.Fields[k] = doc[k]
		}
	}
	trimFields("fields.", a.Fields, &warnings)
	if len(a.Fields) == 0 {
		a.Fields = nil
	}
	if err := a.Validate(); err != nil {
		return a, warnings, err
	}
	return a, warnings, nil
}
