package logpipe

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass JSON reader over bytes. encoding/json decodes a log line
// into a map and encodes it again at roughly 40 µs a line on this machine;
// the pipeline only needs to check a line is one JSON object, read a few
// string fields and append its own fields, which this does without
// building the map. encoding/json stays the reference: lines this reader
// does not take (duplicate keys, escaped keys, invalid UTF-8, a conflict
// with irflow's fields) go through it, and tests hold the two to the same
// documents.

var errSyntax = errors.New("invalid JSON")

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// byte classes for strings: 0 plain, 1 needs attention (quote, backslash,
// control character), 2 non-ASCII.
var strClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 1
	}
	t['"'], t['\\'] = 1, 1
	for c := 0x80; c < 0x100; c++ {
		t[c] = 2
	}
	return t
}()

// plainRun returns the index of the first byte at or after i that a JSON
// string cannot hold as is (quote, backslash, control character) or that
// is not ASCII, looking at 8 bytes a step: log lines are mostly plain runs.
func plainRun(b []byte, i int) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		q, bs := w^(lsb*'"'), w^(lsb*'\\')
		// Exact "any byte is zero" / "any byte is below 0x20" tests, and the high bits.
		if ((q-lsb)&^q|(bs-lsb)&^bs|(w-lsb*0x20)&^w|w)&msb != 0 {
			break
		}
	}
	for i < len(b) && strClass[b[i]] == 0 {
		i++
	}
	return i
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// string flags
const (
	strEscaped = 1 << iota // holds a backslash escape
	strNonASCII
)

// scanString reads the string starting at b[i] == '"' strictly (no raw
// control characters, valid escapes) and returns the index after its
// closing quote.
func scanString(b []byte, i int) (end int, flags uint8, err error) {
	i++
	for {
		if i = plainRun(b, i); i >= len(b) {
			break
		}
		c := b[i]
		switch strClass[c] {
		case 2:
			flags |= strNonASCII
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1, flags, nil
		case '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				return 0, 0, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, errSyntax
				}
				i += 6
			default:
				return 0, 0, errSyntax
			}
		default: // a raw control character
			return 0, 0, errSyntax
		}
	}
	return 0, 0, errSyntax
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// skipValue validates the value at b[i] and returns the index after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	}
	return 0, errSyntax
}

func literal(b []byte, i int, word string) (int, error) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, errSyntax
	}
	return i + len(word), nil
}

// scanNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, errSyntax
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, errSyntax
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	return i, nil
}

func skipObject(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		end, _, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		if i, err = skipValue(b, skipWS(b, i+1), depth); err != nil {
			return 0, err
		}
		after, done, err := listNext(b, i, '}')
		if err != nil {
			return 0, err
		}
		if done {
			return after, nil
		}
		i = after
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(b, i, depth); err != nil {
			return 0, err
		}
		after, done, err := listNext(b, i, ']')
		if err != nil {
			return 0, err
		}
		if done {
			return after, nil
		}
		i = after
	}
}

// appendDecoded reads the string literal starting at b[i] == '"' and
// appends its value to dst in one pass (scanString and appendUnescaped in
// one): the payload's messages are JSON inside JSON, an escape every few
// bytes, where two passes cost twice.
func appendDecoded(dst, b []byte, i int) ([]byte, int, error) {
	i++
	start := i
	for i < len(b) {
		c := b[i]
		if strClass[c] == 0 {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, b[start:i]...)
				dst = utf8.AppendRune(dst, utf8.RuneError)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, b[start:i]...)
		switch c {
		case '"':
			return dst, i + 1, nil
		case '\\':
			if i+1 >= len(b) {
				return dst, 0, errSyntax
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return dst, 0, errSyntax
				}
				r := rune(hex4(b[i+2:]))
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' && isHex4(b[i+2:i+6]) {
						if r2 := utf16.DecodeRune(r, rune(hex4(b[i+2:]))); r2 != utf8.RuneError {
							dst = utf8.AppendRune(dst, r2)
							i += 6
							start = i
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				start = i
				continue
			default:
				return dst, 0, errSyntax
			}
			i += 2
			start = i
		default: // a raw control character
			return dst, 0, errSyntax
		}
	}
	return dst, 0, errSyntax
}

// appendUnescaped appends the contents of the JSON string literal s (with
// its quotes) to dst as encoding/json decodes it: escapes resolved, lone
// surrogates and invalid UTF-8 as U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	s = s[1 : len(s)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := rune(hex4(s[i+2:]))
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' && isHex4(s[i+2:]) {
						if r2 := utf16.DecodeRune(r, rune(hex4(s[i+2:]))); r2 != utf8.RuneError {
							dst = utf8.AppendRune(dst, r2)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			// Copy the run up to the next escape in one go (the string is
			// valid, so the run stops at a backslash or a non-ASCII byte).
			j := plainRun(s, i+1)
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b[:4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes one
// with HTML escaping off: control characters, quote and backslash escaped,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if strClass[c] == 0 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s, i)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func decodeRune[S string | []byte](s S, i int) (rune, int) {
	var buf [utf8.UTFMax]byte
	return utf8.DecodeRune(buf[:copy(buf[:], s[i:])])
}

// unquote returns the value of the JSON string literal s (quotes included),
// allocating only when it must.
func unquote(s []byte, flags uint8) string {
	if flags == 0 {
		return string(s[1 : len(s)-1])
	}
	return string(appendUnescaped(nil, s))
}

// parseInt reads a JSON integer literal.
func parseInt(s []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	return n, err == nil
}
