package sigma

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"unicode"
)

// parseCondition turns a condition such as "sel and not 1 of filter_*" into
// an expression over the detection's named selections. Precedence as in the
// Sigma specification: not, then and, then or.
func parseCondition(file string, line int, cond string, sels map[string]expr) (expr, error) {
	p := &condParser{file: file, line: line, sels: sels}
	if err := p.lex(cond); err != nil {
		return nil, err
	}
	if len(p.toks) == 0 {
		return nil, p.errf("condition", "empty")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errf("condition", "unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

type condParser struct {
	file string
	line int
	sels map[string]expr
	toks []string
	pos  int
}

func (p *condParser) errf(what, format string, args ...any) error {
	return &Error{File: p.file, Line: p.line, What: what, Problem: fmt.Sprintf(format, args...)}
}

func (p *condParser) lex(s string) error {
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			p.toks = append(p.toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			flush()
		case r == '(' || r == ')':
			flush()
			p.toks = append(p.toks, string(r))
		case r == '|':
			return p.errf("condition aggregation (| count() ...)", "not supported (write a Sigma correlation rule instead)")
		case r == '_' || r == '-' || r == '.' || r == '*' || unicode.IsLetter(r) || unicode.IsDigit(r):
			cur.WriteRune(r)
		default:
			return p.errf("condition", "unexpected character %q", r)
		}
	}
	flush()
	return nil
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *condParser) or() (expr, error) {
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	xs := []expr{x}
	for p.peek() == "or" {
		p.next()
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return orExpr(xs), nil
}

func (p *condParser) and() (expr, error) {
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	xs := []expr{x}
	for p.peek() == "and" {
		p.next()
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return andExpr(xs), nil
}

func (p *condParser) not() (expr, error) {
	if p.peek() == "not" {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (expr, error) {
	t := p.next()
	switch t {
	case "":
		return nil, p.errf("condition", "ends early")
	case "(":
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, p.errf("condition", "missing )")
		}
		return x, nil
	case ")", "and", "or", "of", "them":
		return nil, p.errf("condition", "unexpected %q", t)
	}
	if p.peek() == "of" {
		p.next()
		return p.of(t, p.next())
	}
	if strings.Contains(t, "*") {
		return nil, p.errf("condition", "%q: a wildcard needs \"1 of\" or \"all of\"", t)
	}
	x, ok := p.sels[t]
	if !ok {
		return nil, p.errf("condition", "%q is not a detection identifier", t)
	}
	return x, nil
}

// of resolves "1 of X" and "all of X"; X is "them" (every identifier not
// starting with "_") or a pattern with * wildcards.
func (p *condParser) of(quant, target string) (expr, error) {
	if quant != "1" && quant != "all" {
		return nil, p.errf("condition \""+quant+" of\"", "not supported (want \"1 of\" or \"all of\")")
	}
	switch target {
	case "", "(", ")", "and", "or", "not", "of":
		return nil, p.errf("condition", "%s of: want an identifier pattern or them", quant)
	}
	var names []string
	for name := range p.sels {
		switch {
		case target == "them":
			if !strings.HasPrefix(name, "_") {
				names = append(names, name)
			}
		default:
			// path.Match's * does not cross "/", which Sigma names do not use;
			// its other metacharacters ([, ?, \) cannot reach here (lex refuses them).
			if ok, _ := path.Match(target, name); ok {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		return nil, p.errf("condition", "%s of %s: matches no detection identifier", quant, target)
	}
	sort.Strings(names)
	xs := make([]expr, len(names))
	for i, n := range names {
		xs[i] = p.sels[n]
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	if quant == "all" {
		return andExpr(xs), nil
	}
	return orExpr(xs), nil
}
