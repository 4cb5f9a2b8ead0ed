package deploy_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/goccy/go-yaml"
)

const cfnFile = "deploy/cloudformation/irflow.yaml"

// MustCFN parses the template. Short-form tags (!Ref, !Sub) are refused so
// the file stays readable by plain YAML tools.
func MustCFN(tb testing.TB) map[string]any {
	tb.Helper()
	data := MustRead(tb, cfnFile)
	if m := regexp.MustCompile(`(?m)^[^#\n]*\s!(Ref|Sub|GetAtt|Join|If|Select|Split|Equals|ImportValue|FindInMap|Base64|GetAZs)\b`).Find(data); m != nil {
		tb.Fatalf("%s: short-form intrinsic in %q; write it long-form (Ref:, Fn::Sub:)", cfnFile, m)
	}
	var t map[string]any
	if err := yaml.Unmarshal(data, &t); err != nil {
		tb.Fatalf("%s: %v", cfnFile, err)
	}
	for _, k := range []string{"Resources", "Parameters", "Outputs"} {
		if _, ok := t[k].(map[string]any); !ok {
			tb.Fatalf("%s: no %s section", cfnFile, k)
		}
	}
	return t
}

// cfnTypes are the resource types the template may use (all real CFN types;
// a typo such as AWS::SNS::Subscriptions fails here instead of at deploy).
var cfnTypes = map[string][]string{ // type -> attributes Fn::GetAtt may read
	"AWS::S3::Bucket":             {"Arn", "DomainName", "RegionalDomainName"},
	"AWS::S3::BucketPolicy":       nil,
	"AWS::SNS::Topic":             {"TopicArn", "TopicName"},
	"AWS::SNS::Subscription":      nil,
	"AWS::SNS::TopicPolicy":       nil,
	"AWS::CloudWatch::Alarm":      {"Arn"},
	"AWS::Logs::LogGroup":         {"Arn"},
	"AWS::SecretsManager::Secret": {"Id"},
	"AWS::IAM::Role":              {"Arn", "RoleId"},
	"AWS::IAM::ManagedPolicy":     {"PolicyArn"},
}

var pseudoParams = []string{"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix", "AWS::NoValue"}

func TestCloudFormationReferences(t *testing.T) {
	tpl := MustCFN(t)
	resources := tpl["Resources"].(map[string]any)
	params := tpl["Parameters"].(map[string]any)
	typeOf := map[string]string{}
	for name, r := range resources {
		rm, _ := r.(map[string]any)
		typ, _ := rm["Type"].(string)
		if _, ok := cfnTypes[typ]; !ok {
			t.Errorf("resource %s: type %q is not in the allow-list of real CloudFormation types", name, typ)
		}
		if _, ok := rm["Properties"].(map[string]any); !ok {
			t.Errorf("resource %s: no Properties", name)
		}
		typeOf[name] = typ
	}
	known := func(name string) bool {
		_, r := resources[name]
		_, p := params[name]
		return r || p || slices.Contains(pseudoParams, name)
	}
	subVar := regexp.MustCompile(`\$\{([^!}][^}]*)\}`)
	walk(tpl, "", func(path string, m map[string]any) {
		if len(m) != 1 {
			return
		}
		for fn, arg := range m {
			switch fn {
			case "Ref":
				if s, _ := arg.(string); !known(s) {
					t.Errorf("%s: Ref %q names no resource or parameter", path, arg)
				}
			case "Fn::GetAtt":
				a, _ := arg.([]any)
				if len(a) != 2 {
					t.Errorf("%s: Fn::GetAtt wants [Resource, Attribute], got %v", path, arg)
					continue
				}
				res, _ := a[0].(string)
				attr, _ := a[1].(string)
				if typ, ok := typeOf[res]; !ok || !slices.Contains(cfnTypes[typ], attr) {
					t.Errorf("%s: Fn::GetAtt %s.%s: no such resource or attribute", path, res, attr)
				}
			case "Fn::Sub":
				s, ok := arg.(string)
				if !ok {
					t.Errorf("%s: use the string form of Fn::Sub", path)
					continue
				}
				for _, v := range subVar.FindAllStringSubmatch(s, -1) {
					res, attr, hasAttr := strings.Cut(v[1], ".")
					if hasAttr {
						if typ, ok := typeOf[res]; !ok || !slices.Contains(cfnTypes[typ], attr) {
							t.Errorf("%s: Fn::Sub ${%s}: no such resource or attribute", path, v[1])
						}
					} else if !known(res) {
						t.Errorf("%s: Fn::Sub ${%s} names no resource or parameter", path, v[1])
					}
				}
			default:
				if strings.HasPrefix(fn, "Fn::") {
					t.Errorf("%s: %s is not used by this template's checks; add it here first", path, fn)
				}
			}
		}
	})
}

