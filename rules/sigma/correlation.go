package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Correlation types irflow runs (Sigma correlation rules specification 2.x).
const (
	EventCount = "event_count"
	ValueCount = "value_count"
	Temporal   = "temporal"
)

// Correlation is a parsed Sigma correlation rule: its own attributes and the
// rules it references, resolved within its file.
type Correlation struct {
	File           string
	Title          string
	Name           string
	ID             string
	Description    string
	Level          string
	Tags           []string
	FalsePositives []string

	Type     string
	Rules    []*Rule  // referenced rules, in the order of correlation.rules
	GroupBy  []string // Sigma field names
	Timespan time.Duration
	// Op and Value are the condition (gt, gte, lt, lte, eq); empty Op for a
	// temporal rule without condition (every referenced rule).
	Op    string
	Value int
	// Field is value_count's condition.field.
	Field string

	// Lines, for errors the caller finds when mapping fields.
	Line, GroupByLine, FieldLine, ConditionLine int
}

// Severity maps the level as Rule.Severity does.
func (c *Correlation) Severity() string {
	if c.Level == "informational" {
		return "info"
	}
	return c.Level
}

// File is what a Sigma file holds: one rule, or one correlation rule and the
// rules it references (one file is one irflow rule, swept on one Schedule).
type File struct {
	Rule        *Rule
	Correlation *Correlation
}

// ParseFile reads a Sigma file: a rule, or a correlation rule with the rules
// it references as further YAML documents of the same file.
func ParseFile(file string, data []byte) (*File, error) {
	docs, err := parseDocs(file, data)
	if err != nil {
		return nil, err
	}
	var corr *node
	for _, d := range docs {
		if d.kind != mapNode {
			return nil, &Error{File: file, Line: d.line, What: "rule", Problem: "must be a YAML mapping"}
		}
		if _, line, ok := d.get("correlation"); ok {
			if corr != nil {
				return nil, &Error{File: file, Line: line, What: "second correlation rule in one file (chained correlations)", Problem: "not supported"}
			}
			corr = d
		}
	}
	if corr == nil {
		if len(docs) > 1 {
			return nil, collectionError(file, docs[1])
		}
		r, err := parseRule(file, docs[0])
		if err != nil {
			return nil, err
		}
		return &File{Rule: r}, nil
	}
	var rules []*Rule
	for _, d := range docs {
		if d == corr {
			continue
		}
		r, err := parseRule(file, d)
		if err != nil {
			return nil, err
		}
		r.line0 = d.line
		rules = append(rules, r)
	}
	c, err := parseCorrelation(file, corr, rules)
	if err != nil {
		return nil, err
	}
	return &File{Correlation: c}, nil
}

var timespanRE = regexp.MustCompile(`^([1-9][0-9]*)([smhd])$`)

var timespanUnits = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}

