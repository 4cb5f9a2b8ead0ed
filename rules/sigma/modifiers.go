package sigma

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// modifiers are the parsed "|mod" suffixes of one field.
type modifiers struct {
	match   string // contains, startswith, endswith, re, cidr, exists, gt, gte, lt, lte, or "" (equals)
	all     bool
	cased   bool
	encode  string // base64, base64offset
	windash bool
	reFlags string // i, s
}

func (m modifiers) check() error {
	strMatch := m.match == "" || m.match == "contains" || m.match == "startswith" || m.match == "endswith"
	switch {
	case m.reFlags != "" && m.match != "re":
		return errors.New("modifiers i and s belong to re")
	case m.cased && !strMatch:
		return fmt.Errorf("modifier cased with %s: not supported (cased applies to equals, contains, startswith, endswith)", m.match)
	case m.encode != "" && !strMatch:
		return fmt.Errorf("modifier %s with %s: not supported", m.encode, m.match)
	case m.encode == "base64offset" && m.match != "contains":
		return errors.New("modifier base64offset needs contains")
	case m.windash && !strMatch:
		return fmt.Errorf("modifier windash with %s: not supported", m.match)
	case m.windash && m.encode != "":
		return fmt.Errorf("modifiers windash and %s together: not supported", m.encode)
	}
	return nil
}

// matchers turns one value into the matchers any of which must hold.
func (m modifiers) matchers(v any) ([]matcher, error) {
	if v == nil {
		if m.match != "" || m.encode != "" || m.windash {
			return nil, errors.New("null with modifiers: not supported")
		}
		return []matcher{{kind: matchNull}}, nil
	}
	num, isNum := yamlNumber(v)
	switch m.match {
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return nil, errors.New("exists needs true or false")
		}
		return []matcher{{kind: matchExists, exists: b}}, nil
	case "gt", "gte", "lt", "lte":
		if !isNum {
			return nil, fmt.Errorf("%s needs a number", m.match)
		}
		return []matcher{{kind: matchRange, op: m.match, num: num}}, nil
	case "re":
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("re needs a string")
		}
		lucene, re, err := luceneRegex(s, strings.Contains(m.reFlags, "s"))
		if err != nil {
			return nil, fmt.Errorf("re %q: %v: not supported", s, err)
		}
		ci := strings.Contains(m.reFlags, "i")
		if ci {
			prefix := "(?i)"
			if strings.Contains(m.reFlags, "s") {
				prefix = "(?is)"
			}
			re = regexp.MustCompile(prefix + s)
		}
		return []matcher{{kind: matchRegex, lucene: lucene, re: re, reCI: ci}}, nil
	case "cidr":
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("cidr needs a string like 10.0.0.0/8")
		}
		return cidrMatchers(s)
	}
	// String matching: equals, contains, startswith, endswith.
	if !m.windash && m.encode == "" && m.match == "" {
		switch {
		case isNum:
			return []matcher{{kind: matchExact, val: num}}, nil
		case isBool(v):
			return []matcher{{kind: matchExact, val: v}}, nil
		}
	}
	var s string
	switch {
	case isNum:
		s = formatNumber(num)
	case isBool(v):
		s = strconv.FormatBool(v.(bool))
	default:
		var ok bool
		if s, ok = v.(string); !ok {
			return nil, fmt.Errorf("unexpected value %v", v)
		}
	}
	variants := []string{s}
	if m.windash {
		variants = windash(s)
	}
	var globs [][]globPart
	for _, s := range variants {
		parts := sigmaString(s)
		if m.encode != "" {
			lit, wild := literal(parts)
			if wild {
				return nil, fmt.Errorf("%s with wildcards: not supported", m.encode)
			}
			for _, enc := range encodings(m.encode, lit) {
				globs = append(globs, []globPart{{lit: enc}})
			}
			continue
		}
		globs = append(globs, parts)
	}
	var out []matcher
	for _, g := range globs {
		switch m.match {
		case "contains":
			g = append(append([]globPart{{wild: '*'}}, g...), globPart{wild: '*'})
		case "startswith":
			g = append(g, globPart{wild: '*'})
		case "endswith":
			g = append([]globPart{{wild: '*'}}, g...)
		}
		g = compact(g)
		// Base64 text differs in case from other base64 text: never fold it.
		cased := m.cased || m.encode != ""
		if lit, wild := literal(g); !wild {
			out = append(out, matcher{kind: matchExact, val: lit, cased: cased})
		} else {
			out = append(out, matcher{kind: matchGlob, glob: g, cased: cased})
		}
	}
	return out, nil
}

