package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/workflows"
)

// SourceAlertmanager is the Source of alerts from Prometheus Alertmanager.
const SourceAlertmanager = "alertmanager"

// amMessage is Alertmanager's webhook body, version 4.
type amMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// amMappedLabels become alert fields instead of query-key values. severity
// is left out of the query key so a re-labelled severity does not look like
// a new problem (Alertmanager's own fingerprint still tells them apart).
var amMappedLabels = map[string]bool{"alertname": true, "env": true, "environment": true, "severity": true}

// DecodeAlertmanager turns an Alertmanager v4 webhook body into items: one per
// alert, firing ones as occurrences, resolved ones as clears. Mapping:
// labels.alertname → rule, labels.env or labels.environment → env,
// labels.severity → severity, labels.service → service,
// annotations.summary → title, annotations.description → summary,
// fingerprint → external_id, startsAt → time, every other label → query_key,
// generatorURL and annotations.runbook_url → links.
func DecodeAlertmanager(body []byte) ([]Item, []string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, nil, incident.Errorf(incident.EINVALID, "body: want an Alertmanager webhook object")
	}
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, incident.Errorf(incident.EINVALID, "body: %s", incident.JSONProblem(err))
	}
	if m.Version != "4" {
		return nil, nil, incident.Errorf(incident.EINVALID, "version: %q, want \"4\"", m.Version)
	}
	if len(m.Alerts) == 0 {
		return nil, nil, incident.Errorf(incident.EINVALID, "alerts: empty")
	}
	var warnings []string
	if m.TruncatedAlerts > 0 {
		warnings = append(warnings, fmt.Sprintf("truncatedAlerts: Alertmanager left out %d alerts (max_alerts in its webhook config)", m.TruncatedAlerts))
	}
	items := make([]Item, 0, len(m.Alerts))
	for i, am := range m.Alerts {
		p := fmt.Sprintf("alerts[%d].", i)
		a := incident.Alert{Source: SourceAlertmanager, ExternalID: am.Fingerprint, Time: am.StartsAt.UTC()}
		name := am.Labels["alertname"]
		if name == "" {
			return nil, warnings, incident.Errorf(incident.EINVALID, "%slabels.alertname: required", p)
		}
		a.Rule = cleanName(p+"labels.alertname", name, &warnings)
		env := am.Labels["env"]
		envLabel := "env"
		if env == "" {
			env, envLabel = am.Labels["environment"], "environment"
		}
		if env != "" {
			a.Env = cleanName(p+"labels."+envLabel, env, &warnings)
		}
		if s := am.Labels["severity"]; s != "" {
			if sev, err := incident.ParseSeverity(s); err == nil {
				a.Severity = sev
			} else {
				warnings = append(warnings, fmt.Sprintf("%slabels.severity: %v, left unset", p, err))
			}
		}
		if s := am.Labels["service"]; s != "" {
			a.Service = cleanName(p+"labels.service", s, &warnings)
		}
		a.Title = clip(p+"annotations.summary", am.Annotations["summary"], incident.MaxTextLen, &warnings)
		a.Summary = clip(p+"annotations.description", am.Annotations["description"], incident.MaxTextLen, &warnings)
		qk := map[string]string{}
		for k, v := range am.Labels {
			if !amMappedLabels[k] {
				qk[k] = v
			}
		}
		a.QueryKey = capQueryKey(p+"query_key", qk, &warnings)
		for _, l := range []incident.Link{{Title: "source", URL: am.GeneratorURL}, {Title: "runbook", URL: am.Annotations["runbook_url"]}} {
			switch {
			case l.URL == "":
			case strings.HasPrefix(l.URL, "https://") || strings.HasPrefix(l.URL, "http://"):
				a.Links = append(a.Links, l)
			default:
				warnings = append(warnings, fmt.Sprintf("%s%s link: %q is not an http(s) URL, dropped", p, l.Title, l.URL))
			}
		}
		a.Fields = map[string]any{"receiver": m.Receiver, "group_key": m.GroupKey, "labels": am.Labels}
		if len(am.Annotations) > 0 {
			a.Fields["annotations"] = am.Annotations
		}
		if m.ExternalURL != "" {
			a.Fields["external_url"] = m.ExternalURL
		}
		trimFields(p+"fields.", a.Fields, &warnings)
		if err := a.Validate(); err != nil {
			return nil, warnings, incident.Errorf(incident.EINVALID, "%s%s", p, incident.ErrorMessage(err))
		}
		it := Item{Alert: a}
		switch am.Status {
		case "firing":
		case "resolved":
			it.Resolved = true
			it.Clear = workflows.SourceClear{Source: SourceAlertmanager, Detail: "resolved in Alertmanager", At: am.EndsAt.UTC()}
		default:
			return nil, warnings, incident.Errorf(incident.EINVALID, "%sstatus: %q, want firing or resolved", p, am.Status)
		}
		items = append(items, it)
	}
	return items, warnings, nil
}
