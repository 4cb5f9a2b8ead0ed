package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/irflow/irflow/incident"
)

// alertFields are the JSON names incident.Alert knows, read from its tags so a
// field added to the domain is known here without a second list.
var alertFields = func() []string {
	t := reflect.TypeFor[incident.Alert]()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}()

func knownAlertField(key string) bool {
	for _, f := range alertFields {
		// encoding/json matches struct fields case-insensitively; so do we.
		if strings.EqualFold(f, key) {
			return true
		}
	}
	return false
}

// DecodeAlerts reads irflow's own alert JSON (one object or an array) leniently:
// unknown top-level fields are dropped and reported as warnings such as
// "alerts[0].foo: unknown field, ignored", while required fields and types are
// still checked by incident.DecodeAlerts, whose errors name the field
// ("alerts[3].rule: required"). An alert without "source" gets defaultSource
// (the name of the token that sent it) when that is not empty. More than
// maxAlerts alerts is an ETOOLARGE error; maxAlerts <= 0 means no limit.
func DecodeAlerts(body []byte, defaultSource string, maxAlerts int) (alerts []incident.Alert, single bool, warnings []string, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, nil, incident.Errorf(incident.EINVALID, "body: empty, want an alert object or an array of alerts")
	}
	var raws []json.RawMessage
	switch body[0] {
	case '{':
		single = true
		raws = []json.RawMessage{body}
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, false, nil, incident.Errorf(incident.EINVALID, "body: %s", jsonProblem(err))
		}
		if len(raws) == 0 {
			return nil, false, nil, incident.Errorf(incident.EINVALID, "alerts: empty array")
		}
	default:
		return nil, false, nil, incident.Errorf(incident.EINVALID, "body: want an alert object or an array of alerts")
	}
	if maxAlerts > 0 && len(raws) > maxAlerts {
		return nil, false, nil, incident.Errorf(incident.ETOOLARGE, "alerts: %d alerts in one request, at most %d", len(raws), maxAlerts)
	}
	cleaned := make([]json.RawMessage, len(raws))
	for i, raw := range raws {
		prefix := fmt.Sprintf("alerts[%d].", i)
		if single {
			prefix = ""
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			where := strings.TrimSuffix(prefix, ".")
			if where == "" {
				where = "body"
			}
			if err == nil {
				return nil, false, nil, incident.Errorf(incident.EINVALID, "%s: want an alert object, got null", where)
			}
			return nil, false, nil, incident.Errorf(incident.EINVALID, "%s: %s", where, jsonProblem(err))
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hasSource := false
		for _, k := range keys {
			if !knownAlertField(k) {
				warnings = append(warnings, fmt.Sprintf("%s%s: unknown field, ignored", prefix, k))
				delete(obj, k)
			} else if strings.EqualFold(k, "source") {
				hasSource = string(obj[k]) != `""` && string(obj[k]) != "null"
			}
		}
		if !hasSource && defaultSource != "" {
			for _, k := range keys {
				if strings.EqualFold(k, "source") {
					delete(obj, k)
				}
			}
			obj["source"], _ = json.Marshal(defaultSource)
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, false, nil, incident.Errorf(incident.EINVALID, "%s: %v", strings.TrimSuffix(prefix, "."), err)
		}
		cleaned[i] = b
	}
	// Re-encoding as the same shape keeps incident.DecodeAlerts' field paths.
	var again []byte
	if single {
		again = cleaned[0]
	} else {
		again, err = json.Marshal(cleaned)
		if err != nil {
			return nil, false, nil, incident.Errorf(incident.EINVALID, "body: %v", err)
		}
	}
	alerts, err = incident.DecodeAlerts(bytes.NewReader(again))
	if err != nil {
		return nil, false, warnings, err
	}
	return alerts, single, warnings, nil
}

// jsonProblem turns encoding/json's message into one a sender can act on.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
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
