// Package deploy_test checks the production artifacts under deploy/ that
// cannot run here (ECS, CloudFormation, Grafana, Prometheus): each is decoded
// strictly into the AWS SDK's input type or parsed, and cross-checked against
// irflow's code (env var names, CLI flags, ports, metric names).
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/irflow/irflow/internal/config"
)

// root is the repository root; go test runs in deploy/.
const root = ".."

func MustRead(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		tb.Fatalf("read %s: %v", rel, err)
	}
	return b
}

// lowerFirst is the casing of ECS's JSON API (and so of --cli-input-json):
// taskRoleArn for the SDK's TaskRoleArn. Application Auto Scaling and
// CloudWatch (and CloudFormation's property names) use the Go name as is.
func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }
func sameCase(s string) string   { return s }

// MustDecodeStrict decodes data into v rejecting unknown fields, then checks
// that every key is spelled exactly as the API spells it (encoding/json
// matches case-insensitively, the AWS CLI does not) and that every enum value
// is one the SDK knows.
func MustDecodeStrict(tb testing.TB, what string, data []byte, v any, casing func(string) string) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: decode into %T: %v", what, v, err)
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	for _, e := range checkCasing(reflect.TypeOf(v), raw, what, casing) {
		tb.Error(e)
	}
	for _, e := range checkEnums(reflect.ValueOf(v), what) {
		tb.Error(e)
	}
}

func checkCasing(t reflect.Type, raw any, path string, casing func(string) string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []string
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		for key, val := range obj {
			for i := range t.NumField() {
				f := t.Field(i)
				if f.IsExported() && strings.EqualFold(f.Name, key) {
					if want := casing(f.Name); key != want {
						errs = append(errs, fmt.Sprintf("%s: key %q must be spelled %q", path, key, want))
					}
					errs = append(errs, checkCasing(f.Type, val, path+"."+key, casing)...)
				}
			}
		}
	case reflect.Slice:
		if arr, ok := raw.([]any); ok {
			for i, el := range arr {
				errs = append(errs, checkCasing(t.Elem(), el, fmt.Sprintf("%s[%d]", path, i), casing)...)
			}
		}
	case reflect.Map:
		if obj, ok := raw.(map[string]any); ok {
			for k, el := range obj {
				errs = append(errs, checkCasing(t.Elem(), el, path+"."+k, casing)...)
			}
		}
	}
	return errs
}

// checkEnums walks v and reports string enum values the SDK does not list.
func checkEnums(v reflect.Value, path string) []string {
	var errs []string
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			errs = append(errs, checkEnums(v.Elem(), path)...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				errs = append(errs, checkEnums(v.Field(i), path+"."+v.Type().Field(i).Name)...)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			errs = append(errs, checkEnums(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.String:
		m := v.MethodByName("Values")
		if !m.IsValid() || v.String() == "" {
			return nil
		}
		known := m.Call(nil)[0]
		for i := range known.Len() {
			if known.Index(i).String() == v.String() {
				return nil
			}
		}
		errs = append(errs, fmt.Sprintf("%s: %q is not a known %s", path, v.String(), v.Type().Name()))
	}
	return errs
}

// placeholders are the ${NAME}s the ECS files use, with example values; docs
// show how to fill them with envsubst. Those set from stack outputs name the
// output so the test can check the template provides it.
var placeholders = map[string]struct{ example, output string }{
	"AWS_REGION":             {"eu-west-1", ""},
	"IRFLOW_IMAGE":           {"123456789012.dkr.ecr.eu-west-1.amazonaws.com/irflow:v1.0.0", ""},
	"TEMPORAL_ADDRESS":       {"irflow.a1b2c.tmprl.cloud:7233", ""},
	"TEMPORAL_NAMESPACE":     {"irflow.a1b2c", ""},
	"OPENSEARCH_URL":         {"https://search-logs.eu-west-1.es.amazonaws.com", ""},
	"CLUSTER":                {"irflow", ""},
	"ALB_FULL_NAME":          {"app/irflow/50dc6c495c0c9188", ""},
	"TARGET_GROUP_FULL_NAME": {"targetgroup/irflow-ingress/943f017f100becff", ""},
	"TASK_ROLE_ARN":          {"arn:aws:iam::123456789012:role/irflow-TaskRole-AbC123", "TaskRoleArn"},
	"EXECUTION_ROLE_ARN":     {"arn:aws:iam::123456789012:role/irflow-ExecutionRole-AbC123", "ExecutionRoleArn"},
	"SECRET_ARN":             {"arn:aws:secretsmanager:eu-west-1:123456789012:secret:irflow-AbCdEf", "SecretArn"},
	"LOG_GROUP":              {"/ecs/irflow", "LogGroupName"},
	"ARCHIVE_URL":            {"s3://irflow-archivebucket-1x2y3z/incidents", "ArchiveURL"},
	"ALARM_TOPIC_ARN":        {"arn:aws:sns:eu-west-1:123456789012:irflow-cloudwatch", "AlarmTopicArn"},
}

var placeholderRe = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// MustSubstitute fills placeholders like envsubst would, failing on unknown ones.
func MustSubstitute(tb testing.TB, file string, data []byte) []byte {
	tb.Helper()
	return placeholderRe.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(placeholderRe.FindSubmatch(m)[1])
		p, ok := placeholders[name]
		if !ok {
			tb.Errorf("%s: unknown placeholder ${%s}; add it to docs/deploy.md and this test", file, name)
			return m
		}
		return []byte(p.example)
	})
}

