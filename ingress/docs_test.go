package ingress

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
)

// The examples in docs/examples are what users copy; they must keep working
// with the decoders and keep describing every alert field.
func TestDocExamples(t *testing.T) {
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "docs", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, name := range []string{"alert.json", "alerts.json"} {
		// Strict decoding: examples must not rely on ignored fields.
		if _, _, _, err := incident.DecodeAlerts(read(name), incident.DecodeOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	single, _, _, err := incident.DecodeAlerts(read("alert.json"), incident.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, w, err := DecodeElastAlert(read("elastalert-match.json"), config.ElastAlert{}); err != nil || len(w) > 1 {
		t.Errorf("elastalert-match.json: %v %q", err, w)
	}
	if _, w, err := DecodeAlertmanager(read("alertmanager-v4.json")); err != nil || len(w) != 0 {
		t.Errorf("alertmanager-v4.json: %v %q", err, w)
	}

	var schema struct {
		Defs struct {
			Alert struct {
				Properties map[string]any `json:"properties"`
			} `json:"alert"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(read("alert.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	var props []string
	for k := range schema.Defs.Alert.Properties {
		props = append(props, k)
	}
	want := incident.AlertFields()
	sort.Strings(props)
	sort.Strings(want)
	if !reflect.DeepEqual(props, want) {
		t.Errorf("alert.schema.json properties %v, incident.Alert has %v", props, want)
	}

	var accepted map[string]any
	if err := json.Unmarshal(read("alert-accepted.json"), &accepted); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(singleResponse{Warnings: []string{}})
	var real map[string]any
	_ = json.Unmarshal(b, &real)
	if fp := incident.Fingerprint(single[0]); accepted["fingerprint"] != fp || accepted["incident_id"] != incident.ID(fp) {
		t.Errorf("alert-accepted.json fingerprint %v, alert.json's is %s", accepted["fingerprint"], fp)
	}
	if !sameKeys(accepted, real) {
		t.Errorf("alert-accepted.json keys differ from the response the server writes: %s", b)
	}
}

func sameKeys(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
