package ingress

import (
	"strings"
	"testing"

	"github.com/irflow/irflow/internal/config"

	"github.com/irflow/irflow/incident"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/. Every decoder must
// either return a valid alert or an error a sender can act on, never panic.

func requireSenderError(t *testing.T, err error) {
	t.Helper()
	switch code := incident.ErrorCode(err); code {
	case incident.EINVALID, incident.ETOOLARGE:
	default:
		t.Fatalf("error code %q (%v), want invalid or too_large", code, err)
	}
	if strings.TrimSpace(err.Error()) == "" {
		t.Fatal("empty error message")
	}
}

func FuzzDecodeAlerts(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, source := range []string{"", "fuzz"} {
			alerts, single, _, err := incident.DecodeAlerts(data, incident.DecodeOptions{Lenient: true, DefaultSource: source, MaxAlerts: 50})
			if err != nil {
				requireSenderError(t, err)
				continue
			}
			if len(alerts) == 0 || (single && len(alerts) != 1) {
				t.Fatalf("%d alerts, single %v", len(alerts), single)
			}
			for i := range alerts {
				if err := alerts[i].Validate(); err != nil {
					t.Fatalf("decoded alert %d invalid: %v", i, err)
				}
			}
		}
	})
}

func FuzzDecodeElastAlert(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a, _, err := DecodeElastAlert(data, config.ElastAlert{QueryKeyFields: []string{"key", "client.ip"}})
		if err != nil {
			requireSenderError(t, err)
			return
		}
		if a.Source != SourceElastAlert {
			t.Fatalf("source %q", a.Source)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("decoded alert invalid: %v", err)
		}
	})
}

func FuzzDecodeAlertmanager(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		items, _, err := DecodeAlertmanager(data)
		if err != nil {
			requireSenderError(t, err)
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
		for i, it := range items {
			if err := it.Alert.Validate(); err != nil {
				t.Fatalf("item %d invalid: %v", i, err)
			}
			if it.Resolved != (it.Clear.Source == SourceAlertmanager) {
				t.Fatalf("item %d: resolved %v but clear %+v", i, it.Resolved, it.Clear)
			}
		}
	})
}

func FuzzDecodeSNS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		// The alarm decoder also sees raw input, as if it were a Message.
		for _, msg := range []string{string(data), ""} {
			if msg == "" {
				m, err := DecodeSNS(data)
				if err != nil {
					requireSenderError(t, err)
					return
				}
				if !strings.HasSuffix(m.StringToSign(), "Type\n"+m.Type+"\n") {
					t.Fatalf("string to sign does not end with the type: %q", m.StringToSign())
				}
				msg = m.Message
			}
			item, state, _, err := DecodeCloudWatchAlarm(msg)
			switch {
			case err != nil:
				requireSenderError(t, err)
			case item == nil && state != AlarmStateInsufficientData:
				t.Fatalf("no item for state %q", state)
			case item != nil:
				if err := item.Alert.Validate(); err != nil {
					t.Fatalf("alarm alert invalid: %v", err)
				}
				if item.Resolved != (state == AlarmStateOK) {
					t.Fatalf("state %s resolved %v", state, item.Resolved)
				}
			}
		}
	})
}