func TestPlaceholdersDocumentedAndProvided(t *testing.T) {
	doc := string(MustRead(t, "docs/deploy.md"))
	outputs := MustCFN(t)["Outputs"].(map[string]any)
	used := map[string]bool{}
	for _, f := range []string{"deploy/ecs/worker-task.json", "deploy/ecs/ingress-task.json", "deploy/ecs/autoscaling.json"} {
		for _, m := range placeholderRe.FindAllStringSubmatch(string(MustRead(t, f)), -1) {
			used[m[1]] = true
		}
	}
	for name, p := range placeholders {
		if !used[name] {
			t.Errorf("placeholder %s is listed here but no ECS file uses it", name)
		}
		if !strings.Contains(doc, name) {
			t.Errorf("docs/deploy.md does not say how to set %s", name)
		}
		if p.output != "" && outputs[p.output] == nil {
			t.Errorf("%s comes from stack output %s, which deploy/cloudformation/irflow.yaml does not define", name, p.output)
		}
	}
}

// envNamesRead collects the env var names irflow's binaries read: string
// literals shaped like TEMPORAL_*, IRFLOW_*, SLACK_* in non-test Go code of
// the packages the worker and the ingress are built from.
func envNamesRead(tb testing.TB) map[string]bool {
	tb.Helper()
	re := regexp.MustCompile(`"((?:TEMPORAL|IRFLOW|SLACK)_[A-Z0-9_]+)"`)
	names := map[string]bool{}
	for _, dir := range []string{"internal/config", "activities/slack", "starter", "workers", "internal/workerapp", "ingress"} {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil || len(files) == 0 {
			tb.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
		}
	}
	return names
}

// secretEnv must come from Secrets Manager, never from plain environment.
var secretEnv = []string{"TEMPORAL_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "IRFLOW_INGRESS_TOKENS"}

// fargateMemory lists the task memory (MiB) Fargate accepts per task CPU unit.
var fargateMemory = map[string][]int{
	"256":  {512, 1024, 2048},
	"512":  {1024, 2048, 3072, 4096},
	"1024": {2048, 3072, 4096, 5120, 6144, 7168, 8192},
	"2048": {4096, 5120, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384},
}

// finalImage returns the base of the Dockerfile's last stage.
func finalImage(tb testing.TB) string {
	tb.Helper()
	var base string
	for _, line := range strings.Split(string(MustRead(tb, "Dockerfile")), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			base = f[1]
		}
	}
	if base == "" {
		tb.Fatal("Dockerfile has no FROM")
	}
	return base
}

