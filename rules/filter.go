package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Filter is a compiled query from a rule's filter list, evaluated in Go. It
// mirrors the OpenSearch query DSL closely enough for backtests and the rule
// pack; keyword fields compare exactly, text matching is approximated by
// case-insensitive token matching (no analyzers).
type Filter interface {
	Match(e Event) bool
}

type filterFunc func(Event) bool

func (f filterFunc) Match(e Event) bool { return f(e) }

// CompileFilter compiles one query object such as {"term": {"status": 500}}.
func CompileFilter(q map[string]any) (Filter, error) {
	if len(q) != 1 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("query must have exactly one type, got %d (%s)", len(q), strings.Join(keys, ", "))
	}
	for kind, body := range q {
		return compileQuery(kind, body)
	}
	return nil, nil
}

func compileQuery(kind string, body any) (Filter, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be an object", kind)
	}
	switch kind {
	case "query":
		// ElastAlert's older form: - query: {query_string: {...}}
		return CompileFilter(m)
	case "query_string":
		s, ok := m["query"].(string)
		if !ok {
			return nil, fmt.Errorf("query_string: query must be a string")
		}
		def, _ := m["default_field"].(string)
		f, err := ParseQueryString(s, def)
		if err != nil {
			return nil, fmt.Errorf("query_string: %w", err)
		}
		return f, nil
	case "term", "match_phrase", "match", "wildcard", "prefix":
		name, val, err := singleField(kind, m, map[string]string{"term": "value", "match_phrase": "query", "match": "query", "wildcard": "value", "prefix": "value"}[kind])
		if err != nil {
			return nil, err
		}
		f := newField(name)
		switch kind {
		case "term":
			return filterFunc(func(e Event) bool { return anyValue(f, e, func(v any) bool { return equalValue(v, val) }) }), nil
		case "match_phrase":
			p := strings.ToLower(keyString(val))
			return filterFunc(func(e Event) bool {
				return anyValue(f, e, func(v any) bool { return containsPhrase(strings.ToLower(keyString(v)), p) })
			}), nil
		case "match":
			words := tokens(keyString(val))
			return filterFunc(func(e Event) bool {
				return anyValue(f, e, func(v any) bool {
					have := tokens(keyString(v))
					for _, w := range words {
						for _, h := range have {
							if w == h {
								return true
							}
						}
					}
					return false
				})
			}), nil
		case "wildcard":
			pat := keyString(val)
			return filterFunc(func(e Event) bool { return anyValue(f, e, func(v any) bool { return globMatch(pat, keyString(v)) }) }), nil
		default:
			pre := keyString(val)
			return filterFunc(func(e Event) bool {
				return anyValue(f, e, func(v any) bool { return strings.HasPrefix(keyString(v), pre) })
			}), nil
		}
	case "terms":
		if len(m) != 1 {
			return nil, fmt.Errorf("terms: want exactly one field")
		}
		for name, v := range m {
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("terms: %s must be a list", name)
			}
			f := newField(name)
			return filterFunc(func(e Event) bool {
				return anyValue(f, e, func(v any) bool {
					for _, want := range list {
						if equalValue(v, want) {
							return true
						}
					}
					return false
				})
			}), nil
		}
	case "exists":
		name, ok := m["field"].(string)
		if !ok {
			return nil, fmt.Errorf("exists: field must be a string")
		}
		f := newField(name)
		return filterFunc(func(e Event) bool { v, ok := f.get(e); return ok && v != nil }), nil
	case "range":
		return compileRange(m)
	case "bool":
		return compileBool(m)
	}
	return nil, fmt.Errorf("unknown query type %q (want query_string, term, terms, range, bool, exists, wildcard, prefix, match, match_phrase)", kind)
}

func singleField(kind string, m map[string]any, inner string) (string, any, error) {
	if len(m) != 1 {
		return "", nil, fmt.Errorf("%s: want exactly one field", kind)
	}
	for name, v := range m {
		if sub, ok := v.(map[string]any); ok {
			val, ok := sub[inner]
			if !ok {
				return "", nil, fmt.Errorf("%s: %s needs %q", kind, name, inner)
			}
			return name, val, nil
		}
		return name, v, nil
	}
	return "", nil, nil
}

