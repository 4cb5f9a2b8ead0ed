package demologs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// field reads a dotted path from a document source.
func field(src map[string]any, path string) any {
	var v any = src
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func collect(seed int64, from, to time.Time, o Options) []Doc {
	var out []Doc
	for d := range Generate(seed, from, to, o) {
		out = append(out, d)
	}
	return out
}

func ndjson(t *testing.T, docs []Doc) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteNDJSON(&b, slices.Values(docs)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerateIsDeterministicAndSplittable(t *testing.T) {
	whole := ndjson(t, collect(42, t0, t0.Add(10*time.Minute), Options{}))
	again := ndjson(t, collect(42, t0, t0.Add(10*time.Minute), Options{}))
	if !bytes.Equal(whole, again) {
		t.Fatal("same seed and window produced different documents")
	}
	split := append(collect(42, t0, t0.Add(3*time.Minute+7*time.Second), Options{}),
		collect(42, t0.Add(3*time.Minute+7*time.Second), t0.Add(10*time.Minute), Options{})...)
	if !bytes.Equal(whole, ndjson(t, split)) {
		t.Error("[a,c) differs from [a,b)+[b,c); the live feeder would index different data than a backfill")
	}
	if bytes.Equal(whole, ndjson(t, collect(43, t0, t0.Add(10*time.Minute), Options{}))) {
		t.Error("seeds 42 and 43 produced the same documents")
	}
}

func TestGenerateFieldsPerIndex(t *testing.T) {
	required := map[string][]string{
		AppIndexPrefix: {"@timestamp", "kubernetes.namespace_name", "kubernetes.pod_name", "log.level", "status",
			"request.method", "request.path", "response_time_ms", "client_ip", "user.name", "geo.country_iso_code", "message"},
		FrontendIndexPrefix: {"@timestamp", "app", "event.type", "log.level", "client_ip", "user.name", "geo.country_iso_code", "page.path", "message"},
		WAFIndexPrefix: {"@timestamp", "timestamp", "action", "terminatingRuleId", "httpRequest.clientIp", "httpRequest.country",
			"httpRequest.uri", "httpRequest.httpMethod", "labels", "webaclId"},
	}
	// 23:58 to 00:03 crosses midnight: the index must follow the event's UTC day.
	from := time.Date(2026, 3, 1, 23, 58, 0, 0, time.UTC)
	docs := collect(7, from, from.Add(5*time.Minute), Options{})
	seen := map[string]int{}
	var prev time.Time
	for _, d := range docs {
		prefix := d.Index[:strings.LastIndexByte(d.Index[:len(d.Index)-len("2006.01.02")], '-')+1]
		seen[prefix]++
		for _, f := range required[prefix] {
			if field(d.Source, f) == nil {
				t.Fatalf("%s doc lacks %s: %v", prefix, f, d.Source)
			}
		}
		ts, err := time.Parse(time.RFC3339Nano, d.Source["@timestamp"].(string))
		if err != nil || !ts.Equal(d.Time) {
			t.Fatalf("@timestamp %v does not match Time %v (%v)", d.Source["@timestamp"], d.Time, err)
		}
		if want := prefix + ts.Format("2006.01.02"); d.Index != want {
			t.Fatalf("index %s, want %s for %s", d.Index, want, ts)
		}
		if ts.Before(from) || !ts.Before(from.Add(5*time.Minute)) || ts.Before(prev) {
			t.Fatalf("@timestamp %s out of window or out of order (prev %s)", ts, prev)
		}
		prev = ts
		if a := field(d.Source, "action"); a != nil && a != "ALLOW" && a != "BLOCK" && a != "COUNT" {
			t.Fatalf("WAF action %v", a)
		}
	}
	// Default rates: 5/s app, 2/s front-end, 3/s WAF, plus scenario extras.
	for prefix, min := range map[string]int{AppIndexPrefix: 1350, FrontendIndexPrefix: 500, WAFIndexPrefix: 800} {
		if seen[prefix] < min {
			t.Errorf("%s docs in 5 min = %d, want >= %d", prefix, seen[prefix], min)
		}
	}
}

func within(d Doc, s Scenario) bool { return !d.Time.Before(s.Start) && d.Time.Before(s.End) }

func TestScenariosPlayInTheData(t *testing.T) {
	const seed = 99
	from, to := t0, t0.Add(2*time.Hour)
	docs := collect(seed, from, to, Options{})
	scenarios := Scenarios(seed, from, to, Options{})
	if len(scenarios) != 24 {
		t.Fatalf("scenarios in 2h = %d, want 24 (one per 5 min)", len(scenarios))
	}
	for i, s := range scenarios {
		if want := AllScenarios[i%len(AllScenarios)]; s.Kind != want {
			t.Fatalf("scenario %d = %s, want %s (rotation)", i, s.Kind, want)
		}
	}
	inAny := func(d Doc) bool {
		for _, s := range scenarios {
			if within(d, s) {
				return true
			}
		}
		return false
	}
	quiet := to.Sub(from) - time.Duration(len(scenarios))*90*time.Second

	is5xx := func(d Doc) bool {
		st, _ := d.Source["status"].(int)
		return strings.HasPrefix(d.Index, AppIndexPrefix) && st >= 500
	}
	slowCheckout := func(d Doc) (int, bool) {
		if !strings.HasPrefix(d.Index, AppIndexPrefix) || field(d.Source, "request.path") != "/api/checkout" {
			return 0, false
		}
		return d.Source["response_time_ms"].(int), true
	}
	median := func(xs []int) int { slices.Sort(xs); return xs[len(xs)/2] }

	// Baselines from the quiet time between scenarios.
	base5xx := map[string]int{}
	var baseLatency []int
	for _, d := range docs {
		if inAny(d) {
			continue
		}
		if is5xx(d) {
			base5xx[field(d.Source, "kubernetes.namespace_name").(string)]++
		}
		if ms, ok := slowCheckout(d); ok {
			baseLatency = append(baseLatency, ms)
		}
		ip, _ := field(d.Source, "client_ip").(string)
		if wip, ok := field(d.Source, "httpRequest.clientIp").(string); ok {
			ip = wip
		}
		if n := strings.TrimPrefix(ip, "203.0.113."); n != ip && len(n) == 3 && n > "180" {
			t.Fatalf("attacker address %s outside any scenario: %v", ip, d.Source)
		}
	}
	if m := median(baseLatency); m >= 1000 {
		t.Fatalf("baseline median latency of /api/checkout = %dms, want < 1000", m)
	}

	for _, s := range scenarios {
		t.Run(s.String(), func(t *testing.T) {
			switch s.Kind {
			case Scenario5xxSpike:
				n := 0
				for _, d := range docs {
					if within(d, s) && is5xx(d) && field(d.Source, "kubernetes.namespace_name") == s.Namespace {
						n++
					}
				}
				// Baseline rate of this namespace over an equally long window.
				baseline := float64(base5xx[s.Namespace]) * float64(s.End.Sub(s.Start)) / float64(quiet)
				if float64(n) < 10*max(baseline, 1) {
					t.Errorf("5xx in %s during spike = %d, want >= 10x baseline %.2f", s.Namespace, n, baseline)
				}
			case ScenarioWAFSQLiBurst:
				n := 0
				for _, d := range docs {
					if within(d, s) && d.Source["action"] == "BLOCK" && field(d.Source, "httpRequest.clientIp") == s.ClientIP &&
						d.Source["terminatingRuleId"] == RuleCoreRuleSet &&
						field(d.Source["labels"].([]any)[0].(map[string]any), "name") == LabelSQLiQueryArguments {
						n++
					}
				}
				if n < 200 {
					t.Errorf("SQLi blocks from %s = %d, want >= 200 in 90 s", s.ClientIP, n)
				}
			case ScenarioLoginBruteForce:
				n, users := 0, map[any]bool{}
				for _, d := range docs {
					if within(d, s) && d.Source["client_ip"] == s.ClientIP && field(d.Source, "request.path") == "/api/login" && d.Source["status"] == 401 {
						n++
						users[field(d.Source, "user.name")] = true
					}
				}
				if n < 100 || len(users) < 3 {
					t.Errorf("401s on /api/login from %s = %d over %d users, want >= 100 over >= 3", s.ClientIP, n, len(users))
				}
			case ScenarioSlowRoute:
				var lat []int
				for _, d := range docs {
					if ms, ok := slowCheckout(d); ok && within(d, s) {
						lat = append(lat, ms)
					}
				}
				if m := median(lat); m <= 1000 {
					t.Errorf("median /api/checkout latency during scenario = %dms over %d requests, want > 1000", m, len(lat))
				}
			}
		})
	}
}

func TestScenariosCanBeDisabled(t *testing.T) {
	o := Options{ScenarioEvery: -1}
	if s := Scenarios(1, t0, t0.Add(time.Hour), o); len(s) != 0 {
		t.Fatalf("scenarios = %v, want none", s)
	}
	for d := range Generate(1, t0, t0.Add(10*time.Minute), o) {
		ip, _ := d.Source["client_ip"].(string)
		if wip, ok := field(d.Source, "httpRequest.clientIp").(string); ok {
			ip = wip
		}
		if n := strings.TrimPrefix(ip, "203.0.113."); n != ip && len(n) == 3 && n > "180" {
			t.Fatalf("scenario (attacker) traffic with scenarios disabled: %v", d.Source)
		}
		if st, _ := d.Source["status"].(int); st == 200 && field(d.Source, "request.path") == "/api/checkout" && d.Source["response_time_ms"].(int) >= 1200 && strings.Contains(d.Source["message"].(string), "slow request") {
			t.Fatalf("slow-route traffic with scenarios disabled: %v", d.Source)
		}
	}
}

func TestWriteNDJSONLines(t *testing.T) {
	docs := collect(3, t0, t0.Add(20*time.Second), Options{})
	sc := bufio.NewScanner(bytes.NewReader(ndjson(t, docs)))
	sc.Buffer(nil, 1<<20)
	i := 0
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if line["_index"] != docs[i].Index || line["@timestamp"] != docs[i].Source["@timestamp"] {
			t.Fatalf("line %d = %v, want doc %v in %s", i+1, line, docs[i].Source, docs[i].Index)
		}
		i++
	}
	if i != len(docs) || i == 0 {
		t.Fatalf("lines = %d, want %d", i, len(docs))
	}
}
