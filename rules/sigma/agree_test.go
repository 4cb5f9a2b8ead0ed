package sigma_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/testenv"
	"github.com/irflow/irflow/rules"
	"github.com/irflow/irflow/rules/sigma"
)

// agreeEvents cover each modifier's edge: case, wildcards written as data,
// arrays, nested objects, null, numbers, encodings, dashes and addresses.
func agreeEvents() []rules.Event {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return []rules.Event{
		{"id": "1", "path": "/index.php?id=1' UNION SELECT", "ua": "sqlmap/1.7", "ip": "10.0.16.5", "method": "GET", "bytes": 100, "cmd": "cmd.exe /c whoami", "tags": []any{"a", "b"}, "user": "alice"},
		{"id": "2", "path": "/etc/passwd", "ua": "Mozilla/5.0", "ip": "10.0.32.1", "method": "POST", "bytes": 5000, "cmd": "net user /add bob", "user": nil},
		{"id": "3", "path": "/ok", "ua": "curl/8.0", "ip": "192.168.1.7", "method": "get", "bytes": 250, "payload": b64("secret"), "cmd": "net user \u2013add eve"},
		{"id": "4", "path": "/A*B?c", "ua": "", "ip": "203.0.113.9", "bytes": 300, "nested": map[string]any{"x": "Y"}, "payload": b64("xx some text with secret inside"), "user": "bob"},
		{"id": "5"},
		{"id": "6", "path": "/Admin/Login\nnext", "ua": "Nikto", "ip": "10.0.31.255", "method": "DELETE", "bytes": 0, "multi": []any{"x", "UNION"}, "payload": b64("a secret")},
		{"id": "7", "path": "/a-b", "ua": "Mozilla/5.0 (compatible; Nmap Scripting Engine)", "ip": "10.0.15.255", "method": "PUT", "bytes": 251, "payload": b64("it is secret!")},
	}
}

type agreeCase struct {
	name      string
	detection string
	want      string // matching ids, space-separated
}

