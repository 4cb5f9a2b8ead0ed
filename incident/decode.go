package incident

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// DecodeOptions say how DecodeAlerts reads a body.
type DecodeOptions struct {
	// Lenient drops unknown fields of an alert and reports each as a warning
	// ("alerts[0].foo: unknown field, ignored"), for senders that add their
	// own; otherwise an unknown field is an error naming it. Required fields
	// and types are checked either way.
	Lenient bool
	// DefaultSource is the source of an alert that names none (ingress: the
	// name of the token it came with).
	DefaultSource string
	// MaxAlerts caps an array: more is an ETOOLARGE error. 0 means no limit.
	MaxAlerts int
}

// DecodeAlerts reads irflow's own alert JSON: one object or an array of them.
// single says the body was one object. Errors name the field
// ("alerts[3].rule: required", "severity: unknown severity ...") and every
// alert is validated.
func DecodeAlerts(body []byte, o DecodeOptions) (alerts []Alert, single bool, warnings []string, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, nil, Errorf(EINVALID, "body: empty, want an alert object or an array of alerts")
	}
	var raws []json.RawMessage
	switch body[0] {
	case '{':
		single = true
		raws = []json.RawMessage{body}
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, false, nil, Errorf(EINVALID, "body: %s", JSONProblem(err))
		}
		if len(raws) == 0 {
			return nil, false, nil, Errorf(EINVALID, "alerts: empty array")
		}
	default:
		return nil, false, nil, Errorf(EINVALID, "body: want an alert object or an array of alerts")
	}
	if o.MaxAlerts > 0 && len(raws) > o.MaxAlerts {
		return nil, false, nil, Errorf(ETOOLARGE, "alerts: %d alerts in one request, at most %d", len(raws), o.MaxAlerts)
	}
	alerts = make([]Alert, len(raws))
	for i, raw := range raws {
		prefix := fmt.Sprintf("alerts[%d].", i)
		if single {
			prefix = ""
		}
		raw, w, err := prepare(raw, prefix, o)
		if err != nil {
			return nil, false, nil, err
		}
		warnings = append(warnings, w...)
		if err := decodeAlert(raw, &alerts[i], prefix); err != nil {
			return nil, false, warnings, err
		}
	}
	return alerts, single, warnings, nil
}

// alertFields are the JSON names Alert knows, read from its tags so a field
// added to Alert is known here without a second list.
var alertFields = func() []string {
	t := reflect.TypeFor[Alert]()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}()

// knownAlertField matches case-insensitively, as encoding/json does.
func knownAlertField(key string) bool {
	return slices.ContainsFunc(alertFields, func(f string) bool { return strings.EqualFold(f, key) })
}

// prepare applies the lenient and default-source options to one alert
// object; with neither it returns raw as it is.
func prepare(raw json.RawMessage, prefix string, o DecodeOptions) (json.RawMessage, []string, error) {
	if !o.Lenient && o.DefaultSource == "" {
		return raw, nil, nil
	}
	where := strings.TrimSuffix(prefix, ".")
	if where == "" {
		where = "body"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, nil, Errorf(EINVALID, "%s: %s", where, JSONProblem(err))
	}
	if obj == nil {
		return nil, nil, Errorf(EINVALID, "%s: want an alert object, got null", where)
	}
	var warnings []string
	hasSource := false
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch {
		case !knownAlertField(k):
			if !o.Lenient {
				continue // decodeAlert names it as an error
			}
			warnings = append(warnings, fmt.Sprintf("%s%s: unknown field, ignored", prefix, k))
			delete(obj, k)
		case strings.EqualFold(k, "source"):
			if string(obj[k]) == `""` || string(obj[k]) == "null" {
				delete(obj, k)
			} else {
				hasSource = true
			}
		}
	}
	if !hasSource && o.DefaultSource != "" {
		obj["source"], _ = json.Marshal(o.DefaultSource)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, Errorf(EINVALID, "%s: %v", where, err)
	}
	return b, warnings, nil
}

func decodeAlert(raw []byte, a *Alert, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Errorf(EINVALID, "%s%s: want %s, got %s", prefix, typeErr.Field, typeErr.Type, typeErr.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Errorf(EINVALID, "%s%s: unknown field", prefix, strings.Trim(field, `"`))
		}
		var sevErr *SeverityError
		if errors.As(err, &sevErr) {
			return Errorf(EINVALID, "%sseverity: %s", prefix, sevErr.Error())
		}
		where := strings.TrimSuffix(prefix, ".")
		if where == "" {
			where = "body"
		}
		return Errorf(EINVALID, "%s: %s", where, JSONProblem(err))
	}
	return a.validate(prefix)
}

// JSONProblem turns encoding/json's message into one a sender can act on.
func JSONProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "malformed JSON: unexpected end of input"
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field != "" {
			return fmt.Sprintf("%s: want %s, got %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("want %s, got %s", typ.Type, typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// AlertFields lists the JSON names of Alert's fields; docs/examples/alert.schema.json
// must list the same (a test holds them together).
func AlertFields() []string { return slices.Clone(alertFields) }
