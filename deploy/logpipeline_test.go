package deploy_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/goccy/go-yaml"

	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/opensearch"
)

const logPipelineFile = "deploy/cloudformation/log-pipeline.yaml"

// logPipelineTypes are the resource types the log pipeline template may
// use, with the attributes Fn::GetAtt may read.
var logPipelineTypes = map[string][]string{
	"AWS::S3::Bucket":                      {"Arn"},
	"AWS::IAM::Role":                       {"Arn"},
	"AWS::Logs::LogGroup":                  {"Arn"},
	"AWS::Logs::LogStream":                 nil,
	"AWS::Logs::SubscriptionFilter":        nil,
	"AWS::Lambda::Function":                {"Arn"},
	"AWS::KinesisFirehose::DeliveryStream": {"Arn"},
}

func mustLogPipeline(tb testing.TB) map[string]any {
	tb.Helper()
	data := MustRead(tb, logPipelineFile)
	if m := regexp.MustCompile(`(?m)^[^#\n]*\s!(Ref|Sub|GetAtt|Join|If|Select|Split|Equals|Not|ImportValue|FindInMap|Base64|GetAZs)\b`).Find(data); m != nil {
		tb.Fatalf("%s: short-form intrinsic in %q; write it long-form", logPipelineFile, m)
	}
	var t map[string]any
	if err := yaml.Unmarshal(data, &t); err != nil {
		tb.Fatalf("%s: %v", logPipelineFile, err)
	}
	return t
}

func TestLogPipelineReferences(t *testing.T) {
	tpl := mustLogPipeline(t)
	resources := tpl["Resources"].(map[string]any)
	params := tpl["Parameters"].(map[string]any)
	conditions, _ := tpl["Conditions"].(map[string]any)
	typeOf := map[string]string{}
	for name, r := range resources {
		rm := r.(map[string]any)
		typ, _ := rm["Type"].(string)
		if _, ok := logPipelineTypes[typ]; !ok {
			t.Errorf("resource %s: type %q is not in the allow-list of real CloudFormation types", name, typ)
		}
		if c, ok := rm["Condition"].(string); ok && conditions[c] == nil {
			t.Errorf("resource %s: condition %q is not defined", name, c)
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
				if len(a) != 2 || !slices.Contains(logPipelineTypes[typeOf[fmt.Sprint(a[0])]], fmt.Sprint(a[1])) {
					t.Errorf("%s: Fn::GetAtt %v: no such resource or attribute", path, arg)
				}
			case "Fn::Sub":
				s, _ := arg.(string)
				for _, v := range subVar.FindAllStringSubmatch(s, -1) {
					res, attr, hasAttr := strings.Cut(v[1], ".")
					if hasAttr && !slices.Contains(logPipelineTypes[typeOf[res]], attr) || !hasAttr && !known(res) {
						t.Errorf("%s: Fn::Sub ${%s} names nothing", path, v[1])
					}
				}
			case "Fn::Not", "Fn::Equals":
			default:
				if strings.HasPrefix(fn, "Fn::") {
					t.Errorf("%s: %s is not checked here; add it first", path, fn)
				}
			}
		}
	})
}

// props decodes a resource's properties (intrinsics resolved to example
// values) strictly into the SDK input type of the API CloudFormation calls.
func props(t *testing.T, tpl map[string]any, name, typ string, v any) map[string]any {
	t.Helper()
	r, ok := tpl["Resources"].(map[string]any)[name].(map[string]any)
	if !ok || r["Type"] != typ {
		t.Fatalf("resource %s of type %s missing", name, typ)
	}
	p := r["Properties"].(map[string]any)
	raw, err := json.Marshal(resolve(p, tpl["Parameters"].(map[string]any)))
	if err != nil {
		t.Fatal(err)
	}
	MustDecodeStrict(t, name, raw, v, sameCase)
	return p
}

