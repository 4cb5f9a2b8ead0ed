package opensearch

import (
	"bytes"
	"context"
	"fmt"
	"github.com/irflow/irflow/internal/checkout"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
)

// The log assets in deploy/opensearch and the names they are installed under.
const (
	AssetsDir = "deploy/opensearch" // relative to the module root

	IndexTemplateFile  = "index-template.json"
	ISMPolicyFile      = "ism-policy.json"
	IngestPipelineFile = "ingest-pipeline.json"

	IndexTemplateName  = "irflow-logs"
	ISMPolicyName      = "irflow-logs-30d"
	IngestPipelineName = "irflow-logs" // referenced by the template's index.default_pipeline

	// The log pipeline's intake: Firehose writes to IntakeIndex, whose
	// pipeline routes each document to the index the transform named.
	IntakeTemplateFile = "intake-template.json"
	IntakePipelineFile = "intake-pipeline.json"
	IntakeTemplateName = "irflow-logs-intake"
	IntakePipelineName = "irflow-logs-intake"
	IntakeIndex        = "irflow-logs-intake"
)

// LogIndexPatterns are the indices the template, policy and demo data cover.
var LogIndexPatterns = []string{"uc-be-*", "us-fe-*", "waf-logs-*"}

// InstallLogAssets installs the ingest pipeline, then the index template (which names
// the pipeline), then the log pipeline's intake pipeline and template, then the ISM policy if the cluster has the ISM plugin (the embedded
// node does not; Amazon OpenSearch Service does). An existing ISM policy is left as
// is. dir defaults to deploy/opensearch under the module root.
func InstallLogAssets(ctx context.Context, c *opensearchgo.Client, dir string, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if dir == "" {
		root, err := checkout.Root()
		if err != nil {
			return fmt.Errorf("find %s: %w", AssetsDir, err)
		}
		dir = filepath.Join(root, AssetsDir)
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read opensearch asset: %w", err)
		}
		return b, nil
	}

	pipeline, err := read(IngestPipelineFile)
	if err != nil {
		return err
	}
	if _, err := do(ctx, c, http.MethodPut, "/_ingest/pipeline/"+IngestPipelineName, pipeline); err != nil {
		return fmt.Errorf("put ingest pipeline %s: %w", IngestPipelineName, err)
	}
	template, err := read(IndexTemplateFile)
	if err != nil {
		return err
	}
	if _, err := do(ctx, c, http.MethodPut, "/_index_template/"+IndexTemplateName, template); err != nil {
		return fmt.Errorf("put index template %s: %w", IndexTemplateName, err)
	}
	for _, a := range []struct{ file, path string }{
		{IntakePipelineFile, "/_ingest/pipeline/" + IntakePipelineName},
		{IntakeTemplateFile, "/_index_template/" + IntakeTemplateName},
	} {
		body, err := read(a.file)
		if err != nil {
			return err
		}
		if _, err := do(ctx, c, http.MethodPut, a.path, body); err != nil {
			return fmt.Errorf("put %s: %w", a.path, err)
		}
	}
	policy, err := read(ISMPolicyFile)
	if err != nil {
		return err
	}
	status, err := do(ctx, c, http.MethodPut, "/_plugins/_ism/policies/"+ISMPolicyName, policy)
	switch {
	case status == http.StatusConflict:
		log.Info("ISM policy already present; left unchanged", "policy", ISMPolicyName)
	case status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		// No ISM plugin: the REST path is unknown. Expected on the embedded dev node.
		log.Info("cluster has no ISM plugin; retention policy not installed", "policy", ISMPolicyName)
	case err != nil:
		return fmt.Errorf("put ISM policy %s: %w", ISMPolicyName, err)
	}
	return nil
}

// do sends one JSON request and returns the status; an error for any non-2xx.
func do(ctx context.Context, c *opensearchgo.Client, method, path string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Perform(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(msg))
	}
	return res.StatusCode, nil
}
