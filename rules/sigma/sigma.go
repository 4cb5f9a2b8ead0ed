// Package sigma reads Sigma detection rules (https://sigmahq.io) and compiles
// their detection to an OpenSearch query and to a Go predicate over the same
// events. It is pure: the caller passes file contents in (LoadMapping alone
// reads the mapping file beside a rule). Anything the compiler cannot honour
// on both paths is refused as "file:line: what: not supported".
package sigma

import (
	"fmt"
	"strings"
)

// Rule is one parsed Sigma rule, before its logsource is mapped.
type Rule struct {
	File        string
	Title       string
	Name        string // the optional name attribute; empty when unset
	ID          string
	Status      string
	Description string
	Author      string
	Level       string
	Tags        []string
	References  []string
	// FalsePositives is Sigma's falsepositives list.
	FalsePositives []string
	Logsource      Logsource

	line  int // of logsource, for mapping errors
	line0 int // of the rule's document, in a correlation file
	expr  expr
}

// Severity maps the Sigma level to an irflow severity name ("" when the
// rule has no level).
func (r *Rule) Severity() string {
	if r.Level == "informational" {
		return "info"
	}
	return r.Level
}

// LogsourceLine is the line of the rule's logsource, for errors about it.
func (r *Rule) LogsourceLine() int { return r.line }

// metadata are Sigma attributes kept for people, not for matching.
var metadata = map[string]bool{"related": true, "license": true, "date": true, "modified": true,
	"fields": true, "scope": true, "taxonomy": true, "simulation": true, "regression_tests_path": true}

var levels = map[string]bool{"informational": true, "low": true, "medium": true, "high": true, "critical": true}

// IsRule reports whether data looks like a Sigma rule rather than an
// ElastAlert2 one: top-level logsource and detection (or correlation), no
// type, in its first YAML document (or, for a correlation file, in any).
func IsRule(data []byte) bool {
	docs, err := parseDocs("", data)
	if err != nil {
		return false
	}
	sigma := false
	for _, root := range docs {
		if root.kind != mapNode {
			return false
		}
		_, _, hasType := root.get("type")
		_, _, hasLog := root.get("logsource")
		_, _, hasDet := root.get("detection")
		_, _, hasCorr := root.get("correlation")
		if hasType {
			return false
		}
		sigma = sigma || hasLog && hasDet || hasCorr
	}
	return sigma
}

// Parse reads one Sigma rule (a file of one document without correlation;
// ParseFile reads correlation files).
func Parse(file string, data []byte) (*Rule, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	return parseRule(file, root)
}

