package demologs

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// route is one endpoint of a backend service.
type route struct {
	method, path string
	latencyMS    float64 // median
}

var services = []struct {
	namespace string
	routes    []route
}{
	{"payments", []route{{"POST", "/api/payments", 120}, {"GET", "/api/payments/{id}", 40}}},
	{"checkout", []route{{"POST", "/api/checkout", 150}, {"GET", "/api/cart", 35}}},
	{"catalog", []route{{"GET", "/api/products", 60}, {"GET", "/api/products/{id}", 25}}},
	{"auth", []route{{"POST", "/api/login", 90}, {"POST", "/api/logout", 20}, {"GET", "/api/session", 10}}},
	{"search", []route{{"GET", "/api/search", 80}}},
	{"notifications", []route{{"POST", "/api/notify", 45}}},
}

// Baseline status mix: about 0.5% 5xx, 5% 4xx.
var (
	statuses       = []int{200, 201, 204, 304, 400, 401, 403, 404, 429, 500, 502, 503}
	statusWeights  = []int{900, 30, 20, 15, 10, 5, 3, 15, 2, 3, 1, 1}
	users          = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "anonymous"}
	countries      = []string{"US", "US", "US", "DE", "GB", "FR", "NL", "JP", "IN", "BR", "CA", "AU"}
	serverErrors   = []string{"upstream connect error or disconnect/reset before headers", "context deadline exceeded calling ledger-service", "pq: too many connections for role \"app\"", "panic: runtime error: invalid memory address or nil pointer dereference"}
	browsers       = []string{"Chrome", "Chrome", "Chrome", "Safari", "Safari", "Firefox", "Edge"}
	pages          = []string{"/", "/products", "/products/{id}", "/cart", "/checkout", "/login", "/account"}
	jsErrors       = []string{"TypeError: Cannot read properties of undefined (reading 'price')", "ChunkLoadError: Loading chunk 42 failed", "NetworkError when attempting to fetch resource"}
	userAgents     = []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
	attackerAgents = []string{"sqlmap/1.8.4#stable (https://sqlmap.org)", "python-requests/2.32.3", "curl/8.5.0"}
)

// clientIP draws a client from a fixed pool in the documentation ranges
// (RFC 5737), so demo data never names a real host. Its country is stable.
func clientIP(rng *rand.Rand) (ip, country string) {
	nets := []string{"192.0.2", "198.51.100", "203.0.113"}
	n := rng.IntN(3)
	host := 1 + rng.IntN(180) // .181-.254 are kept for attackers
	return fmt.Sprintf("%s.%d", nets[n], host), countries[(n*180+host)%len(countries)]
}

// userHome is where a signed-in user connects from: one address, hence one
// country, per user, as in real traffic. Random countries per event would make
// every "country changed" rule fire for everyone. Anonymous traffic comes from anywhere.
func userHome(rng *rand.Rand, user string) (ip, country string) {
	if user == "anonymous" {
		return clientIP(rng)
	}
	h := fnv.New32a()
	h.Write([]byte(user))
	v := int(h.Sum32())
	nets := []string{"192.0.2", "198.51.100", "203.0.113"}
	n, host := v%3, 1+(v/3)%180
	return fmt.Sprintf("%s.%d", nets[n], host), countries[(n*180+host)%len(countries)]
}

// attackerIP is one of a few addresses that only scenarios use.
func attackerIP(rng *rand.Rand) (ip, country string) {
	host := 181 + rng.IntN(70)
	return fmt.Sprintf("203.0.113.%d", host), []string{"NL", "SG", "RU", "VN", "RO"}[host%5]
}

// podName is stable per namespace and replica, like a Deployment's pods: one
// ReplicaSet hash per namespace, one suffix per replica.
func podName(namespace string, replica int) string {
	h := fnv.New32a()
	h.Write([]byte(namespace))
	rs := h.Sum32()
	fmt.Fprintf(h, "-%d", replica)
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	v := h.Sum32()
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = alphabet[v%uint32(len(alphabet))]
		v /= uint32(len(alphabet))
	}
	return fmt.Sprintf("%s-api-%08x-%s", namespace, rs&0x7fffffff, suffix)
}

// latency draws a log-normal response time around median ms.
func latency(rng *rand.Rand, median float64) int {
	v := median * math.Exp(rng.NormFloat64()*0.5)
	return max(1, int(v))
}

func fillPath(rng *rand.Rand, path string) string {
	if len(path) > 5 && path[len(path)-5:] == "/{id}" {
		return fmt.Sprintf("%s/%d", path[:len(path)-5], 1000+rng.IntN(9000))
	}
	return path
}