func walk(v any, path string, f func(string, map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(path, x)
		for k, el := range x {
			walk(el, path+"."+k, f)
		}
	case []any:
		for i, el := range x {
			walk(el, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// resolve replaces intrinsics with example values so properties can be
// decoded into SDK types: Ref to a Number parameter yields its default.
func resolve(v any, params map[string]any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" {
					if p, ok := params[fmt.Sprint(arg)].(map[string]any); ok && p["Type"] == "Number" {
						return p["Default"]
					}
					return "ref:" + fmt.Sprint(arg)
				}
				if strings.HasPrefix(fn, "Fn::") {
					return fn + ":" + fmt.Sprint(arg)
				}
			}
		}
		out := map[string]any{}
		for k, el := range x {
			out[k] = resolve(el, params)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = resolve(el, params)
		}
		return out
	}
	return v
}

// wantAlarms: namespace/metric -> dimensions the alarm must set (CloudWatch
// matches dimensions exactly; a missing one makes the alarm watch nothing).
var wantAlarms = map[string][]string{
	"AWS/WAFV2/BlockedRequests":                    {"Region", "Rule", "WebACL"},
	"AWS/WAFV2/CountedRequests":                    {"Region", "Rule", "WebACL"},
	"AWS/ApplicationELB/HTTPCode_Target_5XX_Count": {"LoadBalancer"},
	"AWS/ApplicationELB/UnHealthyHostCount":        {"LoadBalancer", "TargetGroup"},
	"AWS/ApplicationELB/TargetResponseTime":        {"LoadBalancer"},
}

