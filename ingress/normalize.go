package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// Item is one thing a webhook body asks for. A firing alert becomes an
// occurrence of the incident with Fingerprint(Alert); a resolved one (Resolved)
// signals that incident with Clear instead, and never opens one.
type Item struct {
	Alert    incident.Alert
	Resolved bool
	Clear    workflows.SourceClear
}

// fieldsBudget keeps Fields below incident's 64 KiB limit with room for the
// keys ingress adds; senders such as ElastAlert attach whole documents.
const fieldsBudget = 60 << 10

// cleanName makes a name from another system (an alarm, a rule, a label) fit
// incident's name rules instead of rejecting an alert nobody can re-send: it
// replaces characters outside letters, digits, space and _.:/@+- with '_',
// drops leading punctuation and truncates. A change is reported as a warning.
func cleanName(field, s string, warnings *[]string) string {
	orig := s
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune(" _.:/@+-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s = strings.TrimLeft(b.String(), " _.:/@+-")
	if len(s) > incident.MaxNameLen {
		s = strings.TrimSpace(s[:incident.MaxNameLen])
	}
	if s == "" {
		// Nothing usable is left; keep the original so validation names the problem.
		return orig
	}
	if s != orig {
		*warnings = append(*warnings, fmt.Sprintf("%s: %q sent as %q", field, orig, s))
	}
	return s
}

// clip shortens free text to incident's limit, with a warning.
func clip(field, s string, max int, warnings *[]string) string {
	if len(s) <= max {
		return s
	}
	*warnings = append(*warnings, fmt.Sprintf("%s: longer than %d bytes, truncated", field, max))
	cut := max
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// trimFields drops the largest fields until the rest fit fieldsBudget. The
// alert still arrives; the person reading it loses only the bulkiest extras.
func trimFields(prefix string, fields map[string]any, warnings *[]string) {
	if len(fields) == 0 {
		return
	}
	sizes := make(map[string]int, len(fields))
	total := 2
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			delete(fields, k)
			*warnings = append(*warnings, fmt.Sprintf("%s%s: not representable as JSON, dropped", prefix, k))
			continue
		}
		kb, _ := json.Marshal(k)
		sizes[k] = len(b) + len(kb) + 2
		total += sizes[k]
	}
	if total <= fieldsBudget {
		return
	}
	keys := make([]string, 0, len(sizes))
	for k := range sizes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if sizes[keys[i]] != sizes[keys[j]] {
			return sizes[keys[i]] > sizes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if total <= fieldsBudget {
			break
		}
		delete(fields, k)
		total -= sizes[k]
		*warnings = append(*warnings, fmt.Sprintf("%s%s: dropped, alert fields over %d bytes", prefix, k, fieldsBudget))
	}
}

// capQueryKey keeps at most incident.MaxQueryKeys keys (in key order) and
// clips keys and values to the name length limit.
func capQueryKey(field string, qk map[string]string, warnings *[]string) map[string]string {
	if len(qk) == 0 {
		return nil
	}
	keys := make([]string, 0, len(qk))
	for k := range qk {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(qk))
	for _, k := range keys {
		if k == "" {
			continue
		}
		if len(out) == incident.MaxQueryKeys {
			*warnings = append(*warnings, fmt.Sprintf("%s: more than %d keys, kept the first %d in key order", field, incident.MaxQueryKeys, incident.MaxQueryKeys))
			break
		}
		ck := clip(field+" key", k, incident.MaxNameLen, warnings)
		out[ck] = clip(field+"."+ck, qk[k], incident.MaxNameLen, warnings)
	}
	return out
}

// lookup finds key in a decoded JSON document the way ElastAlert's
// lookup_es_key does: the literal key first, then dotted paths into objects.
func lookup(doc map[string]any, key string) (any, bool) {
	if v, ok := doc[key]; ok {
		return v, true
	}
	for i := 0; i < len(key); i++ {
		if key[i] != '.' {
			continue
		}
		if sub, ok := doc[key[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, key[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// stringify renders a JSON value as a fingerprint or label value.
func stringify(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// parseTime reads RFC 3339 (with or without fraction) or epoch milliseconds.
func parseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), true
			}
		}
	case json.Number:
		if ms, err := v.Int64(); err == nil && ms > 0 && ms < 1<<50 {
			return time.UnixMilli(ms).UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeObject decodes a JSON object keeping numbers exact.
func decodeObject(body []byte, what string) (map[string]any, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, incident.Errorf(incident.EINVALID, "body: want a JSON object (%s)", what)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, incident.Errorf(incident.EINVALID, "body: %s", incident.JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, incident.Errorf(incident.EINVALID, "body: more than one JSON value")
	}
	return doc, nil
}