func levelFor(status int) string {
	switch {
	case status >= 500:
		return "error"
	case status >= 400:
		return "warn"
	default:
		return "info"
	}
}

// appEvent holds the fields of one backend request log; scenarios set some first.
type appEvent struct {
	namespace, method, path, ip, country, user, level, message string
	status, latencyMS                                          int
}

func appDoc(rng *rand.Rand, t time.Time, e *appEvent) Doc {
	var ev appEvent
	if e != nil {
		ev = *e
	}
	if ev.namespace == "" {
		svc := services[rng.IntN(len(services))]
		r := pick(rng, svc.routes)
		ev.namespace, ev.method, ev.path = svc.namespace, r.method, fillPath(rng, r.path)
		if ev.latencyMS == 0 {
			ev.latencyMS = latency(rng, r.latencyMS)
		}
	}
	if ev.latencyMS == 0 {
		ev.latencyMS = latency(rng, 80)
	}
	if ev.user == "" {
		ev.user = pick(rng, users)
	}
	if ev.ip == "" {
		ev.ip, ev.country = userHome(rng, ev.user)
	}
	if ev.status == 0 {
		ev.status = weighted(rng, statuses, statusWeights)
	}
	if ev.level == "" {
		ev.level = levelFor(ev.status)
	}
	if ev.message == "" {
		ev.message = fmt.Sprintf("%s %s %d %dms", ev.method, ev.path, ev.status, ev.latencyMS)
		if ev.status >= 500 {
			ev.message += ": " + pick(rng, serverErrors)
		}
	}
	return Doc{
		Index: indexName(AppIndexPrefix, t),
		Time:  t,
		Source: map[string]any{
			"@timestamp": timestamp(t),
			"kubernetes": map[string]any{
				"namespace_name": ev.namespace,
				"pod_name":       podName(ev.namespace, rng.IntN(3)),
				"container_name": ev.namespace + "-api",
			},
			"log":              map[string]any{"level": ev.level},
			"status":           ev.status,
			"request":          map[string]any{"method": ev.method, "path": ev.path},
			"response_time_ms": ev.latencyMS,
			"client_ip":        ev.ip,
			"user":             map[string]any{"name": ev.user},
			"geo":              map[string]any{"country_iso_code": ev.country},
			"message":          ev.message,
		},
	}
}

func frontendDoc(rng *rand.Rand, t time.Time) Doc {
	user := pick(rng, users)
	ip, country := userHome(rng, user)
	page := fillPath(rng, pick(rng, pages))
	src := map[string]any{
		"@timestamp": timestamp(t),
		"app":        "web-storefront",
		"client_ip":  ip,
		"user":       map[string]any{"name": user},
		"geo":        map[string]any{"country_iso_code": country},
		"browser":    map[string]any{"name": pick(rng, browsers)},
		"page":       map[string]any{"path": page},
	}
	switch kind := weighted(rng, []string{"page_view", "api_call", "js_error"}, []int{70, 25, 5}); kind {
	case "page_view":
		ms := latency(rng, 900)
		src["event"] = map[string]any{"type": kind}
		src["log"] = map[string]any{"level": "info"}
		src["response_time_ms"] = ms
		src["message"] = fmt.Sprintf("page view %s loaded in %dms", page, ms)
	case "api_call":
		svc := services[rng.IntN(len(services))]
		r := pick(rng, svc.routes)
		status, ms := weighted(rng, statuses, statusWeights), latency(rng, r.latencyMS*1.5)
		src["event"] = map[string]any{"type": kind}
		src["log"] = map[string]any{"level": levelFor(status)}
		src["status"] = status
		src["request"] = map[string]any{"method": r.method, "path": fillPath(rng, r.path)}
		src["response_time_ms"] = ms
		src["message"] = fmt.Sprintf("fetch %s %s -> %d in %dms", r.method, r.path, status, ms)
	default:
		msg := pick(rng, jsErrors)
		src["event"] = map[string]any{"type": kind}
		src["log"] = map[string]any{"level": "error"}
		src["error"] = map[string]any{"type": msg[:indexByte(msg, ':')], "message": msg}
		src["message"] = "uncaught " + msg
	}
	return Doc{Index: indexName(FrontendIndexPrefix, t), Time: t, Source: src}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return len(s)
}

