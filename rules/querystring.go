package rules

import (
	"fmt"
	"strings"
)

// ParseQueryString compiles the Lucene subset used in rule filters:
// field:value, field:"phrase", wildcards (* ?), AND/OR/NOT (&& || ! - +),
// parentheses, field:(a OR b), ranges [a TO b] / {a TO b}, field:>n,
// _exists_:field and bare terms. Juxtaposed clauses combine with OR, the
// OpenSearch default_operator. Matching is case-insensitive and token based
// on text, exact on numbers.
func ParseQueryString(q, defaultField string) (Filter, error) {
	toks, err := lexQuery(q)
	if err != nil {
		return nil, err
	}
	p := &qsParser{toks: toks, def: defaultField}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty query")
	}
	f, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.toks[p.pos].text, p.toks[p.pos].off)
	}
	return f, nil
}

type qsKind int

const (
	qsWord qsKind = iota
	qsPhrase
	qsRange
	qsLParen
	qsRParen
)

type qsTok struct {
	kind qsKind
	text string // unescaped for words; raw for ranges
	raw  string // as written (escapes kept) for words
	off  int
}

func lexQuery(q string) ([]qsTok, error) {
	var out []qsTok
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, qsTok{kind: qsLParen, text: "(", off: i})
			i++
		case c == ')':
			out = append(out, qsTok{kind: qsRParen, text: ")", off: i})
			i++
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(q) && q[j] != '"' {
				if q[j] == '\\' && j+1 < len(q) {
					j++
				}
				b.WriteByte(q[j])
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated phrase at offset %d", i)
			}
			out = append(out, qsTok{kind: qsPhrase, text: b.String(), off: i})
			i = j + 1
		case c == '[' || c == '{':
			j := strings.IndexAny(q[i:], "]}")
			if j < 0 {
				return nil, fmt.Errorf("unterminated range at offset %d", i)
			}
			out = append(out, qsTok{kind: qsRange, text: q[i : i+j+1], off: i})
			i += j + 1
		default:
			j := i
			var b strings.Builder
			for j < len(q) {
				d := q[j]
				if d == '\\' && j+1 < len(q) {
					b.WriteByte('\\')
					b.WriteByte(q[j+1])
					j += 2
					continue
				}
				if d == ' ' || d == '\t' || d == '\n' || d == '(' || d == ')' || d == '"' ||
					((d == '[' || d == '{') && j > i && q[j-1] == ':') {
					break
				}
				b.WriteByte(d)
				j++
			}
			raw := b.String()
			out = append(out, qsTok{kind: qsWord, raw: raw, text: unescape(raw), off: i})
			i = j
		}
	}
	return out, nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

type qsParser struct {
	toks []qsTok
	pos  int
	def  string
}

func (p *qsParser) peek() *qsTok {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *qsParser) isOp(names ...string) bool {
	t := p.peek()
	if t == nil || t.kind != qsWord {
		return false
	}
	for _, n := range names {
		if t.raw == n {
			return true
		}
	}
	return false
}

func (p *qsParser) or(fieldName string) (Filter, error) {
	var parts []Filter
	for {
		f, err := p.and(fieldName)
		if err != nil {
			return nil, err
		}
		parts = append(parts, f)
		if p.isOp("OR", "||") {
			p.pos++
			continue
		}
		t := p.peek()
		if t == nil || t.kind == qsRParen {
			break
		}
		// Juxtaposition: default operator OR.
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return filterFunc(func(e Event) bool {
		for _, f := range parts {
			if f.Match(e) {
				return true
			}
		}
		return false
	}), nil
}

func (p *qsParser) and(fieldName string) (Filter, error) {
	var parts []Filter
	for {
		f, err := p.unary(fieldName)
		if err != nil {
			return nil, err
		}
		parts = append(parts, f)
		if !p.isOp("AND", "&&") {
			break
		}
		p.pos++
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return filterFunc(func(e Event) bool {
		for _, f := range parts {
			if !f.Match(e) {
				return false
			}
		}
		return true
	}), nil
}

func (p *qsParser) unary(fieldName string) (Filter, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("unexpected end of query")
	}
	if t.kind == qsWord && (t.raw == "NOT" || t.raw == "!") {
		p.pos++
		f, err := p.unary(fieldName)
		if err != nil {
			return nil, err
		}
		return filterFunc(func(e Event) bool { return !f.Match(e) }), nil
	}
	if t.kind == qsWord && len(t.raw) > 1 && (t.raw[0] == '-' || t.raw[0] == '!' || t.raw[0] == '+') {
		neg := t.raw[0] != '+'
		t.raw, t.text = t.raw[1:], t.text[1:]
		f, err := p.unary(fieldName)
		if err != nil || !neg {
			return f, err
		}
		return filterFunc(func(e Event) bool { return !f.Match(e) }), nil
	}
	return p.primary(fieldName)
}

func (p *qsParser) primary(fieldName string) (Filter, error) {
	t := p.peek()
	switch t.kind {
	case qsRParen:
		return nil, fmt.Errorf("unexpected ) at offset %d", t.off)
	case qsLParen:
		p.pos++
		f, err := p.or(fieldName)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c == nil || c.kind != qsRParen {
			return nil, fmt.Errorf("missing ) for ( at offset %d", t.off)
		}
		p.pos++
		return f, nil
	case qsPhrase:
		p.pos++
		return p.valueFilter(fieldName, t.text, true), nil
	case qsRange:
		p.pos++
		if fieldName == "" {
			return nil, fmt.Errorf("range %s needs a field", t.text)
		}
		return rangeFilter(fieldName, t.text)
	}
	p.pos++
	if switch_, ok := isReserved(t.raw); ok {
		return nil, fmt.Errorf("unexpected %s at offset %d", switch_, t.off)
	}
	if name, rest, ok := splitField(t.raw); ok && fieldName == "" {
		name = unescape(name)
		if rest == "" {
			n := p.peek()
			if n == nil {
				return nil, fmt.Errorf("%s: missing value", name)
			}
			if name == "_exists_" {
				return nil, fmt.Errorf("_exists_: missing field")
			}
			return p.primary(name)
		}
		if name == "_exists_" {
			f := newField(unescape(rest))
			return filterFunc(func(e Event) bool { v, ok := f.get(e); return ok && v != nil }), nil
		}
		return p.termFilter(name, rest)
	}
	return p.termFilter(fieldName, t.raw)
}

func isReserved(s string) (string, bool) {
	switch s {
	case "AND", "OR", "&&", "||":
		return s, true
	}
	return "", false
}

// splitField splits "field:value" at the first unescaped colon.
func splitField(raw string) (string, string, bool) {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++
			continue
		}
		if raw[i] == ':' {
			return raw[:i], raw[i+1:], true
		}
	}
	return "", "", false
}

