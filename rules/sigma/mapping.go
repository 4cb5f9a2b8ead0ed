package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MappingFile is the name of the logsource mapping a Sigma rule uses: the
// first one found in the rule's directory or a parent of it. The leading "_"
// keeps rules.Files from taking it for a rule.
const MappingFile = "_sigma.yaml"

// Logsource is a Sigma rule's logsource (definition is free text and not kept).
type Logsource struct {
	Category string `json:"category,omitempty"`
	Product  string `json:"product,omitempty"`
	Service  string `json:"service,omitempty"`
}

func (l Logsource) String() string {
	var parts []string
	for _, kv := range [][2]string{{"category", l.Category}, {"product", l.Product}, {"service", l.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Source is where the events of one logsource live and what their fields are called.
type Source struct {
	Logsource Logsource
	Index     string
	// TimestampField defaults to @timestamp.
	TimestampField string
	// Fields maps Sigma field names to the documents' (dotted) field names.
	Fields map[string]string
	// KeepUnmapped uses a Sigma field name as is when Fields lacks it (for
	// sources whose JSON already uses Sigma's names, like CloudTrail); otherwise
	// an unmapped field is refused.
	KeepUnmapped bool
	// KeywordSuffix is appended to a field in string queries sent to
	// OpenSearch (".keyword" for dynamically mapped text fields); the Go
	// evaluator reads the field itself.
	KeywordSuffix string
	// Routing for the rule's incidents.
	Owner, Env, Category, SlackChannel string

	line int
}

// Mapping is a parsed mapping file.
type Mapping struct {
	File    string
	Sources []Source
}

// LoadMapping finds MappingFile for the rule at rulePath and parses it.
func LoadMapping(rulePath string) (*Mapping, error) {
	dir, err := filepath.Abs(filepath.Dir(rulePath))
	if err != nil {
		return nil, err
	}
	for {
		p := filepath.Join(dir, MappingFile)
		data, err := os.ReadFile(p)
		if err == nil {
			return ParseMapping(p, data)
		}
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("sigma mapping %s: %w", p, err)
		}
		up := filepath.Dir(dir)
		if up == dir {
			return nil, fmt.Errorf("no %s in %s or a parent directory (it maps logsources to indices and fields, see docs/sigma.md)", MappingFile, filepath.Dir(rulePath))
		}
		dir = up
	}
}

// ParseMapping validates a mapping file.
func ParseMapping(file string, data []byte) (*Mapping, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	bad := func(line int, what, format string, args ...any) error {
		return &Error{File: file, Line: line, What: what, Problem: fmt.Sprintf(format, args...)}
	}
	if root.kind != mapNode {
		return nil, bad(root.line, "mapping", "must be a YAML mapping")
	}
	m := &Mapping{File: file}
	for i, k := range root.keys {
		if k != "logsources" {
			return nil, bad(root.kline[i], k, "unknown key (want logsources)")
		}
	}
	list, line, ok := root.get("logsources")
	if !ok {
		return nil, bad(root.line, "logsources", "missing")
	}
	if list.kind != seqNode {
		return nil, bad(line, "logsources", "must be a list")
	}
	for i, e := range list.items {
		what := fmt.Sprintf("logsources[%d]", i)
		if e.kind != mapNode {
			return nil, bad(e.line, what, "must be a mapping")
		}
		s := Source{line: e.line, TimestampField: "@timestamp"}
		for j, k := range e.keys {
			v, kl := e.vals[j], e.kline[j]
			sub := what + "." + k
			str := func(dst *string) error {
				s, ok := v.str()
				if !ok {
					return bad(kl, sub, "must be a string")
				}
				*dst = s
				return nil
			}
			var err error
			switch k {
			case "logsource":
				s.Logsource, err = parseLogsource(file, v, kl, sub, false)
			case "index":
				err = str(&s.Index)
			case "timestamp_field":
				err = str(&s.TimestampField)
			case "keyword_suffix":
				err = str(&s.KeywordSuffix)
			case "owner":
				err = str(&s.Owner)
			case "env":
				err = str(&s.Env)
			case "category":
				err = str(&s.Category)
			case "slack_channel":
				err = str(&s.SlackChannel)
			case "keep_unmapped":
				b, ok := v.v.(bool)
				if v.kind != scalarNode || !ok {
					err = bad(kl, sub, "must be true or false")
				}
				s.KeepUnmapped = b
			case "fields":
				if v.kind != mapNode {
					err = bad(kl, sub, "must map Sigma field names to document field names")
					break
				}
				s.Fields = map[string]string{}
				for n, name := range v.keys {
					to, ok := v.vals[n].str()
					if !ok || to == "" {
						return nil, bad(v.kline[n], sub+"."+name, "must be a field name")
					}
					s.Fields[name] = to
				}
			default:
				err = bad(kl, sub, "unknown key (want logsource, index, timestamp_field, fields, keep_unmapped, keyword_suffix, owner, env, category, slack_channel)")
			}
			if err != nil {
				return nil, err
			}
		}
		if s.Logsource == (Logsource{}) {
			return nil, bad(e.line, what+".logsource", "missing")
		}
		if s.Index == "" {
			return nil, bad(e.line, what+".index", "missing")
		}
		for _, o := range m.Sources {
			if o.Logsource == s.Logsource {
				return nil, bad(e.line, what+".logsource", "%s is already mapped at line %d", s.Logsource, o.line)
			}
		}
		m.Sources = append(m.Sources, s)
	}
	return m, nil
}

// parseLogsource reads category/product/service; definition (free text) is
// accepted in rules only.
func parseLogsource(file string, n *node, line int, what string, inRule bool) (Logsource, error) {
	var l Logsource
	if n.kind != mapNode {
		return l, &Error{File: file, Line: line, What: what, Problem: "must be a mapping"}
	}
	for i, k := range n.keys {
		var dst *string
		switch k {
		case "category":
			dst = &l.Category
		case "product":
			dst = &l.Product
		case "service":
			dst = &l.Service
		case "definition":
			if inRule {
				continue
			}
		}
		if dst == nil {
			return l, &Error{File: file, Line: n.kline[i], What: what + "." + k, Problem: "not supported (want category, product, service)"}
		}
		s, ok := n.vals[i].str()
		if !ok {
			return l, &Error{File: file, Line: n.kline[i], What: what + "." + k, Problem: "must be a string"}
		}
		*dst = strings.ToLower(s)
	}
	return l, nil
}

// Lookup finds the source for a logsource: category, product and service
// must all equal an entry's (a missing one matches only a missing one), so a
// rule never runs on an index chosen by a guess.
func (m *Mapping) Lookup(l Logsource) (*Source, bool) {
	for i := range m.Sources {
		if m.Sources[i].Logsource == l {
			return &m.Sources[i], true
		}
	}
	return nil, false
}

// Known lists the mapped logsources, for error messages.
func (m *Mapping) Known() string {
	var out []string
	for _, s := range m.Sources {
		out = append(out, s.Logsource.String())
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