// WAF rule labels, as AWS WAF writes them into the log's labels array.
const (
	LabelSQLiQueryArguments = "awswaf:managed:aws:core-rule-set:SQLi_QueryArguments"
	LabelXSSQueryArguments  = "awswaf:managed:aws:core-rule-set:CrossSiteScripting_QueryArguments"
	LabelSizeRestrictions   = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
	LabelLog4JRCE           = "awswaf:managed:aws:known-bad-inputs:Log4JRCE"
	LabelIPReputation       = "awswaf:managed:aws:amazon-ip-list:AWSManagedIPReputationList"

	RuleCoreRuleSet     = "AWS-AWSManagedRulesCommonRuleSet"
	RuleKnownBadInputs  = "AWS-AWSManagedRulesKnownBadInputsRuleSet"
	RuleIPReputation    = "AWS-AWSManagedRulesAmazonIpReputationList"
	RuleRateLimit       = "RateLimit-2000"
	RuleDefaultAction   = "Default_Action"
	demoWebACL          = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/irflow-demo/4b1c6c7e-8f0a-4d55-9c1e-5d2f0b7a9e11"
	demoHTTPSourceID    = "123456789012-app/irflow-demo-alb/5f1e2d3c4b5a6978"
	demoHost            = "shop.example.com"
	wafBaselineSQLiArgs = "q=shoes%27%20UNION%20SELECT%20NULL--"
)

// wafEvent holds fields a scenario fixes; the rest are drawn.
type wafEvent struct {
	action, ruleID, ruleType, ip, country, uri, args, method, userAgent string
	labels                                                              []string
}

func wafDoc(rng *rand.Rand, t time.Time, e *wafEvent) Doc {
	var ev wafEvent
	if e != nil {
		ev = *e
	}
	if ev.action == "" {
		switch weighted(rng, []string{"ALLOW", "BLOCK", "COUNT"}, []int{960, 30, 10}) {
		case "ALLOW":
			ev.action, ev.ruleID, ev.ruleType = "ALLOW", RuleDefaultAction, "REGULAR"
		case "COUNT":
			ev.action, ev.ruleID, ev.ruleType = "COUNT", RuleRateLimit, "RATE_BASED"
		default:
			ev.action, ev.ruleType = "BLOCK", "MANAGED_RULE_GROUP"
			switch rng.IntN(5) {
			case 0:
				ev.ruleID, ev.labels, ev.args = RuleCoreRuleSet, []string{LabelSQLiQueryArguments}, wafBaselineSQLiArgs
			case 1:
				ev.ruleID, ev.labels, ev.args = RuleCoreRuleSet, []string{LabelXSSQueryArguments}, "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
			case 2:
				ev.ruleID, ev.labels = RuleCoreRuleSet, []string{LabelSizeRestrictions}
			case 3:
				ev.ruleID, ev.labels = RuleKnownBadInputs, []string{LabelLog4JRCE}
			default:
				ev.ruleID, ev.labels = RuleIPReputation, []string{LabelIPReputation}
			}
		}
	}
	if ev.ip == "" {
		ev.ip, ev.country = clientIP(rng)
	}
	if ev.uri == "" {
		svc := services[rng.IntN(len(services))]
		r := pick(rng, svc.routes)
		ev.uri, ev.method = fillPath(rng, r.path), r.method
	}
	if ev.method == "" {
		ev.method = "GET"
	}
	if ev.userAgent == "" {
		ev.userAgent = pick(rng, userAgents)
	}
	labels := []any{}
	for _, l := range ev.labels {
		labels = append(labels, map[string]any{"name": l})
	}
	ruleGroups := []any{}
	if ev.ruleType == "MANAGED_RULE_GROUP" {
		ruleGroups = append(ruleGroups, map[string]any{
			"ruleGroupId":     "AWS#" + ev.ruleID[len("AWS-"):],
			"terminatingRule": map[string]any{"ruleId": ev.ruleID, "action": ev.action},
		})
	}
	return Doc{
		Index: indexName(WAFIndexPrefix, t),
		Time:  t,
		Source: map[string]any{
			"@timestamp":          timestamp(t),
			"timestamp":           t.UnixMilli(),
			"formatVersion":       1,
			"webaclId":            demoWebACL,
			"terminatingRuleId":   ev.ruleID,
			"terminatingRuleType": ev.ruleType,
			"action":              ev.action,
			"httpSourceName":      "ALB",
			"httpSourceId":        demoHTTPSourceID,
			"ruleGroupList":       ruleGroups,
			"labels":              labels,
			"httpRequest": map[string]any{
				"clientIp":    ev.ip,
				"country":     ev.country,
				"uri":         ev.uri,
				"args":        ev.args,
				"httpMethod":  ev.method,
				"httpVersion": "HTTP/1.1",
				"requestId":   fmt.Sprintf("1-%08x-%024x", t.Unix(), rng.Uint64()),
				"headers": []any{
					map[string]any{"name": "Host", "value": demoHost},
					map[string]any{"name": "User-Agent", "value": ev.userAgent},
				},
			},
		},
	}
}
