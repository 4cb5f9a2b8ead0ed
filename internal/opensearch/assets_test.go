package opensearch_test

import (
	"context"
	"encoding/json"
	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/checkout"
	"github.com/irflow/irflow/internal/opensearch"
	"github.com/irflow/irflow/internal/testenv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readAsset(t *testing.T, name string) map[string]any {
	t.Helper()
	root, err := checkout.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, opensearch.AssetsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// dig follows a dotted path through nested objects.
func dig(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestAssetsStructure(t *testing.T) {
	tmpl := readAsset(t, opensearch.IndexTemplateFile)
	if got := stringsOf(tmpl["index_patterns"]); !slices.Equal(got, opensearch.LogIndexPatterns) {
		t.Errorf("template index_patterns = %v, want %v", got, opensearch.LogIndexPatterns)
	}
	settings, _ := dig(tmpl, "template.settings").(map[string]any)
	if got := settings["index.default_pipeline"]; got != opensearch.IngestPipelineName {
		t.Errorf("template index.default_pipeline = %v, want %q", got, opensearch.IngestPipelineName)
	}
	if _, ok := settings["index.number_of_replicas"]; ok {
		t.Errorf("template sets index.number_of_replicas; leave it to the cluster default (0 on the dev node)")
	}
	props := "template.mappings.properties."
	for field, typ := range map[string]string{
		"@timestamp":                           "date",
		"message":                              "text",
		"response_time_ms":                     "long",
		"status":                               "keyword",
		"client_ip":                            "keyword",
		"kubernetes.properties.namespace_name": "keyword",
		"user.properties.name":                 "keyword",
		"geo.properties.country_iso_code":      "keyword",
		"request.properties.path":              "keyword",
		"log.properties.level":                 "keyword",
		"event.properties.ingested":            "date",
		"action":                               "keyword",
		"terminatingRuleId":                    "keyword",
		"httpRequest.properties.clientIp":      "keyword",
		"httpRequest.properties.country":       "keyword",
		"labels.properties.name":               "keyword",
	} {
		if got := dig(tmpl, props+field+".type"); got != typ {
			t.Errorf("template mapping %s type = %v, want %s", field, got, typ)
		}
	}

	policy := readAsset(t, opensearch.ISMPolicyFile)
	if got := dig(policy, "policy.default_state"); got != "hot" {
		t.Errorf("ISM default_state = %v, want hot", got)
	}
	states := map[string]any{}
	for _, s := range dig(policy, "policy.states").([]any) {
		states[dig(s, "name").(string)] = s
	}
	hotTo := dig(states["hot"], "transitions").([]any)
	if len(hotTo) != 1 || dig(hotTo[0], "state_name") != "delete" || dig(hotTo[0], "conditions.min_index_age") != "30d" {
		t.Errorf("ISM hot transitions = %v, want one to delete after min_index_age 30d", hotTo)
	}
	del := dig(states["delete"], "actions").([]any)
	if len(del) != 1 || dig(del[0], "delete") == nil {
		t.Errorf("ISM delete state actions = %v, want [delete]", del)
	}
	ismTmpl := dig(policy, "policy.ism_template").([]any)
	if got := stringsOf(dig(ismTmpl[0], "index_patterns")); !slices.Equal(got, opensearch.LogIndexPatterns) {
		t.Errorf("ISM ism_template patterns = %v, want %v", got, opensearch.LogIndexPatterns)
	}

	pipe := readAsset(t, opensearch.IngestPipelineFile)
	var sets []string
	for _, p := range pipe["processors"].([]any) {
		for kind, cfg := range p.(map[string]any) {
			if kind == "geoip" {
				t.Errorf("pipeline has a geoip processor; it must run without the GeoIP database")
			}
			if kind == "set" {
				sets = append(sets, dig(cfg, "field").(string))
			}
		}
	}
	if !slices.Contains(sets, "event.ingested") {
		t.Errorf("pipeline sets %v, want event.ingested among them", sets)
	}
}

// The assets must install on a real node and shape the documents indexed afterwards.
func TestInstallLogAssetsOnNode(t *testing.T) {
	node := testenv.OpenSearch(t)
	client, err := activities.NewSearchClient(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := opensearch.InstallLogAssets(ctx, client, "", nil); err != nil {
		t.Fatal(err)
	}
	// Twice: dev restarts re-install over existing assets.
	if err := opensearch.InstallLogAssets(ctx, client, "", nil); err != nil {
		t.Fatalf("second install: %v", err)
	}

	const index = "uc-be-assets-test"
	_, _ = client.Indices.Delete([]string{index}, client.Indices.Delete.WithIgnoreUnavailable(true))
	res, err := client.Index(index, strings.NewReader(`{"@timestamp":"2026-01-02T03:04:05Z","status":503,"response_time_ms":"1250","log":{"level":"ERROR"},"client_ip":"203.0.113.9","message":"upstream timeout"}`),
		client.Index.WithRefresh("true"))
	decode(t, res, err, nil)

	var search struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	res, err = client.Search(client.Search.WithIndex(index), client.Search.WithBody(strings.NewReader(
		`{"query":{"bool":{"filter":[{"term":{"status":"503"}},{"range":{"response_time_ms":{"gte":1000}}}]}}}`)))
	decode(t, res, err, &search)
	if len(search.Hits.Hits) != 1 {
		t.Fatalf("hits = %d, want 1 (status as keyword, latency as long)", len(search.Hits.Hits))
	}
	src := search.Hits.Hits[0].Source
	if dig(src, "event.ingested") == nil {
		t.Errorf("event.ingested not set by the default pipeline: %v", src)
	}
	if got := dig(src, "log.level"); got != "error" {
		t.Errorf("log.level = %v, want lowercased by the pipeline", got)
	}

	var mapping map[string]any
	res, err = client.Indices.GetMapping(client.Indices.GetMapping.WithIndex(index))
	decode(t, res, err, &mapping)
	if got := dig(mapping, index+".mappings.properties.response_time_ms.type"); got != "long" {
		t.Errorf("response_time_ms mapped as %v, want long from the template", got)
	}
}
