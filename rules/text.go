package rules

import (
	"regexp"
	"strconv"
	"strings"
)

// MissingValue stands in for an alert_text/alert_subject argument the match
// lacks, as ElastAlert2's default alert_missing_value.
const MissingValue = "<MISSING VALUE>"

var formatArg = regexp.MustCompile(`\{(\d+)\}`)

// Render fills alert_subject and alert_text with their args the way
// ElastAlert2's str.format does for positional fields ({0}, {1}, ...), looking
// the arguments up in the match (dotted names work, so do match fields like
// num_hits). Without alert_text_args, alert_text_kw fills named fields
// ({name}) instead. A missing value prints alert_missing_value (default
// MissingValue). The subject defaults to the rule name; a custom one is cut
// to alert_subject_max_len characters (default 2048). The text may be empty.
func (r *Rule) Render(m Match) (subject, text string) {
	missing := MissingValue
	if r.AlertMissingValue != nil {
		missing = *r.AlertMissingValue
	}
	subject = r.Name
	if r.AlertSubject != "" {
		subject = fill(r.AlertSubject, r.AlertSubjectArgs, m, missing)
		max := 2048
		if r.AlertSubjectMaxLen != nil {
			max = *r.AlertSubjectMaxLen
		}
		if rs := []rune(subject); len(rs) > max {
			subject = string(rs[:max])
		}
	}
	if len(r.AlertTextArgs) == 0 && len(r.AlertTextKW) > 0 {
		text = fillKW(r.AlertText, r.AlertTextKW, m, missing)
	} else {
		text = fill(r.AlertText, r.AlertTextArgs, m, missing)
	}
	if tc := r.topCountsText(m); tc != "" {
		if text != "" {
			text += "\n\n"
		}
		text += strings.TrimRight(tc, "\n")
	}
	return subject, text
}

func fill(tmpl string, args []string, m Match, missing string) string {
	return formatArg.ReplaceAllStringFunc(tmpl, func(s string) string {
		i, _ := strconv.Atoi(s[1 : len(s)-1])
		if i >= len(args) {
			return s
		}
		return argValue(args[i], m, missing)
	})
}

var formatName = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// fillKW is str.format(**kw) with kw built from alert_text_kw: each match
// field is looked up and bound to its name; a {name} no field binds stays
// as written.
func fillKW(tmpl string, kw map[string]string, m Match, missing string) string {
	byName := make(map[string]string, len(kw))
	for field, name := range kw {
		byName[name] = argValue(field, m, missing)
	}
	return formatName.ReplaceAllStringFunc(tmpl, func(s string) string {
		if v, ok := byName[s[1:len(s)-1]]; ok {
			return v
		}
		return s
	})
}

func argValue(name string, m Match, missing string) string {
	if name == "key" && m.Key != "" {
		return m.Key
	}
	v, ok := Event(m.Fields).Get(name)
	if !ok || v == nil {
		return missing
	}
	return keyString(v)
}
