package demologs

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// ScenarioKind names an incident pattern the generator plays.
type ScenarioKind string

const (
	// Scenario5xxSpike: one namespace returns 500/502/503 at ~4 per second.
	Scenario5xxSpike ScenarioKind = "5xx-spike"
	// ScenarioWAFSQLiBurst: one IP is blocked by the core rule set's SQLi rule ~5 times a second.
	ScenarioWAFSQLiBurst ScenarioKind = "waf-sqli-burst"
	// ScenarioLoginBruteForce: one IP fails POST /api/login (401) twice a second.
	ScenarioLoginBruteForce ScenarioKind = "login-bruteforce"
	// ScenarioSlowRoute: POST /api/checkout answers in 1.2-4.5 s.
	ScenarioSlowRoute ScenarioKind = "slow-route"
)

// AllScenarios is the default rotation.
var AllScenarios = []ScenarioKind{Scenario5xxSpike, ScenarioWAFSQLiBurst, ScenarioLoginBruteForce, ScenarioSlowRoute}

// Scenario is one played incident: what, when, and the key its alert would group by.
type Scenario struct {
	Kind       ScenarioKind
	Start, End time.Time // half-open [Start, End)
	Namespace  string    // 5xx-spike, slow-route
	ClientIP   string    // waf-sqli-burst, login-bruteforce
	Country    string    // of ClientIP
	Path       string    // login-bruteforce, slow-route
}

func (s Scenario) String() string {
	key := s.Namespace
	if s.ClientIP != "" {
		key = s.ClientIP
	}
	return fmt.Sprintf("%s %s..%s %s %s", s.Kind, s.Start.Format(time.TimeOnly), s.End.Format(time.TimeOnly), key, s.Path)
}

// Scenarios lists the scenarios that overlap [from, to), in time order.
func Scenarios(seed int64, from, to time.Time, opts Options) []Scenario {
	o := opts.withDefaults()
	if o.ScenarioEvery <= 0 {
		return nil
	}
	every := int64(o.ScenarioEvery / time.Second)
	if every <= 0 {
		return nil
	}
	var out []Scenario
	// Start one period early: a scenario that began before from may still run.
	for slot := floorDiv(from.Unix(), every) - 1; slot*every < to.Unix(); slot++ {
		s := scenarioAt(seed, slot, every, o)
		if s.End.After(from) && s.Start.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// scenarioAt builds the scenario of one period; its key fields come from a
// generator seeded by the period alone, so they are the same for every second.
func scenarioAt(seed, slot, every int64, o Options) Scenario {
	rng := rand.New(rand.NewPCG(uint64(seed)^0x5ce7a110, uint64(slot)))
	kind := o.Scenarios[int(((slot%int64(len(o.Scenarios)))+int64(len(o.Scenarios)))%int64(len(o.Scenarios)))]
	start := time.Unix(slot*every, 0).UTC()
	s := Scenario{Kind: kind, Start: start, End: start.Add(o.ScenarioLength)}
	switch kind {
	case Scenario5xxSpike:
		s.Namespace = pick(rng, []string{"payments", "checkout", "catalog"})
	case ScenarioWAFSQLiBurst:
		s.ClientIP, s.Country = attackerIP(rng)
		s.Path = "/api/products"
	case ScenarioLoginBruteForce:
		s.ClientIP, s.Country = attackerIP(rng)
		s.Namespace, s.Path = "auth", "/api/login"
	case ScenarioSlowRoute:
		s.Namespace, s.Path = "checkout", "/api/checkout"
	}
	return s
}

// activeScenario returns the scenario running during sec, if any.
func activeScenario(seed int64, sec time.Time, o Options) (Scenario, bool) {
	if o.ScenarioEvery <= 0 {
		return Scenario{}, false
	}
	every := int64(o.ScenarioEvery / time.Second)
	if every <= 0 {
		return Scenario{}, false
	}
	s := scenarioAt(seed, floorDiv(sec.Unix(), every), every, o)
	if sec.Before(s.Start) || !sec.Before(s.End) {
		return Scenario{}, false
	}
	return s, true
}

var bruteForceUsers = []string{"admin", "root", "administrator", "alice", "bob", "test", "support", "sales"}

var sqliArgs = []string{
	"id=1%27%20OR%20%271%27%3D%271",
	"id=1%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--",
	"q=%27%3B%20DROP%20TABLE%20orders%3B--",
	"id=1%20AND%20SLEEP(5)",
}

// play appends the scenario's extra events for one second.
func (s Scenario) play(rng *rand.Rand, sec time.Time, out []Doc) []Doc {
	switch s.Kind {
	case Scenario5xxSpike:
		var routes []route
		for _, svc := range services {
			if svc.namespace == s.Namespace {
				routes = svc.routes
			}
		}
		for range poisson(rng, 4) {
			r := pick(rng, routes)
			status := weighted(rng, []int{500, 502, 503}, []int{60, 25, 15})
			out = append(out, appDoc(rng, at(rng, sec), &appEvent{
				namespace: s.Namespace, method: r.method, path: fillPath(rng, r.path),
				status: status, latencyMS: latency(rng, 30),
			}))
		}
	case ScenarioWAFSQLiBurst:
		for range poisson(rng, 5) {
			out = append(out, wafDoc(rng, at(rng, sec), &wafEvent{
				action: "BLOCK", ruleID: RuleCoreRuleSet, ruleType: "MANAGED_RULE_GROUP",
				ip: s.ClientIP, country: s.Country, uri: s.Path, args: pick(rng, sqliArgs),
				method: "GET", userAgent: attackerAgents[0], labels: []string{LabelSQLiQueryArguments},
			}))
		}
	case ScenarioLoginBruteForce:
		for range poisson(rng, 2) {
			user := pick(rng, bruteForceUsers)
			out = append(out, appDoc(rng, at(rng, sec), &appEvent{
				namespace: s.Namespace, method: "POST", path: s.Path, status: 401,
				ip: s.ClientIP, country: s.Country, user: user, level: "warn",
				latencyMS: latency(rng, 90),
				message:   fmt.Sprintf("login failed for user %q from %s: invalid credentials", user, s.ClientIP),
			}))
		}
	case ScenarioSlowRoute:
		for range poisson(rng, 3) {
			ms := 1200 + rng.IntN(3300)
			out = append(out, appDoc(rng, at(rng, sec), &appEvent{
				namespace: s.Namespace, method: "POST", path: s.Path, status: 200,
				latencyMS: ms, level: "warn",
				message: fmt.Sprintf("POST %s 200 %dms: slow request, payment provider latency", s.Path, ms),
			}))
		}
	}
	return out
}
