package logpipe

import (
	"bytes"
	"math/bits"
	"strings"

	"github.com/irflow/irflow/activities/enrich"
)

// fieldSet is the enrichment's IP and domain fields compiled for the walker:
// targets 0..nIP-1 are IP fields, the rest domain fields, each read as
// incident.Alert.Field reads it (the key as written first, then the dotted
// path through objects).
type fieldSet struct {
	// ok is false when there are more fields than a mask holds; every line
	// then takes the reference path.
	ok                   bool
	ipNames, domainNames []string
	names                []string
	nIP                  int
	// top: what a top-level key is, in one lookup: irflow's own field, the
	// whole name of fields (literal), the first part of dotted fields (next).
	top map[string]topKey
	// part[d]: multi-part fields whose part d is the key; endsAt[d]: fields
	// with d+1 parts.
	part   []map[string]uint64
	endsAt []uint64
}

type topKey struct {
	reserved  uint8
	lit, next uint64
}

func compileFields(ipNames, domainNames []string) fieldSet {
	fs := fieldSet{ipNames: ipNames, domainNames: domainNames, nIP: len(ipNames), top: map[string]topKey{}}
	for k, flag := range reservedKeys {
		fs.top[k] = topKey{reserved: flag}
	}
	fs.names = append(append([]string(nil), ipNames...), domainNames...)
	if len(fs.names) > 64 {
		return fs
	}
	fs.ok = true
	for t, name := range fs.names {
		bit := uint64(1) << t
		tk := fs.top[name]
		tk.lit |= bit
		fs.top[name] = tk
		parts := strings.Split(name, ".")
		if len(parts) < 2 {
			continue
		}
		tk = fs.top[parts[0]]
		tk.next |= bit
		fs.top[parts[0]] = tk
		for len(fs.part) < len(parts) {
			fs.part = append(fs.part, map[string]uint64{})
			fs.endsAt = append(fs.endsAt, 0)
		}
		for d, p := range parts {
			fs.part[d][p] |= bit
		}
		fs.endsAt[len(parts)-1] |= bit
	}
	return fs
}

// ref is a string value found for a field.
type ref struct {
	t          uint8
	nested     bool
	flags      uint8
	start, end int32
}

// walker validates one JSON object and notes, in one pass, what the
// document fast path needs: the enrichment fields' string values, which of
// irflow's top-level keys the line already has, and whether the line must
// take the reference path (a repeated key, which OpenSearch refuses and
// encoding/json resolves to the last; an escaped key).
type walker struct {
	slow      bool
	top       uint8
	members   int
	keys      [][]byte
	litSeen   uint64
	nestSeen  uint64
	refs      []ref
	nIPValues int
}

// scan walks b, which must be exactly one JSON object (surrounding space
// trimmed).
func (w *walker) scan(b []byte, fs *fieldSet) error {
	w.slow, w.top, w.members = false, 0, 0
	w.keys, w.refs = w.keys[:0], w.refs[:0]
	w.litSeen, w.nestSeen = 0, 0
	end, err := w.object(b, 0, 1, 0, fs)
	if err != nil {
		return err
	}
	if end != len(b) {
		return errSyntax
	}
	return nil
}

func (w *walker) object(b []byte, i, depth int, alive uint64, fs *fieldSet) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	base := len(w.keys)
	defer func() { w.keys = w.keys[:base] }()
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		end, flags, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : end-1]
		if flags&strEscaped != 0 {
			w.slow = true
		}
		for _, k := range w.keys[base:] {
			if bytes.Equal(k, key) {
				w.slow = true
				break
			}
		}
		w.keys = append(w.keys, key)
		var lit, fin, next uint64
		if depth == 1 {
			w.members++
			tk := fs.top[string(key)]
			w.top |= tk.reserved
			lit, next = tk.lit, tk.next
		} else if alive != 0 && depth-1 < len(fs.part) {
			m := alive & fs.part[depth-1][string(key)]
			fin = m & fs.endsAt[depth-1]
			next = m &^ fin
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		if i, err = w.value(b, skipWS(b, i+1), depth, lit, fin, next, fs); err != nil {
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

// value reads one member value: lit and fin are the fields it is the value
// of (as a whole key, or as the last part of a path), next the fields that
// go on into it if it is an object.
func (w *walker) value(b []byte, i, depth int, lit, fin, next uint64, fs *fieldSet) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	w.litSeen |= lit
	w.nestSeen |= fin
	switch b[i] {
	case '"':
		end, flags, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		w.record(lit, false, i, end, flags)
		w.record(fin, true, i, end, flags)
		return end, nil
	case '{':
		return w.object(b, i, depth+1, next, fs)
	case '[':
		return w.array(b, i, depth+1, lit, fin, fs)
	}
	return skipValue(b, i, depth)
}

// array reads an array: its string elements are values of lit and fin;
// objects in it are walked for repeated keys only (a path does not go
// through arrays).
func (w *walker) array(b []byte, i, depth int, lit, fin uint64, fs *fieldSet) (int, error) {
	if depth > maxDepth {
		return 0, errSyntax
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return 0, errSyntax
		}
		var err error
		switch b[i] {
		case '"':
			end, flags, serr := scanString(b, i)
			if serr != nil {
				return 0, serr
			}
			w.record(lit, false, i, end, flags)
			w.record(fin, true, i, end, flags)
			i = end
		case '{':
			i, err = w.object(b, i, depth+1, 0, fs)
		case '[':
			i, err = w.array(b, i, depth+1, 0, 0, fs)
		default:
			i, err = skipValue(b, i, depth)
		}
		if err != nil {
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

func (w *walker) record(mask uint64, nested bool, start, end int, flags uint8) {
	for ; mask != 0; mask &= mask - 1 {
		w.refs = append(w.refs, ref{t: uint8(bits.TrailingZeros64(mask)), nested: nested, flags: flags, start: int32(start), end: int32(end)})
	}
}

// values lists what scan found, in field order, as enrich.AlertValues
// lists an alert's: a field written as one key wins over the dotted path.
// IP values come first; nIPValues says how many.
func (w *walker) values(b []byte, fs *fieldSet, dst []enrich.Value) []enrich.Value {
	for t := range fs.names {
		if t == fs.nIP {
			w.nIPValues = len(dst)
		}
		bit := uint64(1) << t
		nested := false
		switch {
		case w.litSeen&bit != 0:
		case w.nestSeen&bit != 0:
			nested = true
		default:
			continue
		}
		for _, r := range w.refs {
			if int(r.t) == t && r.nested == nested {
				dst = append(dst, enrich.Value{Field: fs.names[t], Text: unquote(b[r.start:r.end], r.flags)})
			}
		}
	}
	if len(fs.names) == fs.nIP {
		w.nIPValues = len(dst)
	}
	return dst
}