func TestLogPipelineDeliveryStream(t *testing.T) {
	tpl := mustLogPipeline(t)
	var in firehose.CreateDeliveryStreamInput
	props(t, tpl, "DeliveryStream", "AWS::KinesisFirehose::DeliveryStream", &in)
	// Re-ingestion (PutRecordBatch) is only allowed on Direct PUT streams.
	if in.DeliveryStreamType != fhtypes.DeliveryStreamTypeDirectPut {
		t.Errorf("DeliveryStreamType = %q, want DirectPut: the transform puts events back with PutRecordBatch", in.DeliveryStreamType)
	}
	os := in.AmazonopensearchserviceDestinationConfiguration
	if os == nil {
		t.Fatal("no AmazonopensearchserviceDestinationConfiguration")
	}
	params := tpl["Parameters"].(map[string]any)
	if deref(os.IndexName) != "ref:IntakeIndex" || get(params, "IntakeIndex", "Default") != opensearch.IntakeIndex {
		t.Errorf("IndexName %s (default %v), want the intake index %s whose pipeline routes documents", deref(os.IndexName), get(params, "IntakeIndex", "Default"), opensearch.IntakeIndex)
	}
	if os.IndexRotationPeriod != fhtypes.AmazonopensearchserviceIndexRotationPeriodNoRotation {
		t.Errorf("IndexRotationPeriod = %q: the transform names the dated index itself", os.IndexRotationPeriod)
	}
	if os.S3BackupMode != fhtypes.AmazonopensearchserviceS3BackupModeFailedDocumentsOnly || os.S3Configuration == nil ||
		deref(os.S3Configuration.BucketARN) != "Fn::GetAtt:[BackupBucket Arn]" {
		t.Errorf("S3 backup = %q to %+v, want failed documents to BackupBucket", os.S3BackupMode, os.S3Configuration)
	}
	pc := os.ProcessingConfiguration
	if pc == nil || !derefBool(pc.Enabled) || len(pc.Processors) != 1 || pc.Processors[0].Type != fhtypes.ProcessorTypeLambda {
		t.Fatalf("processing = %+v, want the Lambda processor", pc)
	}
	p := map[fhtypes.ProcessorParameterName]string{}
	for _, pp := range pc.Processors[0].Parameters {
		p[pp.ParameterName] = deref(pp.ParameterValue)
	}
	if p[fhtypes.ProcessorParameterNameLambdaArn] != "Fn::GetAtt:[TransformFunction Arn]" {
		t.Errorf("LambdaArn = %q", p[fhtypes.ProcessorParameterNameLambdaArn])
	}
	// Firehose takes 0.2-3 MB; the request must stay under Lambda's 6 MB.
	if mb := p[fhtypes.ProcessorParameterNameBufferSizeInMb]; mb == "" || mb > "3" {
		t.Errorf("BufferSizeInMBs = %q, want 0.2-3", mb)
	}
}

func TestLogPipelineTransformFunction(t *testing.T) {
	tpl := mustLogPipeline(t)
	var in lambda.CreateFunctionInput
	props(t, tpl, "TransformFunction", "AWS::Lambda::Function", &in)
	if string(in.Runtime) != "provided.al2023" || deref(in.Handler) != "bootstrap" {
		t.Errorf("runtime %q handler %q, want provided.al2023 with a bootstrap binary", in.Runtime, deref(in.Handler))
	}
	if to := derefInt(in.Timeout); to < 60 || to > 300 {
		t.Errorf("Timeout = %d, want 60-300 s (Firehose waits at most 5 minutes)", to)
	}
	// Every variable is one the Lambda reads, with a valid value.
	vars := in.Environment.Variables
	if vars["IRFLOW_CONFIG"] == "" {
		t.Error("IRFLOW_CONFIG is not set: the Lambda would run without routes")
	}
	for k, v := range vars {
		switch k {
		case "IRFLOW_CONFIG":
		case config.EnvLogsOutput:
			if v != config.LogsOutputOpenSearch {
				t.Errorf("%s = %q with an OpenSearch destination, want %s", k, v, config.LogsOutputOpenSearch)
			}
		case config.EnvGeoIPDB, config.EnvThreatIntel, config.EnvFirehoseEndpoint:
		default:
			t.Errorf("environment variable %s is not one the log transform reads", k)
		}
	}
	if !strings.Contains(string(MustRead(t, "lambdas/logtransform/main.go")), `os.Getenv("IRFLOW_CONFIG")`) {
		t.Error("lambdas/logtransform no longer reads IRFLOW_CONFIG")
	}
}

