package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Event is one log document as decoded from JSON.
type Event map[string]any

// field is a precompiled dotted field name.
type field struct {
	name  string
	parts []string
}

func newField(name string) field {
	return field{name: name, parts: strings.Split(name, ".")}
}

// Get looks a dotted field up: the literal key first (documents may hold
// "a.b" as one key), then nested objects, then mixed forms such as
// {"a": {"b.c": 1}}.
func (e Event) Get(name string) (any, bool) { return newField(name).get(e) }

func (f field) get(e Event) (any, bool) {
	if v, ok := e[f.name]; ok {
		return v, true
	}
	if len(f.parts) == 1 {
		return nil, false
	}
	return lookupParts(map[string]any(e), f.parts)
}

func lookupParts(m map[string]any, parts []string) (any, bool) {
	for i := range parts {
		key := strings.Join(parts[:i+1], ".")
		v, ok := m[key]
		if !ok {
			continue
		}
		if i == len(parts)-1 {
			return v, true
		}
		switch sub := v.(type) {
		case map[string]any:
			if r, ok := lookupParts(sub, parts[i+1:]); ok {
				return r, true
			}
		case []any:
			// Arrays of objects flatten as in OpenSearch: labels.name over
			// [{"name": a}, {"name": b}] is [a, b].
			var out []any
			for _, el := range sub {
				if m, ok := el.(map[string]any); ok {
					if r, ok := lookupParts(m, parts[i+1:]); ok {
						if l, isList := r.([]any); isList {
							out = append(out, l...)
						} else {
							out = append(out, r)
						}
					}
				}
			}
			if len(out) > 0 {
				return out, true
			}
		}
	}
	return nil, false
}

// keyString renders a field value as ElastAlert2 prints a query_key value.
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return formatNumber(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	if f, ok := toFloat(v); ok {
		return formatNumber(f)
	}
	return fmt.Sprint(v)
}

func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseTime reads a timestamp value: ISO 8601 strings, time.Time, or epoch
// numbers (seconds for typ "unix", milliseconds for "unix_ms"; numbers are
// seconds when typ is "iso" too, matching OpenSearch's epoch_second coercion).
func parseTime(v any, typ string) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		if typ == "unix" || typ == "unix_ms" {
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return time.Time{}, false
			}
			return parseTime(f, typ)
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, x); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	f, ok := toFloat(v)
	if !ok {
		return time.Time{}, false
	}
	if typ == "unix_ms" {
		return time.UnixMilli(int64(f)).UTC(), true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// Time returns the event's timestamp read from the rule's timestamp_field.
func (r *Rule) Time(e Event) (time.Time, error) {
	v, ok := e.Get(r.TimestampField)
	if !ok {
		return time.Time{}, fmt.Errorf("event has no %s", r.TimestampField)
	}
	t, ok := parseTime(v, r.TimestampType)
	if !ok {
		return time.Time{}, fmt.Errorf("%s: cannot parse %v as a timestamp", r.TimestampField, v)
	}
	return t, nil
}