func TestTaskDefinitions(t *testing.T) {
	envRead := envNamesRead(t)
	secretKeys := cfnSecretKeys(t)
	distroless := strings.Contains(finalImage(t), "distroless")
	dockerfile := string(MustRead(t, "Dockerfile"))

	tests := []struct {
		file, family, container, binary, srcDir string
		command                                 []string // must appear in order
		port                                    int32
		healthPath                              string
		// needEnv is what production needs set (environment or secrets):
		// the config keys with no safe default for a deployment.
		needEnv []string
	}{
		{"deploy/ecs/worker-task.json", "irflow-worker", "worker", "/usr/local/bin/worker", "workers",
			[]string{"--config", "/etc/irflow/irflow.yaml"}, 9090, "/healthz",
			[]string{config.EnvTemporalAddress, config.EnvTemporalNamespace, config.EnvTemporalAPIKey, config.EnvMetricsAddr,
				config.EnvArchiveURL, config.EnvOpenSearchURL, config.EnvSlackToken}},
		{"deploy/ecs/ingress-task.json", "irflow-ingress", "ingress", "/usr/local/bin/starter", "starter",
			[]string{"serve", "--http-addr", "0.0.0.0:8080"}, 8080, "/readyz",
			[]string{config.EnvTemporalAddress, config.EnvTemporalNamespace, config.EnvTemporalAPIKey, config.EnvIngressTokens,
				config.EnvSlackSigningSecret, config.EnvSlackToken, config.EnvSNSAllowedTopicARNs}},
	}
	for _, tt := range tests {
		t.Run(tt.container, func(t *testing.T) {
			var in ecs.RegisterTaskDefinitionInput
			MustDecodeStrict(t, tt.file, MustSubstitute(t, tt.file, MustRead(t, tt.file)), &in, lowerFirst)

			if got := deref(in.Family); got != tt.family {
				t.Errorf("family = %q, want %q (docs and autoscaling.json use it as the service name)", got, tt.family)
			}
			if in.NetworkMode != "awsvpc" || !slices.Contains(in.RequiresCompatibilities, "FARGATE") {
				t.Errorf("want networkMode awsvpc and FARGATE, got %q %v", in.NetworkMode, in.RequiresCompatibilities)
			}
			mems, ok := fargateMemory[deref(in.Cpu)]
			if !ok || !slices.Contains(mems, atoi(t, deref(in.Memory))) {
				t.Errorf("cpu %q / memory %q is not a Fargate size", deref(in.Cpu), deref(in.Memory))
			}
			for _, arn := range []string{deref(in.TaskRoleArn), deref(in.ExecutionRoleArn)} {
				if !regexp.MustCompile(`^arn:aws:iam::\d{12}:role/.+`).MatchString(arn) {
					t.Errorf("role %q is not an IAM role ARN", arn)
				}
			}

			var main *ecstypes.ContainerDefinition
			reservedMiB := int32(0)
			healthChecked := false
			for i := range in.ContainerDefinitions {
				c := &in.ContainerDefinitions[i]
				reservedMiB += derefInt(c.MemoryReservation) + derefInt(c.Memory)
				if deref(c.Name) == tt.container {
					main = c
				}
				lc := c.LogConfiguration
				if lc == nil || lc.LogDriver != "awslogs" || lc.Options["awslogs-group"] == "" || lc.Options["awslogs-region"] == "" || lc.Options["awslogs-stream-prefix"] == "" {
					t.Errorf("container %s: want awslogs with group, region and stream prefix", deref(c.Name))
				}
				if c.HealthCheck != nil && derefBool(c.Essential) {
					healthChecked = true
					if distroless && deref(c.Image) == placeholders["IRFLOW_IMAGE"].example && len(c.HealthCheck.Command) > 0 && c.HealthCheck.Command[0] == "CMD-SHELL" {
						t.Errorf("container %s: the irflow image is %s (no shell, no wget); CMD-SHELL health checks cannot run in it", deref(c.Name), finalImage(t))
					}
					cmd := strings.Join(c.HealthCheck.Command, " ")
					want := fmt.Sprintf("http://127.0.0.1:%d%s", tt.port, tt.healthPath)
					if !strings.Contains(cmd, want) {
						t.Errorf("container %s: health check %q does not probe %s", deref(c.Name), cmd, want)
					}
					// The container checks itself with the CLI the image ships: no sidecar.
					if deref(c.Name) != tt.container || !slices.Equal(c.HealthCheck.Command[:min(3, len(c.HealthCheck.Command))], []string{"CMD", "/usr/local/bin/starter", "healthcheck"}) {
						t.Errorf("container %s: health check %q, want [CMD /usr/local/bin/starter healthcheck ...] on container %s", deref(c.Name), cmd, tt.container)
					}
					if c.HealthCheck.Timeout != nil && !strings.Contains(cmd, "--max-time") {
						t.Errorf("container %s: health check without --max-time outlives ECS's timeout %ds", deref(c.Name), *c.HealthCheck.Timeout)
					}
				}
			}
			for _, c := range in.ContainerDefinitions {
				if strings.Contains(deref(c.Image), "busybox") {
					t.Errorf("container %s runs %s; %s health-checks itself with starter healthcheck", deref(c.Name), deref(c.Image), tt.container)
				}
			}
			if !healthChecked {
				t.Error("no essential container has a health check; ECS would never replace a hung task")
			}
			if mem := int32(atoi(t, deref(in.Memory))); reservedMiB > mem {
				t.Errorf("containers reserve %d MiB, task has %d", reservedMiB, mem)
			}
			if main == nil {
				t.Fatalf("no container named %s", tt.container)
			}
			if deref(main.Image) != placeholders["IRFLOW_IMAGE"].example || !derefBool(main.Essential) {
				t.Errorf("container %s must run ${IRFLOW_IMAGE} and be essential", tt.container)
			}

			// The entry point is a binary the image ships, and its arguments
			// are ones that binary defines.
			if len(main.EntryPoint) != 1 || main.EntryPoint[0] != tt.binary {
				t.Errorf("entryPoint = %v, want [%s]", main.EntryPoint, tt.binary)
			}
			if !strings.Contains(dockerfile, "/out/"+filepath.Base(tt.binary)) {
				t.Errorf("Dockerfile does not build %s", tt.binary)
			}
			if !containsInOrder(main.Command, tt.command) {
				t.Errorf("command = %v, want it to contain %v", main.Command, tt.command)
			}
			src := readGoDir(t, tt.srcDir)
			for i, arg := range main.Command {
				switch {
				case strings.HasPrefix(arg, "--"):
					if !strings.Contains(src, `"`+strings.TrimLeft(arg, "-")+`"`) {
						t.Errorf("flag %s is not defined in %s/", arg, tt.srcDir)
					}
				case i == 0 && tt.srcDir == "starter":
					if !regexp.MustCompile(`Use:\s+"` + regexp.QuoteMeta(arg) + `\b`).MatchString(src) {
						t.Errorf("starter has no subcommand %q", arg)
					}
				}
			}

			var ports []int32
			for _, pm := range main.PortMappings {
				ports = append(ports, derefInt(pm.ContainerPort))
			}
			if !slices.Contains(ports, tt.port) {
				t.Errorf("port mappings %v lack %d", ports, tt.port)
			}

			env := map[string]string{}
			for _, kv := range main.Environment {
				env[deref(kv.Name)] = deref(kv.Value)
			}
			if tt.container == "worker" && env["IRFLOW_METRICS_ADDR"] != fmt.Sprintf("0.0.0.0:%d", tt.port) {
				t.Errorf("IRFLOW_METRICS_ADDR = %q, want 0.0.0.0:%d so the health check and Prometheus reach it", env["IRFLOW_METRICS_ADDR"], tt.port)
			}
			if env["TEMPORAL_ADDRESS"] == "" {
				t.Error("TEMPORAL_ADDRESS is not set")
			}
			for name := range env {
				if slices.Contains(secretEnv, name) {
					t.Errorf("%s is a secret; use secrets valueFrom, not environment", name)
				}
				if !envRead[name] && !strings.HasPrefix(name, "AWS_") {
					t.Errorf("env %s is not read by irflow", name)
				}
			}
			if len(main.Secrets) == 0 {
				t.Error("no secrets")
			}
			for _, s := range main.Secrets {
				name := deref(s.Name)
				if !envRead[name] {
					t.Errorf("secret %s is not an env var irflow reads", name)
				}
				want := placeholders["SECRET_ARN"].example + ":" + name + "::"
				if deref(s.ValueFrom) != want {
					t.Errorf("secret %s valueFrom = %q, want %q (JSON key of the stack's secret)", name, deref(s.ValueFrom), want)
				}
				if !secretKeys[name] {
					t.Errorf("secret %s: the CloudFormation Secret has no JSON key %s, so the task would fail to start", name, name)
				}
			}
			// What the container's config loads to, from the task's env alone
			// (secrets filled with stand-ins): every key production needs is set.
			secrets := map[string]string{}
			for _, s := range main.Secrets {
				secrets[deref(s.Name)] = "stand-in"
			}
			secrets[config.EnvIngressTokens] = "elastalert=stand-in"
			secrets[config.EnvSlackToken] = "xoxb-stand-in"
			// The image's paths, as the Dockerfile copies them from the repository.
			image := strings.NewReplacer("/etc/irflow/rules", filepath.Join(root, "deploy/rules"))
			for _, name := range tt.needEnv {
				if env[name] == "" && secrets[name] == "" {
					t.Errorf("%s is neither in environment nor in secrets; production needs it", name)
				}
			}
			cfg, err := config.Load("", func(name string) string {
				if v, ok := env[name]; ok {
					return image.Replace(v)
				}
				return secrets[name]
			})
			if err != nil {
				t.Fatalf("the task's env does not load: %v", err)
			}
			if tt.container == "ingress" {
				if want := []string{placeholders["ALARM_TOPIC_ARN"].example}; !slices.Equal(cfg.Ingress.SNS.AllowedTopicARNs, want) {
					t.Errorf("ingress.sns.allowed_topic_arns = %v, want %v (the stack's AlarmTopicArn): every SNS alarm would be refused", cfg.Ingress.SNS.AllowedTopicARNs, want)
				}
			}
		})
	}
}

