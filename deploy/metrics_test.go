package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// irflowMetrics parses irflow's non-test Go code for client_golang metrics
// registered with a literal name, e.g. prometheus.NewCounterVec(
// prometheus.CounterOpts{Name: "irflow_ingress_requests_total"}, []string{"endpoint"}),
// and returns name -> label names (histograms also expose _bucket/_sum/_count).
func irflowMetrics(tb testing.TB) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "New") {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			name := ""
			for _, el := range opts.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
						if lit, ok := kv.Value.(*ast.BasicLit); ok {
							name, _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
			if name == "" {
				return true
			}
			var labels []string
			if len(call.Args) > 1 {
				labels = stringLits(call.Args[1])
			}
			out[name] = labels
			if strings.Contains(sel.Sel.Name, "Histogram") {
				for _, s := range []string{"_sum", "_count"} {
					out[name+s] = labels
				}
				out[name+"_bucket"] = append(slices.Clone(labels), "le")
			}
			return true
		})
		return nil
	})
	if err != nil {
		tb.Fatalf("parse irflow sources: %v", err)
	}
	if len(out) == 0 {
		tb.Fatal("found no metrics in irflow's sources")
	}
	return out
}

func stringLits(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if lit, ok := el.(*ast.BasicLit); ok {
			s, _ := strconv.Unquote(lit.Value)
			out = append(out, s)
		}
	}
	return out
}

