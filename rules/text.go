package rules

import (
	"regexp"
	"strconv"
)

// MissingValue stands in for an alert_text/alert_subject argument the match
// lacks, as ElastAlert2's default alert_missing_value.
const MissingValue = "<MISSING VALUE>"

var formatArg = regexp.MustCompile(`\{(\d+)\}`)

// Render fills alert_subject and alert_text with their args the way
// ElastAlert2's str.format does for positional fields ({0}, {1}, ...), looking
// the arguments up in the match (dotted names work, so do match fields like
// num_hits). The subject defaults to the rule name; the text may be empty.
func (r *Rule) Render(m Match) (subject, text string) {
	subject = r.Name
	if r.AlertSubject != "" {
		subject = fill(r.AlertSubject, r.AlertSubjectArgs, m)
	}
	return subject, fill(r.AlertText, r.AlertTextArgs, m)
}

func fill(tmpl string, args []string, m Match) string {
	e := Event(m.Fields)
	return formatArg.ReplaceAllStringFunc(tmpl, func(s string) string {
		i, _ := strconv.Atoi(s[1 : len(s)-1])
		if i >= len(args) {
			return s
		}
		name := args[i]
		if name == "key" && m.Key != "" {
			return m.Key
		}
		v, ok := e.Get(name)
		if !ok || v == nil {
			return MissingValue
		}
		return keyString(v)
	})
}