func TestAutoscaling(t *testing.T) {
	const file = "deploy/ecs/autoscaling.json"
	var in struct {
		ScalableTargets []applicationautoscaling.RegisterScalableTargetInput
		ScalingPolicies []applicationautoscaling.PutScalingPolicyInput
	}
	MustDecodeStrict(t, file, MustSubstitute(t, file, MustRead(t, file)), &in, sameCase)

	cluster := placeholders["CLUSTER"].example
	targets := map[string]applicationautoscaling.RegisterScalableTargetInput{}
	for _, st := range in.ScalableTargets {
		id := deref(st.ResourceId)
		targets[id] = st
		if st.ServiceNamespace != "ecs" || st.ScalableDimension != "ecs:service:DesiredCount" {
			t.Errorf("%s: want ecs / ecs:service:DesiredCount", id)
		}
		if lo, hi := derefInt(st.MinCapacity), derefInt(st.MaxCapacity); lo < 1 || lo > hi {
			t.Errorf("%s: capacity %d..%d", id, lo, hi)
		}
	}
	wantMetric := map[string]string{
		"service/" + cluster + "/irflow-worker":  "ECSServiceAverageCPUUtilization",
		"service/" + cluster + "/irflow-ingress": "ALBRequestCountPerTarget",
	}
	seen := map[string]bool{}
	for _, p := range in.ScalingPolicies {
		id := deref(p.ResourceId)
		seen[id] = true
		if _, ok := targets[id]; !ok {
			t.Errorf("policy %s scales %s, which has no scalable target", deref(p.PolicyName), id)
		}
		cfg := p.TargetTrackingScalingPolicyConfiguration
		if p.PolicyType != "TargetTrackingScaling" || cfg == nil || cfg.PredefinedMetricSpecification == nil {
			t.Errorf("policy %s: want target tracking on a predefined metric", deref(p.PolicyName))
			continue
		}
		spec := cfg.PredefinedMetricSpecification
		if want, ok := wantMetric[id]; !ok || string(spec.PredefinedMetricType) != want {
			t.Errorf("policy %s on %s tracks %s, want %s", deref(p.PolicyName), id, spec.PredefinedMetricType, want)
		}
		if spec.PredefinedMetricType == "ALBRequestCountPerTarget" &&
			!regexp.MustCompile(`^app/[^/]+/[0-9a-f]+/targetgroup/[^/]+/[0-9a-f]+$`).MatchString(deref(spec.ResourceLabel)) {
			t.Errorf("ResourceLabel %q is not app/<alb>/<id>/targetgroup/<tg>/<id>", deref(spec.ResourceLabel))
		}
		if v := cfg.TargetValue; v == nil || *v <= 0 {
			t.Errorf("policy %s: TargetValue must be positive", deref(p.PolicyName))
		}
	}
	for id := range wantMetric {
		if !seen[id] {
			t.Errorf("no scaling policy for %s", id)
		}
	}
}

func containsInOrder(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func readGoDir(tb testing.TB, dir string) string {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
	var sb strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			sb.Write(b)
		}
	}
	if sb.Len() == 0 {
		tb.Fatalf("no Go source in %s", dir)
	}
	return sb.String()
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		tb.Errorf("%q is not a number", s)
	}
	return n
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefInt(p *int32) int32 { return deref(p) }
func derefBool(p *bool) bool  { return deref(p) }