// temporalMetrics reads the SDK's own metric name constants (the module
// pinned in go.mod) and applies internal/workerapp's naming: timers (the
// *_latency names) become <name>_seconds histograms, counters and gauges keep
// their name. Labels are workerapp's sdkLabels.
func temporalMetrics(tb testing.TB) map[string][]string {
	tb.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")
	cmd.Dir = root
	dir, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go list go.temporal.io/sdk: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "internal/common/metrics/constants.go"))
	if err != nil {
		tb.Fatalf("Temporal SDK metric constants: %v", err)
	}
	consts := map[string]string{"TemporalMetricsPrefix": "temporal_"}
	re := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(\w+) \+ "(\w+)"`)
	for range 3 { // constants build on each other (TemporalRequest + "_failure")
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if base, ok := consts[m[2]]; ok {
				consts[m[1]] = base + m[3]
			}
		}
	}

	var labels []string
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "internal/workerapp/metrics.go"), nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == "sdkLabels" && len(vs.Values) == 1 {
			labels = stringLits(vs.Values[0])
		}
		return true
	})
	if len(labels) == 0 {
		tb.Fatal("internal/workerapp/metrics.go: no sdkLabels")
	}

	out := map[string][]string{}
	for _, name := range consts {
		if !strings.HasPrefix(name, "temporal_") || name == "temporal_" {
			continue
		}
		if strings.HasSuffix(name, "_latency") {
			name += "_seconds"
			out[name+"_sum"], out[name+"_count"] = labels, labels
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
		}
		out[name] = labels
	}
	return out
}

// promQL is enough of a PromQL lexer to find metric and label names.
var (
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promMatchers = regexp.MustCompile(`\{([^}]*)\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promMatcher  = regexp.MustCompile(`\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

type promRefs struct{ metrics, labels []string }

func parsePromQL(expr string) promRefs {
	var r promRefs
	for _, m := range promGrouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				r.labels = append(r.labels, l)
			}
		}
	}
	for _, m := range promMatchers.FindAllStringSubmatch(expr, -1) {
		for _, mm := range promMatcher.FindAllStringSubmatch(m[1], -1) {
			r.labels = append(r.labels, mm[1])
		}
	}
	rest := promGrouping.ReplaceAllString(expr, " ")
	rest = promMatchers.ReplaceAllString(rest, " ")
	rest = promRange.ReplaceAllString(rest, " ")
	rest = promString.ReplaceAllString(rest, " ")
	for _, m := range promIdent.FindAllStringSubmatch(rest, -1) {
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(m[0])) {
			continue // a function call or an operator keyword
		}
		r.metrics = append(r.metrics, m[0])
	}
	return r
}

func TestParsePromQL(t *testing.T) {
	got := parsePromQL(`histogram_quantile(0.99, sum by (le, endpoint) (rate(irflow_x_bucket{job="a", code=~"5.."}[5m]))) / on(job) sum(up) > bool 0`)
	if !slices.Equal(got.metrics, []string{"irflow_x_bucket", "up"}) {
		t.Errorf("metrics = %v", got.metrics)
	}
	if !slices.Equal(got.labels, []string{"le", "endpoint", "job", "job", "code"}) {
		t.Errorf("labels = %v", got.labels)
	}
}

type scrapeConfig struct {
	Global        map[string]any `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		MetricsPath  string `yaml:"metrics_path"`
		DNSSDConfigs []struct {
			Names           []string `yaml:"names"`
			Type            string   `yaml:"type"`
			Port            int32    `yaml:"port"`
			RefreshInterval string   `yaml:"refresh_interval"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func MustPrometheus(tb testing.TB) scrapeConfig {
	tb.Helper()
	var c scrapeConfig
	if err := yaml.UnmarshalWithOptions(MustRead(tb, "deploy/prometheus/prometheus.yml"), &c, yaml.Strict()); err != nil {
		tb.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	return c
}

func TestPrometheusScrapesBothServices(t *testing.T) {
	c := MustPrometheus(t)
	// job -> the port the task definition exposes /metrics on.
	want := map[string]int32{"irflow-worker": 9090, "irflow-ingress": 8080}
	for _, f := range []string{"deploy/ecs/worker-task.json", "deploy/ecs/ingress-task.json"} {
		var td struct {
			Family               string
			ContainerDefinitions []struct {
				Name         string
				PortMappings []struct{ ContainerPort int32 }
			}
		}
		if err := json.Unmarshal(MustRead(t, f), &td); err != nil {
			t.Fatal(err)
		}
		if p := td.ContainerDefinitions[0].PortMappings; len(p) == 0 || p[0].ContainerPort != want[td.Family] {
			t.Errorf("%s exposes %v, but Prometheus job %s scrapes %d", f, p, td.Family, want[td.Family])
		}
	}
	for _, sc := range c.ScrapeConfigs {
		port, ok := want[sc.JobName]
		if !ok {
			t.Errorf("unexpected job %s", sc.JobName)
			continue
		}
		delete(want, sc.JobName)
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q, want /metrics", sc.JobName, sc.MetricsPath)
		}
		if len(sc.DNSSDConfigs) != 1 || sc.DNSSDConfigs[0].Port != port || sc.DNSSDConfigs[0].Type != "A" ||
			!slices.Contains(sc.DNSSDConfigs[0].Names, sc.JobName+".irflow.local") {
			t.Errorf("job %s: want A records of %s.irflow.local on port %d, got %+v", sc.JobName, sc.JobName, port, sc.DNSSDConfigs)
		}
	}
	for job := range want {
		t.Errorf("no scrape job %s", job)
	}
}

func TestDashboardQueriesUseRealMetrics(t *testing.T) {
	var dash struct {
		UID    string
		Panels []struct {
			ID      int
			Title   string
			Targets []struct{ RefID, Expr string }
		}
	}
	if err := json.Unmarshal(MustRead(t, "deploy/grafana/irflow-dashboard.json"), &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	known := irflowMetrics(t)
	temporal := temporalMetrics(t)
	for k, v := range temporal {
		known[k] = v
	}
	jobs := map[string]bool{}
	for _, sc := range MustPrometheus(t).ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	jobRe := regexp.MustCompile(`job="([^"]*)"`)

	ids := map[int]bool{}
	sawIngress, sawTemporal := false, false
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			refs := parsePromQL(tg.Expr)
			if len(refs.metrics) == 0 {
				t.Errorf("panel %q %s: no metric in %q", p.Title, tg.RefID, tg.Expr)
			}
			labels := map[string]bool{"job": true, "instance": true}
			for _, m := range refs.metrics {
				ls, ok := known[m]
				if !ok {
					t.Errorf("panel %q: metric %s is not registered by irflow nor a Temporal SDK metric as workerapp exports it", p.Title, m)
					continue
				}
				sawIngress = sawIngress || strings.HasPrefix(m, "irflow_ingress_")
				sawTemporal = sawTemporal || strings.HasPrefix(m, "temporal_")
				for _, l := range ls {
					labels[l] = true
				}
			}
			for _, l := range refs.labels {
				if !labels[l] {
					t.Errorf("panel %q: label %q is not a label of %v", p.Title, l, refs.metrics)
				}
			}
			for _, m := range jobRe.FindAllStringSubmatch(tg.Expr, -1) {
				if !jobs[m[1]] {
					t.Errorf("panel %q: job %q is not a scrape job in prometheus.yml", p.Title, m[1])
				}
			}
		}
	}
	if !sawIngress || !sawTemporal {
		t.Errorf("want panels on both irflow_ingress_* and temporal_* metrics (ingress %v, temporal %v)", sawIngress, sawTemporal)
	}
}
