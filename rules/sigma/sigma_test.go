package sigma_test

import (
	"encoding/json"
	"testing"

	"github.com/irflow/irflow/rules/sigma"
)

func TestRefused(t *testing.T) {
	head := "title: t\nlogsource: {category: test}\ndetection:\n"
	for _, tc := range []struct{ name, text, want string }{
		{"modifier", head + "  sel:\n    f|utf16le: x\n  condition: sel\n", "r.yml:5: modifier utf16le: not supported"},
		{"expand", head + "  sel:\n    f|expand: '%x%'\n  condition: sel\n", "r.yml:5: modifier expand: not supported"},
		{"fieldref", head + "  sel:\n    f|fieldref: g\n  condition: sel\n", "r.yml:5: modifier fieldref: not supported"},
		{"re m", head + "  sel:\n    f|re|m: x\n  condition: sel\n", "r.yml:5: modifier m: not supported"},
		{"two match modifiers", head + "  sel:\n    f|contains|re: x\n  condition: sel\n", "r.yml:5: modifiers contains and re: not supported together"},
		{"cased with re", head + "  sel:\n    f|re|cased: x\n  condition: sel\n", "r.yml:5: f|re|cased: modifier cased with re: not supported (cased applies to equals, contains, startswith, endswith)"},
		{"base64offset without contains", head + "  sel:\n    f|base64offset: x\n  condition: sel\n", "r.yml:5: f|base64offset: modifier base64offset needs contains"},
		{"base64 wildcard", head + "  sel:\n    f|base64: 'a*'\n  condition: sel\n", "r.yml:5: f|base64: base64 with wildcards: not supported"},
		{"re word boundary", head + "  sel:\n    f|re: '\\bx'\n  condition: sel\n", `r.yml:5: f|re: re "\\bx": \b and \B: not supported`},
		{"re inner anchor", head + "  sel:\n    f|re: 'a|^b'\n  condition: sel\n", `r.yml:5: f|re: re "a|^b": ^ or $ other than at the start or end of the expression: not supported`},
		{"cidr v6", head + "  sel:\n    f|cidr: 'fe80::/10'\n  condition: sel\n", `r.yml:5: f|cidr: cidr "fe80::/10": IPv6 not supported`},
		{"value on next line", head + "  sel:\n    f|cidr:\n      - 10.0.0.0/8\n      - 'fe80::/10'\n  condition: sel\n", `r.yml:7: f|cidr: cidr "fe80::/10": IPv6 not supported`},
		{"keywords", head + "  keywords:\n    - union select\n  condition: keywords\n", "r.yml:5: detection.keywords (keyword list without field names): not supported"},
		{"aggregation", head + "  sel: {f: x}\n  condition: sel | count() > 5\n", "r.yml:5: condition aggregation (| count() ...): not supported (write a Sigma correlation rule instead)"},
		{"timeframe", head + "  sel: {f: x}\n  timeframe: 5m\n  condition: sel\n", "r.yml:5: detection.timeframe: not supported (it belongs to aggregations and correlation rules)"},
		{"unknown identifier", head + "  sel: {f: x}\n  condition: sel and other\n", `r.yml:5: condition: "other" is not a detection identifier`},
		{"bare wildcard", head + "  sel: {f: x}\n  condition: sel*\n", `r.yml:5: condition: "sel*": a wildcard needs "1 of" or "all of"`},
		{"2 of", head + "  sel: {f: x}\n  condition: 2 of sel\n", `r.yml:5: condition "2 of": not supported (want "1 of" or "all of")`},
		{"of nothing", head + "  sel: {f: x}\n  condition: 1 of filter_*\n", "r.yml:5: condition: 1 of filter_*: matches no detection identifier"},
		{"unbalanced", head + "  sel: {f: x}\n  condition: (sel\n", "r.yml:5: condition: missing )"},
		{"correlation", "title: t\ncorrelation:\n  type: event_count\n", "r.yml:2: Sigma correlation rule: needs the rules it references: not supported here (sigma.ParseFile reads correlation files)"},
		{"collection", "title: t\naction: global\n---\nlogsource: {category: x}\n", "r.yml:4: rule collection (several YAML documents): not supported"},
		{"unknown attribute", "title: t\nfoo: 1\n", "r.yml:2: foo: unknown Sigma attribute (not supported)"},
		{"level", "title: t\nlevel: severe\n", `r.yml:2: level: unknown level "severe" (want informational, low, medium, high, critical)`},
		{"exists value", head + "  sel:\n    f|exists: yes please\n  condition: sel\n", "r.yml:5: f|exists: exists needs true or false"},
		{"gt value", head + "  sel:\n    f|gt: many\n  condition: sel\n", "r.yml:5: f|gt: gt needs a number"},
		{"missing condition", head + "  sel: {f: x}\n", "r.yml:3: detection.condition: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sigma.Parse("r.yml", []byte(tc.text))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestUnmappedField(t *testing.T) {
	r, err := sigma.Parse("r.yml", []byte("title: t\nlogsource: {category: webserver}\ndetection:\n  sel:\n    c-uri|contains: x\n    cs-referrer: y\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	src := &sigma.Source{Logsource: r.Logsource, Index: "i", Fields: map[string]string{"c-uri": "request.path"}}
	_, err = sigma.Compile(r, src)
	want := "r.yml:6: field cs-referrer: not mapped for logsource {category: webserver} (add it under fields in _sigma.yaml)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	src.Fields["cs-referrer"] = "request.referrer"
	c, err := sigma.Compile(r, src)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(c.Query)
	const wantQ = `{"bool":{"filter":[{"wildcard":{"request.path":{"case_insensitive":true,"value":"*x*"}}},{"term":{"request.referrer":{"case_insensitive":true,"value":"y"}}}]}}`
	if string(got) != wantQ {
		t.Errorf("query\n got %s\nwant %s", got, wantQ)
	}
}

func TestParseMapping(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "logsources:\n  - logsource: {category: x}\n    index: i\n    idx: j\n", "m.yaml:4: logsources[0].idx: unknown key (want logsource, index, timestamp_field, fields, keep_unmapped, keyword_suffix, owner, env, category, slack_channel)"},
		{"no index", "logsources:\n  - logsource: {category: x}\n", "m.yaml:2: logsources[0].index: missing"},
		{"duplicate", "logsources:\n  - logsource: {category: x}\n    index: i\n  - logsource: {category: x}\n    index: j\n", "m.yaml:4: logsources[1].logsource: {category: x} is already mapped at line 2"},
		{"field", "logsources:\n  - logsource: {category: x}\n    index: i\n    fields:\n      a: [b]\n", "m.yaml:5: logsources[0].fields.a: must be a field name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sigma.ParseMapping("m.yaml", []byte(tc.text))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestIsRule(t *testing.T) {
	for text, want := range map[string]bool{
		"title: t\nlogsource: {product: aws}\ndetection: {sel: {a: b}, condition: sel}\n": true,
		"name: n\ntype: any\nindex: i\nfilter: []\n":                                      false,
		"type: any\nlogsource: {}\ndetection: {}\n":                                       false,
		"title: t\ncorrelation: {type: event_count}\n":                                    true,
	} {
		if got := sigma.IsRule([]byte(text)); got != want {
			t.Errorf("IsRule(%q) = %v, want %v", text, got, want)
		}
	}
}