func compileRange(m map[string]any) (Filter, error) {
	if len(m) != 1 {
		return nil, fmt.Errorf("range: want exactly one field")
	}
	for name, v := range m {
		b, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("range: %s must be an object", name)
		}
		var checks []func(any) bool
		for op, bound := range b {
			switch op {
			case "gt", "gte", "lt", "lte":
			case "format", "time_zone", "boost":
				continue
			default:
				return nil, fmt.Errorf("range: unknown operator %q (want gt, gte, lt, lte)", op)
			}
			if s, ok := bound.(string); ok && strings.HasPrefix(s, "now") {
				return nil, fmt.Errorf("range: date math %q is not supported", s)
			}
			op, bound := op, bound
			checks = append(checks, func(v any) bool {
				c, ok := compareValues(v, bound)
				if !ok {
					return false
				}
				switch op {
				case "gt":
					return c > 0
				case "gte":
					return c >= 0
				case "lt":
					return c < 0
				}
				return c <= 0
			})
		}
		f := newField(name)
		return filterFunc(func(e Event) bool {
			return anyValue(f, e, func(v any) bool {
				for _, c := range checks {
					if !c(v) {
						return false
					}
				}
				return true
			})
		}), nil
	}
	return nil, nil
}

func compileBool(m map[string]any) (Filter, error) {
	list := func(key string) ([]Filter, error) {
		v, ok := m[key]
		if !ok {
			return nil, nil
		}
		var items []any
		switch x := v.(type) {
		case []any:
			items = x
		case map[string]any:
			items = []any{x}
		default:
			return nil, fmt.Errorf("bool: %s must be a query or a list of queries", key)
		}
		out := make([]Filter, 0, len(items))
		for _, it := range items {
			q, ok := it.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("bool: %s entries must be query objects", key)
			}
			f, err := CompileFilter(q)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	for k := range m {
		switch k {
		case "must", "filter", "should", "must_not", "minimum_should_match", "boost":
		default:
			return nil, fmt.Errorf("bool: unknown clause %q", k)
		}
	}
	must, err := list("must")
	if err != nil {
		return nil, err
	}
	filt, err := list("filter")
	if err != nil {
		return nil, err
	}
	must = append(must, filt...)
	should, err := list("should")
	if err != nil {
		return nil, err
	}
	not, err := list("must_not")
	if err != nil {
		return nil, err
	}
	// As in OpenSearch: with must/filter present, should is optional unless
	// minimum_should_match says otherwise.
	minShould := 0
	if len(should) > 0 && len(must) == 0 {
		minShould = 1
	}
	if v, ok := m["minimum_should_match"]; ok {
		f, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("bool: minimum_should_match must be a number")
		}
		minShould = int(f)
	}
	return filterFunc(func(e Event) bool {
		for _, f := range must {
			if !f.Match(e) {
				return false
			}
		}
		for _, f := range not {
			if f.Match(e) {
				return false
			}
		}
		if minShould == 0 {
			return true
		}
		n := 0
		for _, f := range should {
			if f.Match(e) {
				if n++; n >= minShould {
					return true
				}
			}
		}
		return false
	}), nil
}

// anyValue applies pred to the field's value, or to each element of an array.
func anyValue(f field, e Event, pred func(any) bool) bool {
	v, ok := f.get(e)
	if !ok || v == nil {
		return false
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if pred(x) {
				return true
			}
		}
		return false
	}
	return pred(v)
}

func equalValue(v, want any) bool {
	if a, ok := toFloat(v); ok {
		if b, ok := numberOf(want); ok {
			return a == b
		}
	}
	if b, ok := want.(bool); ok {
		return v == b || keyString(v) == strconv.FormatBool(b)
	}
	return keyString(v) == keyString(want)
}

func numberOf(v any) (float64, bool) {
	if f, ok := toFloat(v); ok {
		return f, true
	}
	if s, ok := v.(string); ok {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	return 0, false
}

// compareValues orders v against bound: numerically when both are numbers,
// as instants when both are timestamps, else as strings.
func compareValues(v, bound any) (int, bool) {
	if a, ok := numberOf(v); ok {
		if b, ok := numberOf(bound); ok {
			return cmp3(a, b), true
		}
	}
	if ta, ok := parseTime(v, "iso"); ok {
		if tb, ok := parseTime(bound, "iso"); ok {
			return ta.Compare(tb), true
		}
	}
	if _, isNum := toFloat(v); isNum {
		return 0, false
	}
	return strings.Compare(keyString(v), keyString(bound)), true
}

func cmp3(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	})
}

func containsPhrase(s, phrase string) bool {
	if phrase == "" {
		return true
	}
	return strings.Join(tokens(s), " ") == strings.Join(tokens(phrase), " ") ||
		strings.Contains(" "+strings.Join(tokens(s), " ")+" ", " "+strings.Join(tokens(phrase), " ")+" ")
}

// globMatch matches Lucene wildcards (* and ?) against the whole value.
func globMatch(pat, s string) bool {
	return wildMatch(pat, s)
}

func wildMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := 0; i <= len(s); i++ {
				if wildMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if len(s) == 0 || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return len(s) == 0
}
