package devapp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/demologs"
	"github.com/irflow/irflow/internal/devstack"
)

// demoSeed is the demo log feed's seed; the metrics are computed from the same logs.
const demoSeed = 1

// demoOwners map the demo rules (by name; sweep alerts from aggregations
// carry no index) and demo log indices to the teams that would answer.
var demoOwners = []config.OwnerRule{
	{Match: config.OwnerMatch{Rule: "waf-*"}, Team: "secops", Channel: "#waf-alerts", Runbook: "https://runbooks.example.com/waf-block-burst"},
	{Match: config.OwnerMatch{Index: "waf-logs-*"}, Team: "secops", Channel: "#waf-alerts", Runbook: "https://runbooks.example.com/waf-block-burst"},
	{Match: config.OwnerMatch{Category: "auth"}, Team: "identity", Runbook: "https://runbooks.example.com/login-abuse"},
	{Match: config.OwnerMatch{Rule: "fe-*"}, Team: "web-frontend", Runbook: "https://runbooks.example.com/frontend-errors"},
	{Match: config.OwnerMatch{Index: "us-fe-*"}, Team: "web-frontend", Runbook: "https://runbooks.example.com/frontend-errors"},
	{Match: config.OwnerMatch{Rule: "be-*"}, Team: "backend", Runbook: "https://runbooks.example.com/backend-5xx"},
	{Match: config.OwnerMatch{Index: "uc-be-*"}, Team: "backend", Runbook: "https://runbooks.example.com/backend-5xx"},
}

// startContext gives a newcomer context without an AWS account: a demo
// GeoIP database and threat list under <home>/context (the demo attackers
// are on it), and a moto server holding the CloudWatch metrics the demo logs
// imply. What the config already sets is left alone. It returns what to
// print in the banner.
func (m *Main) startContext(ctx context.Context, cfg *config.Config) (enrichLine, cloudwatchLine string, err error) {
	enrichLine = "from config"
	if cfg.Enrich.GeoIPDB == "" && len(cfg.Enrich.ThreatIntel) == 0 {
		dir := filepath.Join(m.Home, "context")
		db, list := filepath.Join(dir, "demo-geoip.mmdb"), filepath.Join(dir, "demo-threat-intel.csv")
		if err := demologs.WriteGeoIP(db, demologs.DemoGeoIP()); err != nil {
			return "", "", err
		}
		if err := demologs.WriteThreatIntel(list); err != nil {
			return "", "", err
		}
		cfg.Enrich.GeoIPDB, cfg.Enrich.ThreatIntel = db, []string{list}
		if len(cfg.Enrich.Owners) == 0 {
			cfg.Enrich.Owners = demoOwners
		}
		enrichLine = "demo GeoIP + threat list in " + dir
	}
	if cfg.CloudWatch.Enabled {
		return enrichLine, "from config", nil
	}
	bin, err := devstack.FindMoto()
	if err != nil {
		return enrichLine, fmt.Sprintf("off (%v)", err), nil
	}
	moto, err := devstack.StartMoto(ctx, bin, 0, nil)
	if err != nil {
		return enrichLine, fmt.Sprintf("off (moto: %v)", err), nil
	}
	m.onClose(func() { _ = moto.Stop() })
	// moto takes any credentials; the SDK wants some.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "irflow-dev", "AWS_SECRET_ACCESS_KEY": "irflow-dev"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	cfg.CloudWatch = config.CloudWatch{Enabled: true, Region: demologs.DemoRegion, Endpoint: moto.URL, Metrics: demologs.DemoMetricRules()}
	cfg.CloudWatch.SetDefaults()
	cw := &activities.CloudWatch{AWS: aws.Config{Region: demologs.DemoRegion, Credentials: credentials.NewStaticCredentialsProvider("irflow-dev", "irflow-dev", "")}, Section: cfg.CloudWatch}
	pub := &metricsPublisher{cw: cw.Client(""), log: m.Logger}
	if err := pub.publish(ctx, time.Now().Add(-time.Duration(cfg.CloudWatch.Baseline+cfg.CloudWatch.Window)-5*time.Minute), time.Now()); err != nil {
		return enrichLine, fmt.Sprintf("off (publishing demo metrics: %v)", err), nil
	}
	go pub.run(ctx)
	return enrichLine, "moto at " + moto.URL + " with demo WAF and ALB metrics", nil
}

// metricsPublisher puts the demo logs' metrics into CloudWatch (moto) as the
// minutes pass, so alerts raised from the demo logs have metrics to correlate.
type metricsPublisher struct {
	cw  *cloudwatch.Client
	log interface {
		Error(msg string, args ...any)
	}
}

func (p *metricsPublisher) run(ctx context.Context) {
	last := time.Now().UTC().Truncate(time.Minute)
	for {
		next := last.Add(time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next.Add(2 * time.Second))):
		}
		if err := p.publish(ctx, last, next); err != nil && !errors.Is(err, context.Canceled) {
			p.log.Error("demo metrics not published", "error", err)
			continue
		}
		last = next
	}
}

// publish puts the metrics of the minutes in [from, to).
func (p *metricsPublisher) publish(ctx context.Context, from, to time.Time) error {
	byNS := map[string][]cwtypes.MetricDatum{}
	for _, pt := range demologs.Metrics(demoSeed, from, to, demologs.Options{}) {
		var dims []cwtypes.Dimension
		for _, k := range slices.Sorted(maps.Keys(pt.Dimensions)) { // as queried: emulators compare in order
			dims = append(dims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(pt.Dimensions[k])})
		}
		byNS[pt.Namespace] = append(byNS[pt.Namespace], cwtypes.MetricDatum{
			MetricName: aws.String(pt.Metric), Dimensions: dims, Timestamp: aws.Time(pt.Time),
			Value: aws.Float64(pt.Value), Unit: cwtypes.StandardUnit(pt.Unit),
		})
	}
	for ns, data := range byNS {
		for i := 0; i < len(data); i += 500 {
			_, err := p.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns), MetricData: data[i:min(i+500, len(data))]})
			if err != nil {
				return fmt.Errorf("put %s metrics: %w", ns, err)
			}
		}
	}
	return nil
}
