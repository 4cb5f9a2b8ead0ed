package sigma

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// expr is a detection after the condition is resolved: and/or/not over
// leaves, each one field tested by one matcher.
type expr interface{}

type (
	andExpr []expr
	orExpr  []expr
	notExpr struct{ x expr }
	leaf    struct {
		line  int
		field string // the Sigma field name
		m     matcher
	}
)

type matchKind int

const (
	matchExact  matchKind = iota // val: string, float64 or bool
	matchGlob                    // glob: literal runs and wildcards
	matchRegex                   // lucene + re
	matchExists                  // exists: want
	matchNull                    // the field is absent or null
	matchRange                   // op, num
)

type matcher struct {
	kind   matchKind
	val    any
	glob   []globPart
	cased  bool
	lucene string
	re     *regexp.Regexp
	reCI   bool
	exists bool
	op     string
	num    float64
}

// globPart is a literal run, or a wildcard: "*" any run, "?" one character.
type globPart struct {
	lit  string
	wild byte
}

// Doc is what the Go evaluator reads: rules.Event satisfies it.
type Doc interface {
	Get(name string) (any, bool)
}

// Compiled is a detection ready to run on both paths.
type Compiled struct {
	// Query is the OpenSearch query (one bool/term/... object).
	Query map[string]any
	// Match is the Go evaluator of the same detection.
	Match func(Doc) bool
}

// Compile maps a parsed rule's fields through src and builds both forms.
func Compile(r *Rule, src *Source) (*Compiled, error) {
	fieldOf := func(l *leaf) (string, error) {
		if to, ok := src.Fields[l.field]; ok {
			return to, nil
		}
		if src.KeepUnmapped {
			return l.field, nil
		}
		return "", &Error{File: r.File, Line: l.line, What: "field " + l.field, Problem: fmt.Sprintf("not mapped for logsource %s (add it under fields in %s)", r.Logsource, MappingFile)}
	}
	var build func(e expr) (map[string]any, func(Doc) bool, error)
	build = func(e expr) (map[string]any, func(Doc) bool, error) {
		switch x := e.(type) {
		case andExpr, orExpr:
			list := []expr(nil)
			if a, ok := x.(andExpr); ok {
				list = a
			} else {
				list = x.(orExpr)
			}
			qs := make([]any, 0, len(list))
			fs := make([]func(Doc) bool, 0, len(list))
			for _, s := range list {
				q, f, err := build(s)
				if err != nil {
					return nil, nil, err
				}
				qs = append(qs, q)
				fs = append(fs, f)
			}
			if _, ok := x.(andExpr); ok {
				return map[string]any{"bool": map[string]any{"filter": qs}}, func(d Doc) bool {
					for _, f := range fs {
						if !f(d) {
							return false
						}
					}
					return true
				}, nil
			}
			return map[string]any{"bool": map[string]any{"should": qs, "minimum_should_match": 1}}, func(d Doc) bool {
				for _, f := range fs {
					if f(d) {
						return true
					}
				}
				return false
			}, nil
		case notExpr:
			q, f, err := build(x.x)
			if err != nil {
				return nil, nil, err
			}
			return map[string]any{"bool": map[string]any{"must_not": []any{q}}}, func(d Doc) bool { return !f(d) }, nil
		case *leaf:
			name, err := fieldOf(x)
			if err != nil {
				return nil, nil, err
			}
			return x.m.query(name, src.KeywordSuffix), x.m.pred(name), nil
		}
		return nil, nil, fmt.Errorf("sigma: unknown expression %T", e)
	}
	q, f, err := build(r.expr)
	if err != nil {
		return nil, err
	}
	return &Compiled{Query: q, Match: f}, nil
}

// hasCase reports whether folding case can change s; a string without
// letters is sent without case_insensitive, which numeric fields refuse.
func hasCase(s string) bool {
	for _, r := range s {
		if unicode.SimpleFold(r) != r {
			return true
		}
	}
	return false
}