func TestCloudFormationAlarms(t *testing.T) {
	tpl := MustCFN(t)
	resources := tpl["Resources"].(map[string]any)
	params := tpl["Parameters"].(map[string]any)

	// The topic the alarms publish to must deliver to irflow's /sns over HTTPS.
	topic := ""
	for name, r := range resources {
		rm := r.(map[string]any)
		if rm["Type"] != "AWS::SNS::Subscription" {
			continue
		}
		p := rm["Properties"].(map[string]any)
		ep := resolve(p["Endpoint"], params)
		param := strings.TrimPrefix(fmt.Sprint(ep), "ref:")
		pattern, _ := params[param].(map[string]any)["AllowedPattern"].(string)
		if p["Protocol"] != "https" || !strings.HasSuffix(pattern, "/sns$") {
			t.Errorf("subscription %s: want https to a parameter constrained to .../sns, got %v %v (pattern %q)", name, p["Protocol"], ep, pattern)
		}
		if p["RawMessageDelivery"] != false {
			t.Errorf("subscription %s: RawMessageDelivery must be false; irflow verifies the SNS envelope signature", name)
		}
		topic = fmt.Sprint(resolve(p["TopicArn"], params))
	}
	if topic == "" {
		t.Fatal("no SNS subscription for the alarm topic")
	}

	seen := map[string]bool{}
	for name, r := range resources {
		rm := r.(map[string]any)
		if rm["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		props, err := json.Marshal(resolve(rm["Properties"], params))
		if err != nil {
			t.Fatal(err)
		}
		var in cloudwatch.PutMetricAlarmInput
		MustDecodeStrict(t, "alarm "+name, props, &in, sameCase)

		key := deref(in.Namespace) + "/" + deref(in.MetricName)
		wantDims, ok := wantAlarms[key]
		if !ok {
			t.Errorf("alarm %s watches %s, which this test does not know", name, key)
			continue
		}
		seen[key] = true
		var dims []string
		for _, d := range in.Dimensions {
			dims = append(dims, deref(d.Name))
		}
		sort.Strings(dims)
		if !slices.Equal(dims, wantDims) {
			t.Errorf("alarm %s: dimensions %v, want %v", name, dims, wantDims)
		}
		if (in.Statistic == "") == (deref(in.ExtendedStatistic) == "") {
			t.Errorf("alarm %s: set exactly one of Statistic and ExtendedStatistic", name)
		}
		if p := deref(in.Period); p < 60 || p%60 != 0 {
			t.Errorf("alarm %s: Period %d is not a multiple of 60", name, p)
		}
		if in.Threshold == nil || in.ComparisonOperator == "" || deref(in.EvaluationPeriods) < 1 {
			t.Errorf("alarm %s: needs Threshold, ComparisonOperator and EvaluationPeriods", name)
		}
		// OK actions let irflow clear the incident when the alarm recovers.
		if !slices.Contains(in.AlarmActions, topic) || !slices.Contains(in.OKActions, topic) {
			t.Errorf("alarm %s: AlarmActions %v and OKActions %v must both publish to %s", name, in.AlarmActions, in.OKActions, topic)
		}
	}
	for key := range wantAlarms {
		if !seen[key] {
			t.Errorf("no alarm on %s", key)
		}
	}
}

func TestCloudFormationArchiveAndIAM(t *testing.T) {
	tpl := MustCFN(t)
	resources := tpl["Resources"].(map[string]any)
	props := func(name, typ string) map[string]any {
		t.Helper()
		r, ok := resources[name].(map[string]any)
		if !ok || r["Type"] != typ {
			t.Fatalf("resource %s of type %s missing", name, typ)
		}
		return r["Properties"].(map[string]any)
	}

	b := props("ArchiveBucket", "AWS::S3::Bucket")
	if get(b, "VersioningConfiguration", "Status") != "Enabled" {
		t.Error("archive bucket: versioning is not enabled")
	}
	if get(b, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm") == nil {
		t.Error("archive bucket: no default encryption")
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if get(b, "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("archive bucket: %s is not true", k)
		}
	}
	rule, _ := get(b, "LifecycleConfiguration", "Rules", 0).(map[string]any)
	if rule == nil || rule["Status"] != "Enabled" || rule["ExpirationInDays"] == nil || rule["NoncurrentVersionExpiration"] == nil {
		t.Error("archive bucket: want an enabled lifecycle rule expiring current and noncurrent versions")
	}

	// The worker writes s3://bucket/<prefix>/<key> (activities.S3Store joins
	// with "/"), so the grant, the lifecycle rule and ArchiveURL share the prefix.
	url := fmt.Sprint(get(tpl, "Outputs", "ArchiveURL", "Value", "Fn::Sub"))
	if url != "s3://${ArchiveBucket}/${ArchivePrefix}" {
		t.Errorf("ArchiveURL output = %q", url)
	}
	if fmt.Sprint(get(rule, "Prefix", "Fn::Sub")) != "${ArchivePrefix}/" {
		t.Errorf("lifecycle rule prefix = %v, want ${ArchivePrefix}/", rule["Prefix"])
	}

	role := props("TaskRole", "AWS::IAM::Role")
	if get(role, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service") != "ecs-tasks.amazonaws.com" {
		t.Error("task role is not assumable by ECS tasks")
	}
	grants := map[string]string{}
	policies, _ := role["Policies"].([]any)
	for _, p := range policies {
		stmts, _ := get(p, "PolicyDocument", "Statement").([]any)
		for _, s := range stmts {
			sm := s.(map[string]any)
			if sm["Effect"] != "Allow" {
				continue
			}
			actions, ok := sm["Action"].(string)
			if !ok {
				t.Errorf("task role: write one action per statement, got %v", sm["Action"])
				continue
			}
			res, _ := json.Marshal(sm["Resource"])
			grants[actions] = string(res)
		}
	}
	want := map[string]string{
		"s3:PutObject":              `{"Fn::Sub":"${ArchiveBucket.Arn}/${ArchivePrefix}/*"}`,
		"sns:Publish":               `{"Ref":"PagingTopicArns"}`,
		"cloudwatch:GetMetricData":  `"*"`, // GetMetricData has no resource-level permissions
		"cloudwatch:DescribeAlarms": `{"Fn::Sub":"arn:${AWS::Partition}:cloudwatch:*:${AWS::AccountId}:alarm:*"}`,
		// Lambda re-scan hooks: functions named irflow-rescan-* (docs/context.md).
		"lambda:InvokeFunction": `{"Fn::Sub":"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:irflow-rescan-*"}`,
	}
	for action, res := range want {
		if grants[action] != res {
			t.Errorf("task role: %s on %s, want %s", action, grants[action], res)
		}
	}
	for action := range grants {
		if _, ok := want[action]; !ok {
			t.Errorf("task role grants %s, which irflow does not need", action)
		}
	}

	exec := props("ExecutionRole", "AWS::IAM::Role")
	stmt, _ := get(exec, "Policies", 0, "PolicyDocument", "Statement", 0).(map[string]any)
	if stmt["Action"] != "secretsmanager:GetSecretValue" || fmt.Sprint(get(stmt, "Resource", "Ref")) != "Secret" {
		t.Errorf("execution role must read the Secret so ECS can inject it, got %v", stmt)
	}
}

// cfnSecretKeys returns the JSON keys of the template's initial SecretString.
func cfnSecretKeys(tb testing.TB) map[string]bool {
	tb.Helper()
	s, _ := get(MustCFN(tb), "Resources", "Secret", "Properties", "SecretString").(string)
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		tb.Fatalf("Secret.SecretString is not a JSON object of strings: %v", err)
	}
	keys := map[string]bool{}
	for k := range m {
		keys[k] = true
	}
	return keys
}

// get follows map keys and slice indexes; nil when any step is missing.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}