func TestLogPipelineSubscriptionsAndIAM(t *testing.T) {
	tpl := mustLogPipeline(t)
	for _, name := range []string{"AppSubscription", "FrontendSubscription", "WAFSubscription"} {
		var in cloudwatchlogs.PutSubscriptionFilterInput
		props(t, tpl, name, "AWS::Logs::SubscriptionFilter", &in)
		if deref(in.DestinationArn) != "Fn::GetAtt:[DeliveryStream Arn]" || deref(in.RoleArn) != "Fn::GetAtt:[SubscriptionRole Arn]" || deref(in.FilterPattern) != "" {
			t.Errorf("%s: %+v", name, in)
		}
		// The pipeline's own logs must never feed it (a loop).
		if lg := deref(in.LogGroupName); strings.Contains(lg, "Transform") || strings.Contains(lg, "Delivery") {
			t.Errorf("%s subscribes %s, the pipeline's own log group", name, lg)
		}
	}

	// Each role may do exactly what its part needs.
	grants := func(role, principal string) map[string]string {
		t.Helper()
		r := get(tpl, "Resources", role, "Properties")
		if got := get(r, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"); got != principal {
			t.Errorf("%s is assumable by %v, want %s", role, got, principal)
		}
		out := map[string]string{}
		for _, p := range get(r, "Policies").([]any) {
			for _, s := range get(p, "PolicyDocument", "Statement").([]any) {
				sm := s.(map[string]any)
				action, ok := sm["Action"].(string)
				if !ok || sm["Effect"] != "Allow" {
					t.Errorf("%s: one allowed action per statement, got %v", role, sm)
					continue
				}
				res, _ := json.Marshal(sm["Resource"])
				out[action] = string(res)
			}
		}
		return out
	}
	stream := `{"Fn::Sub":"arn:${AWS::Partition}:firehose:${AWS::Region}:${AWS::AccountId}:deliverystream/${DeliveryStreamName}"}`
	ownLogs := `{"Fn::Sub":"arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${DeliveryStreamName}-transform:*"}`
	for role, want := range map[string]map[string]string{
		"TransformRole": {"firehose:PutRecordBatch": stream, "logs:CreateLogStream": ownLogs, "logs:PutLogEvents": ownLogs},
		"DeliveryRole": {
			"lambda:InvokeFunction":           `{"Fn::GetAtt":["TransformFunction","Arn"]}`,
			"lambda:GetFunctionConfiguration": `{"Fn::GetAtt":["TransformFunction","Arn"]}`,
			"es:DescribeDomain":               `{"Ref":"OpenSearchDomainArn"}`,
			"es:DescribeDomains":              `{"Ref":"OpenSearchDomainArn"}`,
			"es:DescribeDomainConfig":         `{"Ref":"OpenSearchDomainArn"}`,
			"es:ESHttpPost":                   `{"Fn::Sub":"${OpenSearchDomainArn}/*"}`,
			"es:ESHttpPut":                    `{"Fn::Sub":"${OpenSearchDomainArn}/*"}`,
			"es:ESHttpGet":                    `{"Fn::Sub":"${OpenSearchDomainArn}/*"}`,
			"s3:PutObject":                    `{"Fn::Sub":"${BackupBucket.Arn}/*"}`,
			"s3:GetBucketLocation":            `{"Fn::GetAtt":["BackupBucket","Arn"]}`,
			"logs:PutLogEvents":               `{"Fn::GetAtt":["DeliveryLogGroup","Arn"]}`,
		},
		"SubscriptionRole": {"firehose:PutRecord": `{"Fn::GetAtt":["DeliveryStream","Arn"]}`, "firehose:PutRecordBatch": `{"Fn::GetAtt":["DeliveryStream","Arn"]}`},
	} {
		principal := map[string]string{"TransformRole": "lambda.amazonaws.com", "DeliveryRole": "firehose.amazonaws.com", "SubscriptionRole": "logs.amazonaws.com"}[role]
		got := grants(role, principal)
		for action, res := range want {
			if got[action] != res {
				t.Errorf("%s: %s on %s, want %s", role, action, got[action], res)
			}
		}
		for action := range got {
			if _, ok := want[action]; !ok {
				t.Errorf("%s grants %s, which its part does not need", role, action)
			}
		}
	}
	// The stream name the transform may put back into is the stream's.
	if get(tpl, "Resources", "DeliveryStream", "Properties", "DeliveryStreamName", "Ref") != "DeliveryStreamName" {
		t.Error("DeliveryStream is not named by the DeliveryStreamName parameter the transform's grant uses")
	}
}