var agreeCases = []agreeCase{
	{"equals folds case", "sel: {method: get}\n  condition: sel", "1 3"},
	{"cased", "sel: {method|cased: get}\n  condition: sel", "3"},
	{"number", "sel: {bytes: 250}\n  condition: sel", "3"},
	{"number as string", "sel: {bytes: '250'}\n  condition: sel", "3"},
	{"list is or", "sel: {method: [POST, delete]}\n  condition: sel", "2 6"},
	{"contains", "sel: {path|contains: union}\n  condition: sel", "1"},
	{"contains all", "sel: {path|contains|all: [union, select]}\n  condition: sel", "1"},
	{"contains all misses", "sel: {path|contains|all: [union, passwd]}\n  condition: sel", ""},
	{"contains cased", "sel: {path|contains|cased: UNION}\n  condition: sel", "1"},
	{"contains cased misses", "sel: {path|contains|cased: union}\n  condition: sel", ""},
	{"startswith", "sel: {ua|startswith: CURL/}\n  condition: sel", "3"},
	{"endswith", "sel: {path|endswith: passwd}\n  condition: sel", "2"},
	{"wildcards in value", "sel: {path: '/a*b?c'}\n  condition: sel", "4"},
	{"escaped wildcards", "sel: {path: '/a\\*b\\?c'}\n  condition: sel", "4"},
	{"question mark is one character", "sel: {path: '/a?b'}\n  condition: sel", "7"},
	{"empty string", "sel: {ua: ''}\n  condition: sel", "4"},
	{"re anchored", "sel: {ua|re: '^(sqlmap|Nikto)'}\n  condition: sel", "1 6"},
	{"re is cased", "sel: {ua|re: '^nikto'}\n  condition: sel", ""},
	{"re i", "sel: {ua|re|i: '^NIKTO$'}\n  condition: sel", "6"},
	{"re unanchored", "sel: {path|re: 'passw(or)?d'}\n  condition: sel", "2"},
	{"re escapes and classes", "sel: {path|re: '\\?id=\\d+''\\s'}\n  condition: sel", "1"},
	{"re negated class", "sel: {ip|re: '^10\\.0\\.[^3]'}\n  condition: sel", "1 7"},
	{"re repeat", "sel: {ip|re: '^\\d{3}\\.'}\n  condition: sel", "3 4"},
	{"re dot stops at newline", "sel: {path|re: 'Login.next'}\n  condition: sel", ""},
	{"re s", "sel: {path|re|s: 'Login.next'}\n  condition: sel", "6"},
	{"re special characters", "sel: {ua|re: '\\(compatible; Nmap'}\n  condition: sel", "7"},
	{"cidr /20", "sel: {ip|cidr: 10.0.16.0/20}\n  condition: sel", "1 6"},
	{"cidr list /24 /32", "sel: {ip|cidr: [192.168.1.0/24, 203.0.113.9/32]}\n  condition: sel", "3 4"},
	{"cidr /8", "sel: {ip|cidr: 10.0.0.0/8}\n  condition: sel", "1 2 6 7"},
	{"base64", "sel: {payload|base64: secret}\n  condition: sel", "3"},
	{"base64offset contains", "sel: {payload|base64offset|contains: secret}\n  condition: sel", "3 4 6 7"},
	{"windash", "sel: {cmd|windash|contains: ' -add '}\n  condition: sel", "2 3"},
	{"exists", "sel: {user|exists: true}\n  condition: sel", "1 4"},
	{"exists false", "sel: {user|exists: false}\n  condition: sel", "2 3 5 6 7"},
	{"null", "sel: {user: null}\n  condition: sel", "2 3 5 6 7"},
	{"gt", "sel: {bytes|gt: 250}\n  condition: sel", "2 4 7"},
	{"gte", "sel: {bytes|gte: 250}\n  condition: sel", "2 3 4 7"},
	{"lt", "sel: {bytes|lt: 250}\n  condition: sel", "1 6"},
	{"lte", "sel: {bytes|lte: 250}\n  condition: sel", "1 3 6"},
	{"array field", "sel: {tags: B}\n  condition: sel", "1"},
	{"array contains", "sel: {multi|contains: union}\n  condition: sel", "6"},
	{"nested field", "sel: {nested.x: y}\n  condition: sel", "4"},
	{"fields are and", "sel: {method: get, bytes: 250}\n  condition: sel", "3"},
	{"list of maps is or", "sel:\n  - {method: put}\n  - {bytes: 250}\n  condition: sel", "3 7"},
	{"and not", "sel: {ip|startswith: '10.'}\n  filter: {method: get}\n  condition: sel and not filter", "2 6 7"},
	{"or", "a: {method: post}\n  b: {ua|contains: nikto}\n  condition: a or b", "2 6"},
	{"not binds tighter than and, and than or", "a: {method: get}\n  b: {bytes: 100}\n  c: {method: put}\n  condition: a and not b or c", "3 7"},
	{"parentheses", "a: {method: get}\n  b: {bytes: 100}\n  c: {method: put}\n  condition: a and not (b or c)", "3"},
	{"not not", "a: {method: get}\n  condition: not not a", "1 3"},
	{"1 of wildcard", "sel_a: {method: post}\n  sel_b: {method: put}\n  other: {method: get}\n  condition: 1 of sel_*", "2 7"},
	{"all of wildcard", "sel_a: {ip|startswith: '10.'}\n  sel_b: {bytes|gt: 200}\n  other: {method: get}\n  condition: all of sel_*", "2 7"},
	{"1 of them skips underscore", "a: {method: post}\n  _b: {method: put}\n  condition: 1 of them", "2"},
	{"all of them", "a: {ip|startswith: '10.'}\n  b: {method: get}\n  condition: all of them", "1"},
	{"not 1 of", "a: {method: get}\n  b: {method: post}\n  condition: not 1 of them", "4 5 6 7"},
	{"condition list is or", "a: {method: post}\n  b: {method: put}\n  condition: [a, b]", "2 7"},
}