func parseCorrelation(file string, root *node, docs []*Rule) (*Correlation, error) {
	bad := func(line int, what, format string, args ...any) error {
		return &Error{File: file, Line: line, What: what, Problem: fmt.Sprintf(format, args...)}
	}
	c := &Correlation{File: file}
	var body *node
	for i, k := range root.keys {
		v, line := root.vals[i], root.kline[i]
		str, strs := stringReaders(bad, v, line, k)
		var err error
		var ignore string
		var ignoreList []string
		switch k {
		case "title":
			err = str(&c.Title)
		case "name":
			err = str(&c.Name)
		case "id":
			err = str(&c.ID)
		case "description":
			err = str(&c.Description)
		case "level":
			if err = str(&c.Level); err == nil && !levels[c.Level] {
				err = bad(line, k, "unknown level %q (want informational, low, medium, high, critical)", c.Level)
			}
		case "tags":
			err = strs(&c.Tags)
		case "falsepositives":
			err = strs(&c.FalsePositives)
		case "status", "author":
			err = str(&ignore)
		case "references":
			err = strs(&ignoreList)
		case "correlation":
			body, c.Line = v, line
		case "generate":
			b, ok := v.v.(bool)
			switch {
			case v.kind != scalarNode || !ok:
				err = bad(line, k, "must be true or false")
			case b:
				// One file is one irflow rule on one Schedule: the referenced
				// rules cannot also alert on their own from here.
				err = bad(line, "generate: true", "not supported (put the rule in a file of its own to alert on it alone)")
			}
		case "logsource", "detection":
			err = bad(line, k+" in a correlation rule", "not supported (the referenced rules have them)")
		default:
			if !metadata[k] {
				err = bad(line, k, "unknown Sigma attribute (not supported)")
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if c.Title == "" {
		return nil, bad(root.line, "title", "missing")
	}
	if body.kind != mapNode {
		return nil, bad(c.Line, "correlation", "must be a mapping")
	}
	var refs *node
	refsLine := 0
	var cond *node
	for i, k := range body.keys {
		v, line := body.vals[i], body.kline[i]
		what := "correlation." + k
		switch k {
		case "type":
			s, ok := v.str()
			if !ok {
				return nil, bad(line, what, "must be a string")
			}
			switch s {
			case EventCount, ValueCount, Temporal:
				c.Type = s
			case "temporal_ordered":
				// The sweep knows each rule's first and last events per key,
				// not every event in order, so it cannot check the order exactly.
				return nil, bad(line, "correlation.type temporal_ordered", "not supported")
			default:
				return nil, bad(line, what, "unknown %q (want event_count, value_count, temporal)", s)
			}
		case "rules":
			refs, refsLine = v, line
		case "group-by":
			l, ok := v.strs()
			if !ok {
				return nil, bad(line, what, "must be a list of field names")
			}
			c.GroupBy, c.GroupByLine = l, line
		case "timespan":
			s, ok := v.str()
			m := timespanRE.FindStringSubmatch(s)
			if !ok || m == nil {
				return nil, bad(line, what, "want a number and s, m, h or d (like 5m), got %v", v.v)
			}
			n, _ := strconv.Atoi(m[1])
			c.Timespan = time.Duration(n) * timespanUnits[m[2]]
		case "condition":
			cond, c.ConditionLine = v, line
		case "aliases":
			return nil, bad(line, "correlation.aliases", "not supported")
		case "generate":
			return nil, bad(line, what, "belongs at the top level of the rule, not under correlation")
		default:
			return nil, bad(line, what, "unknown attribute (not supported)")
		}
	}
	switch {
	case c.Type == "":
		return nil, bad(c.Line, "correlation.type", "missing")
	case refs == nil:
		return nil, bad(c.Line, "correlation.rules", "missing")
	case c.Timespan == 0:
		return nil, bad(c.Line, "correlation.timespan", "missing")
	case cond == nil && c.Type != Temporal:
		return nil, bad(c.Line, "correlation.condition", "missing (required by type %s)", c.Type)
	}
	if err := c.resolve(refs, refsLine, docs); err != nil {
		return nil, err
	}
	if cond != nil {
		if err := c.parseCondition(cond); err != nil {
			return nil, err
		}
	}
	if c.Type == ValueCount && c.Field == "" {
		return nil, bad(c.ConditionLine, "correlation.condition.field", "missing (required by type value_count)")
	}
	return c, nil
}

// resolve finds each referenced rule among the file's other documents, by
// name or id; every document must be referenced.
func (c *Correlation) resolve(refs *node, line int, docs []*Rule) error {
	names, ok := refs.strs()
	if !ok || len(names) == 0 {
		return &Error{File: c.File, Line: line, What: "correlation.rules", Problem: "must be a list of rule names or ids"}
	}
	used := map[*Rule]bool{}
	for i, ref := range names {
		l := line
		if refs.kind == seqNode {
			l = refs.items[i].line
		}
		var found *Rule
		for _, d := range docs {
			if ref != "" && (d.Name == ref || d.ID == ref) {
				found = d
				break
			}
		}
		if found == nil {
			return &Error{File: c.File, Line: l, What: fmt.Sprintf("correlation.rules: %q", ref),
				Problem: "not a rule in this file (irflow reads a correlation's rules from its own file, as further YAML documents: rules in other files, and chained correlations, not supported)"}
		}
		if used[found] {
			return &Error{File: c.File, Line: l, What: fmt.Sprintf("correlation.rules: %q", ref), Problem: "listed twice"}
		}
		used[found] = true
		c.Rules = append(c.Rules, found)
	}
	for _, d := range docs {
		if !used[d] {
			return &Error{File: c.File, Line: d.line0, What: fmt.Sprintf("rule %q not referenced by the correlation", d.Title), Problem: "not supported (one file holds one correlation and its rules)"}
		}
	}
	return nil
}

var conditionOps = map[string]bool{"gt": true, "gte": true, "lt": true, "lte": true, "eq": true}

func (c *Correlation) parseCondition(cond *node) error {
	bad := func(line int, what, format string, args ...any) error {
		return &Error{File: c.File, Line: line, What: what, Problem: fmt.Sprintf(format, args...)}
	}
	if cond.kind != mapNode {
		return bad(c.ConditionLine, "correlation.condition", "must be a mapping like {gte: 10}")
	}
	for i, k := range cond.keys {
		v, line := cond.vals[i], cond.kline[i]
		switch {
		case k == "field":
			s, ok := v.str()
			if !ok || s == "" {
				return bad(line, "correlation.condition.field", "must be a field name")
			}
			if c.Type != ValueCount {
				return bad(line, "correlation.condition.field", "only for type value_count")
			}
			c.Field, c.FieldLine = s, line
		case conditionOps[k]:
			if c.Op != "" {
				// A range (gt and lte) needs both bounds held at once; the
				// engine's frequency and cardinality types hold one.
				return bad(line, "correlation.condition with "+c.Op+" and "+k+" (a range)", "not supported")
			}
			n, ok := intValue(v)
			if !ok || n < 0 {
				return bad(line, "correlation.condition."+k, "must be a non-negative integer")
			}
			c.Op, c.Value = k, n
		default:
			return bad(line, "correlation.condition."+k, "unknown (want gt, gte, lt, lte, eq, and field for value_count)")
		}
	}
	if c.Op == "" {
		return bad(c.ConditionLine, "correlation.condition", "needs one of gt, gte, lt, lte, eq")
	}
	return nil
}

func intValue(v *node) (int, bool) {
	if v.kind != scalarNode {
		return 0, false
	}
	switch n := v.v.(type) {
	case int64:
		return int(n), true
	case uint64:
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

// MapField is a field name in the source's documents, as Compile maps
// detection fields; ok is false when the source does not map it.
func (s *Source) MapField(name string) (string, bool) {
	if to, ok := s.Fields[name]; ok {
		return to, true
	}
	if s.KeepUnmapped {
		return name, true
	}
	return "", false
}

// FieldError is the error for a correlation field the source does not map.
func (c *Correlation) FieldError(line int, what, field string, r *Rule) error {
	return &Error{File: c.File, Line: line, What: what + " " + field,
		Problem: fmt.Sprintf("not mapped for logsource %s of rule %q (add it under fields in %s)", r.Logsource, r.Title, MappingFile)}
}

// Ref names a referenced rule for alerts: name, else id, else title.
func (r *Rule) Ref() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.ID != "":
		return r.ID
	}
	return strings.TrimSpace(r.Title)
}
