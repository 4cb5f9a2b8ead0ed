package console

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/irflow/irflow/incident"
	"github.com/irflow/irflow/ingress"
	"github.com/irflow/irflow/workflows"
)

// filterParams are the list's query parameters, in the order the form shows
// them; `starter incident list` has a flag of the same name for each.
var filterParams = []string{"status", "severity", "rule", "env", "category", "service", "since", "until"}

// parseFilter reads the list's query parameters. since and until take
// RFC 3339 or an age before now ("24h", "90m", "7d"). Errors name the parameter.
func parseFilter(q url.Values, now time.Time, pageSize int) (workflows.ListFilter, error) {
	f := workflows.ListFilter{
		Rule: strings.TrimSpace(q.Get("rule")), Env: strings.TrimSpace(q.Get("env")),
		Category: strings.TrimSpace(q.Get("category")), Service: strings.TrimSpace(q.Get("service")),
		Limit: pageSize,
	}
	if s := q.Get("status"); s != "" {
		st, err := incident.ParseStatus(s)
		if err != nil {
			return f, fmt.Errorf("status: %w", err)
		}
		f.Status = st
	}
	if s := q.Get("severity"); s != "" {
		sev, err := incident.ParseSeverity(s)
		if err != nil {
			return f, fmt.Errorf("severity: %w", err)
		}
		f.Severity = sev
	}
	var err error
	if f.Since, err = ParseTime(q.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = ParseTime(q.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("since: %s is not before until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if s := q.Get("next"); s != "" {
		if f.PageToken, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return f, fmt.Errorf("next: not a page token")
		}
	}
	return f, nil
}

// ParseTime reads an RFC 3339 time or an age before now: a Go duration
// ("90m", "24h") or whole days ("7d"). Empty is the zero time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-03-02T10:00:00Z) nor an age like 24h or 7d", s)
}

type severityCount struct {
	Severity string
	Count    int64
	Href     string
	Current  bool
}

type listBody struct {
	Query    url.Values
	Err      string
	Counts   []severityCount
	Total    int64
	Rows     []workflows.Summary
	Next     string // href of the next page, "" on the last
	First    string // href of the first page, "" on it
	Fragment string // the poll's URL
	Statuses []incident.Status
	Severity []incident.Severity
}

// listData reads one page and the counts; err is for the page (a bad
// parameter is shown above the empty table, not as an error page).
func (h *Handler) listData(r *http.Request) (listBody, int) {
	q := r.URL.Query()
	b := listBody{Query: q, Statuses: incident.Statuses, Severity: incident.Severities}
	f, err := parseFilter(q, h.cfg.Now(), h.cfg.PageSize)
	if err != nil {
		b.Err = err.Error()
		return b, http.StatusBadRequest
	}
	ctx := r.Context()
	type counted struct {
		m   map[incident.Severity]int64
		err error
	}
	countc := make(chan counted, 1)
	go func() {
		m, err := h.inc.CountBySeverity(ctx, f)
		countc <- counted{m, err}
	}()
	pg, err := h.inc.ListPage(ctx, f)
	c := <-countc
	if err == nil {
		err = c.err
	}
	if err != nil {
		b.Err = incident.ErrorMessage(err)
		status := ingress.ErrorStatus(err)
		if status == http.StatusInternalServerError {
			h.log.Error("console: list", "error", err)
		}
		return b, status
	}
	b.Rows = foldRuns(pg.Incidents)
	for i := len(incident.Severities) - 1; i >= 0; i-- {
		sev := incident.Severities[i]
		b.Total += c.m[sev]
		b.Counts = append(b.Counts, severityCount{
			Severity: sev.String(), Count: c.m[sev], Current: f.Severity == sev,
			Href: listHref(q, map[string]string{"severity": sev.String(), "next": ""}),
		})
	}
	if len(pg.NextPageToken) > 0 {
		b.Next = listHref(q, map[string]string{"next": base64.RawURLEncoding.EncodeToString(pg.NextPageToken)})
	}
	if q.Get("next") != "" {
		b.First = listHref(q, map[string]string{"next": ""})
	}
	b.Fragment = FragmentPath + "?" + q.Encode()
	return b, http.StatusOK
}

// foldRuns keeps the newest row of an incident that visibility lists twice
// (resolved, then opened again under the same ID).
func foldRuns(rows []workflows.Summary) []workflows.Summary {
	seen := make(map[string]bool, len(rows))
	out := rows[:0]
	for _, s := range rows {
		if seen[s.ID] {
			continue
		}
		seen[s.ID] = true
		out = append(out, s)
	}
	return out
}

// listHref is the list's URL with some parameters changed ("" removes one).
func listHref(q url.Values, set map[string]string) string {
	v := url.Values{}
	for _, k := range append(filterParams, "next") {
		if s := q.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	for k, s := range set {
		if s == "" {
			v.Del(k)
		} else {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return Prefix
	}
	return Prefix + "?" + v.Encode()
}

func (h *Handler) listPage(w http.ResponseWriter, r *http.Request) {
	h.overview.warm(h.overviewBuild)
	b, status := h.listData(r)
	h.render(w, status, "list.html", h.newPage(r, "Incidents", "list", b))
}

// listFragment is what the list page polls: the counts and the table.
func (h *Handler) listFragment(w http.ResponseWriter, r *http.Request) {
	b, status := h.listData(r)
	h.render(w, status, "list-live", h.newPage(r, "", "", b))
}

// IncidentHref is the console page of an incident.
func IncidentHref(id string) string { return IncidentPath + url.PathEscape(id) }