func TestOpenSearchAgreesWithGo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	events := agreeEvents()
	// The production template's shape: strings as keyword, bytes numeric.
	c, index := mustIndex(t, `{"dynamic_templates":[{"s":{"match_mapping_type":"string","mapping":{"type":"keyword","ignore_above":1024}}}],
		"properties":{"bytes":{"type":"long"}}}`, events)
	src := &sigma.Source{Logsource: sigma.Logsource{Category: "test"}, Index: index, KeepUnmapped: true}
	for _, tc := range agreeCases {
		t.Run(tc.name, func(t *testing.T) { checkAgree(t, c, index, src, events, tc) })
	}
}

// TestKeywordSuffix runs string queries against OpenSearch's default dynamic
// mapping (text with a .keyword subfield), as CloudTrail or ALB indices
// without a template have.
func TestKeywordSuffix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OpenSearch node")
	}
	events := agreeEvents()
	c, index := mustIndex(t, `{"properties":{"bytes":{"type":"long"}}}`, events)
	src := &sigma.Source{Logsource: sigma.Logsource{Category: "test"}, Index: index, KeepUnmapped: true, KeywordSuffix: ".keyword"}
	for _, tc := range agreeCases {
		if strings.Contains(tc.name, "array") || strings.Contains(tc.name, "number as string") {
			continue // a text field's keyword copy of a number is not indexed as a string term
		}
		t.Run(tc.name, func(t *testing.T) { checkAgree(t, c, index, src, events, tc) })
	}
}

func checkAgree(t *testing.T, c *opensearchgo.Client, index string, src *sigma.Source, events []rules.Event, tc agreeCase) {
	t.Helper()
	text := "title: t\nlogsource: {category: test}\ndetection:\n  " + tc.detection + "\n"
	r, err := sigma.Parse("case.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	comp, err := sigma.Compile(r, src)
	if err != nil {
		t.Fatal(err)
	}
	var goIDs []string
	for _, e := range events {
		if comp.Match(e) {
			goIDs = append(goIDs, e["id"].(string))
		}
	}
	body, _ := json.Marshal(map[string]any{"query": comp.Query, "size": 100, "_source": []string{"id"}})
	res, err := c.Search(c.Search.WithIndex(index), c.Search.WithBody(strings.NewReader(string(body))))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.IsError() {
		t.Fatalf("query %s: %s: %.800s", body, res.Status(), raw)
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					ID string `json:"id"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	var osIDs []string
	for _, h := range out.Hits.Hits {
		osIDs = append(osIDs, h.Source.ID)
	}
	sort.Strings(osIDs)
	got, gotOS := strings.Join(goIDs, " "), strings.Join(osIDs, " ")
	if got != tc.want || gotOS != tc.want {
		t.Errorf("want %q; Go evaluator %q, OpenSearch %q\nquery: %s", tc.want, got, gotOS, body)
	}
}

func mustIndex(t *testing.T, mapping string, events []rules.Event) (*opensearchgo.Client, string) {
	t.Helper()
	node := testenv.OpenSearch(t)
	c, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("irflow-test-sigma-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	res, err := c.Indices.Create(index, c.Indices.Create.WithBody(strings.NewReader(`{"mappings":`+mapping+`}`)))
	mustOK(t, res, err)
	t.Cleanup(func() { _, _ = c.Indices.Delete([]string{index}) })
	var b strings.Builder
	for _, e := range events {
		doc, _ := json.Marshal(e)
		fmt.Fprintf(&b, "{\"index\":{}}\n%s\n", doc)
	}
	res, err = c.Bulk(strings.NewReader(b.String()), c.Bulk.WithIndex(index), c.Bulk.WithRefresh("true"))
	mustOK(t, res, err)
	return c, index
}

func mustOK(t *testing.T, res *opensearchapi.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.IsError() || strings.Contains(string(b), `"errors":true`) {
		t.Fatalf("%s: %.500s", res.Status(), b)
	}
}
