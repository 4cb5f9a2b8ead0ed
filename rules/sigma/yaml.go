package sigma

import (
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/irflow/irflow/rules/internal/yamlerr"
)

// Error is a problem in a Sigma or mapping file, printed as
// "<file>:<line>: <what>: <problem>" like rules.Error.
type Error struct {
	File    string
	Line    int
	What    string
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.What, e.Problem)
}

// node is a YAML value with the line it starts on; the Sigma parser works on
// these instead of decoded maps so every refusal can name its line.
type node struct {
	line  int
	keys  []string // mapping keys in file order
	kline []int    // line of each key
	vals  []*node  // mapping values, parallel to keys
	items []*node  // sequence entries
	kind  nodeKind
	v     any // scalar value (string, int64/uint64, float64, bool, nil)
}

type nodeKind int

const (
	scalarNode nodeKind = iota
	mapNode
	seqNode
)

func (n *node) get(key string) (*node, int, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], n.kline[i], true
		}
	}
	return nil, 0, false
}

// parseYAML reads exactly one YAML document into a node tree.
func parseYAML(file string, data []byte) (*node, error) {
	docs, err := parseDocs(file, data)
	if err != nil {
		return nil, err
	}
	if len(docs) > 1 {
		// Sigma rule collections (action: global/reset/repeat) span documents.
		return nil, collectionError(file, docs[1])
	}
	return docs[0], nil
}

func collectionError(file string, second *node) error {
	return &Error{File: file, Line: second.line, What: "rule collection (several YAML documents)", Problem: "not supported"}
}

// parseDocs reads every non-empty YAML document of a file (a correlation
// rule and the rules it references share one file, separated by ---).
func parseDocs(file string, data []byte) ([]*node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, syntaxError(file, err)
	}
	var out []*node
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		n, err := convert(file, d.Body)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, &Error{File: file, Line: 1, What: "yaml", Problem: "empty file"}
	}
	return out, nil
}

func convert(file string, n ast.Node) (*node, error) {
	line := n.GetToken().Position.Line
	switch x := n.(type) {
	case *ast.MappingNode:
		out := &node{line: line, kind: mapNode}
		for _, mv := range x.Values {
			if err := addPair(file, out, mv); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.MappingValueNode:
		out := &node{line: line, kind: mapNode}
		return out, addPair(file, out, x)
	case *ast.SequenceNode:
		out := &node{line: line, kind: seqNode}
		for _, it := range x.Values {
			c, err := convert(file, it)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, c)
		}
		return out, nil
	case *ast.AnchorNode:
		return convert(file, x.Value)
	case *ast.TagNode:
		return convert(file, x.Value)
	case *ast.AliasNode:
		return nil, &Error{File: file, Line: line, What: "YAML alias", Problem: "not supported"}
	}
	out := &node{line: line, kind: scalarNode}
	if err := yaml.NodeToValue(n, &out.v); err != nil {
		return nil, &Error{File: file, Line: line, What: "yaml", Problem: yamlerr.Problem(err)}
	}
	if _, ok := out.v.(map[string]any); ok {
		return nil, &Error{File: file, Line: line, What: "yaml", Problem: "unexpected value"}
	}
	return out, nil
}

func addPair(file string, out *node, mv *ast.MappingValueNode) error {
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		return &Error{File: file, Line: mv.Key.GetToken().Position.Line, What: "YAML merge key <<", Problem: "not supported"}
	}
	key := mv.Key.GetToken().Value
	kline := mv.Key.GetToken().Position.Line
	for _, k := range out.keys {
		if k == key {
			return &Error{File: file, Line: kline, What: key, Problem: "duplicate key"}
		}
	}
	v, err := convert(file, mv.Value)
	if err != nil {
		return err
	}
	out.keys = append(out.keys, key)
	out.kline = append(out.kline, kline)
	out.vals = append(out.vals, v)
	return nil
}

func syntaxError(file string, err error) error {
	line, p := yamlerr.Locate(err)
	return &Error{File: file, Line: line, What: "yaml", Problem: p}
}

// str reads a scalar string.
func (n *node) str() (string, bool) {
	if n.kind != scalarNode {
		return "", false
	}
	s, ok := n.v.(string)
	return s, ok
}

// strs reads a string or a list of strings.
func (n *node) strs() ([]string, bool) {
	if s, ok := n.str(); ok {
		return []string{s}, true
	}
	if n.kind != seqNode {
		return nil, false
	}
	out := make([]string, 0, len(n.items))
	for _, it := range n.items {
		s, ok := it.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// stringReaders read key k's value v (at line) into a string or a list of
// strings, refusing anything else through bad.
func stringReaders(bad func(line int, what, format string, args ...any) error, v *node, line int, k string) (str func(*string) error, strs func(*[]string) error) {
	str = func(dst *string) error {
		s, ok := v.str()
		if !ok {
			return bad(line, k, "must be a string")
		}
		*dst = s
		return nil
	}
	strs = func(dst *[]string) error {
		l, ok := v.strs()
		if !ok {
			return bad(line, k, "must be a list of strings")
		}
		*dst = l
		return nil
	}
	return str, strs
}
