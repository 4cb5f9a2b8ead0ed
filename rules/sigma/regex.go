package sigma

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// luceneRegex translates a Sigma regular expression (unanchored search, as
// in PCRE) into an OpenSearch regexp query value (Lucene syntax, always
// anchored to the whole value) and the Go regexp the evaluator runs. The
// expression is parsed once and printed for Lucene from the parse tree, so
// both sides read the same expression; anything Lucene cannot say (word
// boundaries, ^ or $ inside the expression, multi-line mode) is refused.
func luceneRegex(expr string, dotAll bool) (lucene string, re *regexp.Regexp, err error) {
	flags := syntax.Perl
	if dotAll {
		flags |= syntax.DotNL
	}
	tree, err := syntax.Parse(expr, flags)
	if err != nil {
		return "", nil, err
	}
	tree = tree.Simplify()
	subs := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpConcat {
		subs = tree.Sub
	}
	anchoredStart := len(subs) > 0 && subs[0].Op == syntax.OpBeginText
	if anchoredStart {
		subs = subs[1:]
	}
	anchoredEnd := len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText
	if anchoredEnd {
		subs = subs[:len(subs)-1]
	}
	var b strings.Builder
	if !anchoredStart {
		b.WriteString(".*")
	}
	b.WriteString("(")
	for _, s := range subs {
		if err := writeLucene(&b, s); err != nil {
			return "", nil, err
		}
	}
	b.WriteString(")")
	if !anchoredEnd {
		b.WriteString(".*")
	}
	prefix := ""
	if dotAll {
		prefix = "(?s)"
	}
	re, err = regexp.Compile(prefix + expr)
	if err != nil {
		return "", nil, err
	}
	return b.String(), re, nil
}

func writeLucene(b *strings.Builder, r *syntax.Regexp) error {
	group := func(subs []*syntax.Regexp, sep string) error {
		b.WriteString("(")
		for i, s := range subs {
			if i > 0 {
				b.WriteString(sep)
			}
			if err := writeLucene(b, s); err != nil {
				return err
			}
		}
		b.WriteString(")")
		return nil
	}
	if r.Flags&syntax.FoldCase != 0 && (r.Op == syntax.OpLiteral) {
		// (?i) inside the expression: spell each letter as a class.
		for _, c := range r.Rune {
			if unicode.SimpleFold(c) == c {
				writeRune(b, c)
				continue
			}
			b.WriteString("[")
			for f := c; ; {
				writeRune(b, f)
				if f = unicode.SimpleFold(f); f == c {
					break
				}
			}
			b.WriteString("]")
		}
		return nil
	}
	switch r.Op {
	case syntax.OpEmptyMatch:
		b.WriteString("()")
	case syntax.OpLiteral:
		for _, c := range r.Rune {
			writeRune(b, c)
		}
	case syntax.OpCharClass:
		writeClass(b, r.Rune)
	case syntax.OpAnyChar:
		b.WriteString(".")
	case syntax.OpAnyCharNotNL:
		b.WriteString("[^\n]")
	case syntax.OpCapture:
		return group(r.Sub, "")
	case syntax.OpConcat:
		return group(r.Sub, "")
	case syntax.OpAlternate:
		return group(r.Sub, "|")
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		if err := group(r.Sub, ""); err != nil {
			return err
		}
		b.WriteString(map[syntax.Op]string{syntax.OpStar: "*", syntax.OpPlus: "+", syntax.OpQuest: "?"}[r.Op])
	case syntax.OpRepeat:
		if err := group(r.Sub, ""); err != nil {
			return err
		}
		switch {
		case r.Max == -1:
			fmt.Fprintf(b, "{%d,}", r.Min)
		case r.Min == r.Max:
			fmt.Fprintf(b, "{%d}", r.Min)
		default:
			fmt.Fprintf(b, "{%d,%d}", r.Min, r.Max)
		}
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return fmt.Errorf("^ or $ other than at the start or end of the expression")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return fmt.Errorf(`\b and \B`)
	case syntax.OpNoMatch:
		return fmt.Errorf("an expression that matches nothing")
	default:
		return fmt.Errorf("%v", r.Op)
	}
	return nil
}

// writeClass prints a character class; a class that reaches the last rune is
// printed negated, as it was most likely written ([^...], \D, \S).
func writeClass(b *strings.Builder, ranges []rune) {
	negate := len(ranges) > 0 && ranges[len(ranges)-1] == unicode.MaxRune
	if negate {
		var comp []rune
		next := rune(0)
		for i := 0; i < len(ranges); i += 2 {
			if ranges[i] > next {
				comp = append(comp, next, ranges[i]-1)
			}
			next = ranges[i+1] + 1
		}
		ranges = comp
		if len(ranges) == 0 {
			b.WriteString(".")
			return
		}
	}
	b.WriteString("[")
	if negate {
		b.WriteString("^")
	}
	for i := 0; i < len(ranges); i += 2 {
		writeRune(b, ranges[i])
		if ranges[i+1] != ranges[i] {
			b.WriteString("-")
			writeRune(b, ranges[i+1])
		}
	}
	b.WriteString("]")
}

// writeRune escapes every character that is not a letter or digit: Lucene
// reads "\x" as x for any x, and a bare letter after "\" would be a class.
func writeRune(b *strings.Builder, c rune) {
	switch {
	case c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'):
		b.WriteRune(c)
	case c < 0x20 || c == 0x7f:
		// Control characters go in raw; an escape like \n means "n" to Lucene.
		b.WriteRune(c)
	case c < 0x80:
		b.WriteByte('\\')
		b.WriteRune(c)
	default:
		b.WriteRune(c)
	}
}