func (p *qsParser) termFilter(fieldName, raw string) (Filter, error) {
	if fieldName == "" {
		fieldName = p.def
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(raw, op) && fieldName != "" {
			bound := unescape(raw[len(op):])
			var want func(int) bool
			switch op {
			case ">=":
				want = func(c int) bool { return c >= 0 }
			case "<=":
				want = func(c int) bool { return c <= 0 }
			case ">":
				want = func(c int) bool { return c > 0 }
			default:
				want = func(c int) bool { return c < 0 }
			}
			f := newField(fieldName)
			return filterFunc(func(e Event) bool {
				return anyValue(f, e, func(v any) bool { c, ok := compareValues(v, bound); return ok && want(c) })
			}), nil
		}
	}
	if raw == "*" && fieldName != "" {
		f := newField(fieldName)
		return filterFunc(func(e Event) bool { v, ok := f.get(e); return ok && v != nil }), nil
	}
	// Wildcards are detected on the escaped form so \* stays literal.
	wild := false
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			i++
			continue
		}
		if raw[i] == '*' || raw[i] == '?' {
			wild = true
		}
	}
	val := unescape(raw)
	if wild {
		pat := strings.ToLower(val)
		match := func(v any) bool {
			s := strings.ToLower(keyString(v))
			if wildMatch(pat, s) {
				return true
			}
			for _, tok := range tokens(s) {
				if wildMatch(pat, tok) {
					return true
				}
			}
			return false
		}
		return p.fieldOrAll(fieldName, match), nil
	}
	return p.valueFilter(fieldName, val, false), nil
}

func (p *qsParser) valueFilter(fieldName, val string, phrase bool) Filter {
	if fieldName == "" {
		fieldName = p.def
	}
	lower := strings.ToLower(val)
	match := func(v any) bool {
		if equalValue(v, val) {
			return true
		}
		s := strings.ToLower(keyString(v))
		if s == lower {
			return true
		}
		if _, isNum := toFloat(v); isNum {
			return false
		}
		return containsPhrase(s, lower)
	}
	return p.fieldOrAll(fieldName, match)
}

// fieldOrAll applies match to one field, or to every leaf value when the term
// is bare and there is no default field (OpenSearch's default "*").
func (p *qsParser) fieldOrAll(fieldName string, match func(any) bool) Filter {
	if fieldName != "" {
		f := newField(fieldName)
		return filterFunc(func(e Event) bool { return anyValue(f, e, match) })
	}
	return filterFunc(func(e Event) bool { return anyLeaf(map[string]any(e), match) })
}

func anyLeaf(v any, match func(any) bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if anyLeaf(e, match) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if anyLeaf(e, match) {
				return true
			}
		}
		return false
	case nil:
		return false
	}
	return match(v)
}

func rangeFilter(fieldName, text string) (Filter, error) {
	incLo, incHi := text[0] == '[', text[len(text)-1] == ']'
	parts := strings.Fields(text[1 : len(text)-1])
	if len(parts) != 3 || parts[1] != "TO" {
		return nil, fmt.Errorf("range %s: want [low TO high]", text)
	}
	lo, hi := unescape(strings.Trim(parts[0], `"`)), unescape(strings.Trim(parts[2], `"`))
	f := newField(fieldName)
	return filterFunc(func(e Event) bool {
		return anyValue(f, e, func(v any) bool {
			if lo != "*" {
				c, ok := compareValues(v, lo)
				if !ok || c < 0 || (c == 0 && !incLo) {
					return false
				}
			}
			if hi != "*" {
				c, ok := compareValues(v, hi)
				if !ok || c > 0 || (c == 0 && !incHi) {
					return false
				}
			}
			return true
		})
	}), nil
}