func parseRule(file string, root *node) (*Rule, error) {
	var err error
	bad := func(line int, what, format string, args ...any) error {
		return &Error{File: file, Line: line, What: what, Problem: fmt.Sprintf(format, args...)}
	}
	if root.kind != mapNode {
		return nil, bad(root.line, "rule", "must be a YAML mapping")
	}
	r := &Rule{File: file}
	var det *node
	detLine := 0
	for i, k := range root.keys {
		v, line := root.vals[i], root.kline[i]
		str, strs := stringReaders(bad, v, line, k)
		var err error
		switch k {
		case "title":
			err = str(&r.Title)
		case "name":
			err = str(&r.Name)
		case "id":
			err = str(&r.ID)
		case "status":
			err = str(&r.Status)
		case "description":
			err = str(&r.Description)
		case "author":
			err = str(&r.Author)
		case "level":
			if err = str(&r.Level); err == nil && !levels[r.Level] {
				err = bad(line, k, "unknown level %q (want informational, low, medium, high, critical)", r.Level)
			}
		case "tags":
			err = strs(&r.Tags)
		case "references":
			err = strs(&r.References)
		case "falsepositives":
			err = strs(&r.FalsePositives)
		case "logsource":
			r.line = line
			r.Logsource, err = parseLogsource(file, v, line, "logsource", true)
		case "detection":
			det, detLine = v, line
		case "correlation":
			err = bad(line, "Sigma correlation rule", "needs the rules it references: not supported here (sigma.ParseFile reads correlation files)")
		case "action":
			err = bad(line, "rule collection (action)", "not supported")
		default:
			if !metadata[k] {
				err = bad(line, k, "unknown Sigma attribute (not supported)")
			}
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case r.Title == "":
		return nil, bad(1, "title", "missing")
	case r.line == 0:
		return nil, bad(1, "logsource", "missing")
	case r.Logsource == Logsource{}:
		return nil, bad(r.line, "logsource", "needs category, product or service")
	case det == nil:
		return nil, bad(1, "detection", "missing")
	}
	if r.expr, err = parseDetection(file, det, detLine); err != nil {
		return nil, err
	}
	return r, nil
}

func parseDetection(file string, det *node, line int) (expr, error) {
	if det.kind != mapNode {
		return nil, &Error{File: file, Line: line, What: "detection", Problem: "must be a mapping"}
	}
	sels := map[string]expr{}
	var cond *node
	condLine := 0
	for i, name := range det.keys {
		v, kl := det.vals[i], det.kline[i]
		switch name {
		case "condition":
			cond, condLine = v, kl
			continue
		case "timeframe":
			return nil, &Error{File: file, Line: kl, What: "detection.timeframe", Problem: "not supported (it belongs to aggregations and correlation rules)"}
		}
		e, err := parseSelection(file, "detection."+name, v, kl)
		if err != nil {
			return nil, err
		}
		sels[name] = e
	}
	if cond == nil {
		return nil, &Error{File: file, Line: line, What: "detection.condition", Problem: "missing"}
	}
	conds, ok := cond.strs()
	if !ok || len(conds) == 0 {
		return nil, &Error{File: file, Line: condLine, What: "detection.condition", Problem: "must be a string or a list of strings"}
	}
	// A list of conditions fires when any of them does.
	var xs []expr
	for i, c := range conds {
		l := condLine
		if cond.kind == seqNode {
			l = cond.items[i].line
		}
		x, err := parseCondition(file, l, c, sels)
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return anyOf(xs), nil
}

// anyOf is xs or-ed, or the one expression alone.
func anyOf(xs []expr) expr {
	if len(xs) == 1 {
		return xs[0]
	}
	return orExpr(xs)
}

// parseSelection reads one detection identifier: a map (all fields must
// match) or a list of maps (any of them).
func parseSelection(file, what string, v *node, line int) (expr, error) {
	switch v.kind {
	case mapNode:
		return parseFields(file, what, v)
	case seqNode:
		if len(v.items) == 0 {
			return nil, &Error{File: file, Line: line, What: what, Problem: "must not be empty"}
		}
		var xs []expr
		for _, it := range v.items {
			if it.kind != mapNode {
				// Keyword lists search the whole event; what that means depends
				// on the backend's analyzers, so it is refused, not guessed.
				return nil, &Error{File: file, Line: it.line, What: what + " (keyword list without field names)", Problem: "not supported"}
			}
			x, err := parseFields(file, what, it)
			if err != nil {
				return nil, err
			}
			xs = append(xs, x)
		}
		return anyOf(xs), nil
	}
	return nil, &Error{File: file, Line: line, What: what, Problem: "must be a map of fields or a list of them"}
}

func parseFields(file, what string, m *node) (expr, error) {
	if len(m.keys) == 0 {
		return nil, &Error{File: file, Line: m.line, What: what, Problem: "must not be empty"}
	}
	var xs []expr
	for i, key := range m.keys {
		x, err := parseField(file, m.kline[i], key, m.vals[i])
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return andExpr(xs), nil
}

var matchMods = map[string]bool{"contains": true, "startswith": true, "endswith": true, "re": true,
	"cidr": true, "exists": true, "gt": true, "gte": true, "lt": true, "lte": true}

// parseField reads "field|mod|mod: value(s)".
func parseField(file string, line int, key string, v *node) (expr, error) {
	bad := func(l int, what, format string, args ...any) error {
		return &Error{File: file, Line: l, What: what, Problem: fmt.Sprintf(format, args...)}
	}
	parts := strings.Split(key, "|")
	field := parts[0]
	if field == "" {
		return nil, bad(line, key+" (a value without a field name)", "not supported")
	}
	var mods modifiers
	for _, mod := range parts[1:] {
		switch {
		case matchMods[mod]:
			if mods.match != "" {
				return nil, bad(line, "modifiers "+mods.match+" and "+mod, "not supported together")
			}
			mods.match = mod
		case mod == "all":
			mods.all = true
		case mod == "cased":
			mods.cased = true
		case mod == "base64" || mod == "base64offset":
			if mods.encode != "" {
				return nil, bad(line, "modifiers "+mods.encode+" and "+mod, "not supported together")
			}
			mods.encode = mod
		case mod == "windash":
			mods.windash = true
		case mod == "i" || mod == "s":
			mods.reFlags += mod
		default:
			return nil, bad(line, "modifier "+mod, "not supported")
		}
	}
	if err := mods.check(); err != nil {
		return nil, bad(line, key, "%v", err)
	}
	var vals []*node
	switch v.kind {
	case scalarNode:
		vals = []*node{v}
	case seqNode:
		if len(v.items) == 0 {
			return nil, bad(line, key, "must have at least one value")
		}
		for _, it := range v.items {
			if it.kind != scalarNode {
				return nil, bad(it.line, key, "values must be scalars")
			}
		}
		vals = v.items
	default:
		return nil, bad(line, key, "must be a value or a list of values")
	}
	if mods.all && len(vals) < 2 {
		// One value is the same with or without |all; kept simple, not refused.
		mods.all = false
	}
	var xs []expr
	for _, val := range vals {
		l := val.line
		ms, err := mods.matchers(val.v)
		if err != nil {
			return nil, bad(l, key, "%v", err)
		}
		var alts []expr
		for _, m := range ms {
			alts = append(alts, &leaf{line: l, field: field, m: m})
		}
		if len(alts) == 1 {
			xs = append(xs, alts[0])
		} else {
			xs = append(xs, orExpr(alts))
		}
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	if mods.all {
		return andExpr(xs), nil
	}
	return orExpr(xs), nil
}