func (m matcher) query(field, kwSuffix string) map[string]any {
	str := field + kwSuffix
	withCase := func(body map[string]any, s string) map[string]any {
		if !m.cased && hasCase(s) {
			body["case_insensitive"] = true
		}
		return body
	}
	switch m.kind {
	case matchExact:
		if s, ok := m.val.(string); ok {
			return map[string]any{"term": map[string]any{str: withCase(map[string]any{"value": s}, s)}}
		}
		return map[string]any{"term": map[string]any{field: map[string]any{"value": m.val}}}
	case matchGlob:
		var b strings.Builder
		for _, p := range m.glob {
			if p.wild != 0 {
				b.WriteByte(p.wild)
				continue
			}
			for _, r := range p.lit {
				if r == '*' || r == '?' || r == '\\' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
		}
		return map[string]any{"wildcard": map[string]any{str: withCase(map[string]any{"value": b.String()}, b.String())}}
	case matchRegex:
		body := map[string]any{"value": m.lucene}
		if m.reCI {
			body["case_insensitive"] = true
		}
		return map[string]any{"regexp": map[string]any{str: body}}
	case matchExists:
		q := map[string]any{"exists": map[string]any{"field": field}}
		if m.exists {
			return q
		}
		return map[string]any{"bool": map[string]any{"must_not": []any{q}}}
	case matchNull:
		return map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"exists": map[string]any{"field": field}}}}}
	case matchRange:
		return map[string]any{"range": map[string]any{field: map[string]any{m.op: m.num}}}
	}
	panic(fmt.Sprintf("sigma: matcher kind %d", m.kind))
}

func (m matcher) pred(field string) func(Doc) bool {
	present := func(d Doc) (any, bool) {
		v, ok := d.Get(field)
		if !ok || v == nil {
			return nil, false
		}
		if l, ok := v.([]any); ok && len(l) == 0 {
			return nil, false
		}
		return v, true
	}
	anyOf := func(test func(any) bool) func(Doc) bool {
		return func(d Doc) bool {
			v, ok := present(d)
			if !ok {
				return false
			}
			if l, ok := v.([]any); ok {
				for _, e := range l {
					if e != nil && test(e) {
						return true
					}
				}
				return false
			}
			return test(v)
		}
	}
	fold := func(s string) string {
		if m.cased {
			return s
		}
		return strings.ToLower(s)
	}
	switch m.kind {
	case matchExact:
		switch want := m.val.(type) {
		case string:
			w := fold(want)
			return anyOf(func(v any) bool { s, ok := scalarString(v); return ok && fold(s) == w })
		case float64:
			return anyOf(func(v any) bool { n, ok := number(v); return ok && n == want })
		case bool:
			return anyOf(func(v any) bool {
				if b, ok := v.(bool); ok {
					return b == want
				}
				s, ok := v.(string)
				return ok && s == strconv.FormatBool(want)
			})
		}
	case matchGlob:
		parts := make([]globPart, len(m.glob))
		for i, p := range m.glob {
			parts[i] = globPart{lit: fold(p.lit), wild: p.wild}
		}
		return anyOf(func(v any) bool { s, ok := scalarString(v); return ok && globMatch(parts, fold(s)) })
	case matchRegex:
		return anyOf(func(v any) bool { s, ok := scalarString(v); return ok && m.re.MatchString(s) })
	case matchExists:
		return func(d Doc) bool { _, ok := present(d); return ok == m.exists }
	case matchNull:
		return func(d Doc) bool { _, ok := present(d); return !ok }
	case matchRange:
		return anyOf(func(v any) bool {
			n, ok := number(v)
			if !ok {
				return false
			}
			switch m.op {
			case "gt":
				return n > m.num
			case "gte":
				return n >= m.num
			case "lt":
				return n < m.num
			}
			return n <= m.num
		})
	}
	panic(fmt.Sprintf("sigma: matcher kind %d", m.kind))
}

// scalarString is a value as a keyword field indexes it: strings as they
// are, numbers and booleans as JSON prints them.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case fmt.Stringer: // json.Number
		return x.String(), true
	}
	if n, ok := number(v); ok {
		return formatNumber(n), true
	}
	return "", false
}

func formatNumber(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e15 {
		return strconv.FormatInt(int64(n), 10)
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

// number reads a numeric value; numeric strings count, as OpenSearch coerces
// them into numeric fields.
func number(v any) (float64, bool) {
	if f, ok := yamlNumber(v); ok {
		return f, true
	}
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case fmt.Stringer:
		f, err := strconv.ParseFloat(x.String(), 64)
		return f, err == nil
	}
	return 0, false
}

// globMatch matches s against parts; "?" is one character (rune), as in
// Lucene's wildcard query. On a mismatch it backtracks to the last "*" only,
// so it runs in O(len(parts) * len(s)).
func globMatch(parts []globPart, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) || pi < len(parts) {
		if pi < len(parts) {
			switch p := parts[pi]; p.wild {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					pi++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], p.lit) {
					si += len(p.lit)
					pi++
					continue
				}
			}
		}
		if starP >= 0 && starS < len(s) {
			_, n := utf8.DecodeRuneInString(s[starS:])
			starS += n
			pi, si = starP+1, starS
			continue
		}
		return false
	}
	return true
}