func isBool(v any) bool { _, ok := v.(bool); return ok }

func yamlNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// sigmaString splits a Sigma string into literal runs and wildcards: * and ?
// are wildcards, \* \? and \\ are the literal characters, and any other
// backslash is itself.
func sigmaString(s string) []globPart {
	var parts []globPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, globPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			parts = append(parts, globPart{wild: c})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return parts
}

// literal joins parts without wildcards; wild reports whether there were any.
func literal(parts []globPart) (string, bool) {
	var b strings.Builder
	for _, p := range parts {
		if p.wild != 0 {
			return "", true
		}
		b.WriteString(p.lit)
	}
	return b.String(), false
}

// compact merges adjacent literals and repeated stars.
func compact(parts []globPart) []globPart {
	var out []globPart
	for _, p := range parts {
		if p.wild == 0 && p.lit == "" {
			continue
		}
		if n := len(out); n > 0 {
			last := &out[n-1]
			if p.wild == 0 && last.wild == 0 {
				last.lit += p.lit
				continue
			}
			if p.wild == '*' && last.wild == '*' {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// encodings is base64 of s, or for base64offset the three forms s takes
// inside a longer base64 text depending on its offset, as pySigma computes them.
func encodings(kind, s string) []string {
	if kind == "base64" {
		return []string{base64.StdEncoding.EncodeToString([]byte(s))}
	}
	start := []int{0, 2, 3}
	end := []int{0, 3, 2} // characters cut from the end, by (len+offset) % 3
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		cut := end[(len(s)+i)%3]
		if start[i] >= len(enc)-cut {
			continue
		}
		out = append(out, enc[start[i]:len(enc)-cut])
	}
	return out
}

var dashRE = regexp.MustCompile(`\B[-/]\b`)

// windash is s with every option dash (- or / before a word) spelled each
// way Windows accepts: -, /, en dash, em dash, horizontal bar.
func windash(s string) []string {
	if !dashRE.MatchString(s) {
		return []string{s}
	}
	var out []string
	for _, d := range []string{"-", "/", "\u2013", "\u2014", "\u2015"} {
		out = append(out, dashRE.ReplaceAllLiteralString(s, d))
	}
	return out
}

// cidrMatchers turns an IPv4 CIDR into prefix matches on the address as
// text, so a keyword field works without an ip mapping: 10.0.16.0/20 is
// 10.0.16.* … 10.0.31.*.
func cidrMatchers(s string) ([]matcher, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Errorf("cidr %q: %v", s, err)
	}
	if !p.Addr().Is4() {
		return nil, fmt.Errorf("cidr %q: IPv6 not supported", s)
	}
	p = p.Masked()
	bits := p.Bits()
	if bits < 8 {
		return nil, fmt.Errorf("cidr %q: prefixes shorter than /8 not supported", s)
	}
	oct := p.Addr().As4()
	full, rem := bits/8, bits%8
	fixed := make([]string, full)
	for i := 0; i < full; i++ {
		fixed[i] = strconv.Itoa(int(oct[i]))
	}
	if full == 4 {
		return []matcher{{kind: matchExact, val: strings.Join(fixed, "."), cased: true}}, nil
	}
	n := 1
	if rem > 0 {
		n = 1 << (8 - rem)
	}
	var out []matcher
	for v := 0; v < n; v++ {
		prefix := fixed
		if rem > 0 {
			prefix = append(append([]string(nil), fixed...), strconv.Itoa(int(oct[full])+v))
		}
		if len(prefix) == 4 {
			out = append(out, matcher{kind: matchExact, val: strings.Join(prefix, "."), cased: true})
			continue
		}
		out = append(out, matcher{kind: matchGlob, glob: []globPart{{lit: strings.Join(prefix, ".") + "."}, {wild: '*'}}, cased: true})
	}
	return out, nil
}
