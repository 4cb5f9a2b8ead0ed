package workerapp

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/irflow/irflow/activities"
	"github.com/irflow/irflow/activities/enrich"
)

// contextDeps builds what adds context to incidents, from the enrich,
// cloudwatch and lambda sections. A corrupt GeoIP database or threat list
// stops the worker here, naming the file. The threat lists are re-read every
// enrich.reload_interval until ctx ends.
func (m *Main) contextDeps(ctx context.Context) (*enrich.Enricher, *activities.CloudWatch, *activities.LambdaHooks, error) {
	c := m.Config
	e, err := enrich.New(c.Enrich, m.Logger)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.Intel != nil {
		go e.Intel.Watch(ctx, time.Duration(c.Enrich.ReloadInterval))
	}
	var cw *activities.CloudWatch
	if c.CloudWatch.Enabled {
		awsCfg, err := loadAWS(ctx, c.CloudWatch.Region)
		if err != nil {
			e.Close()
			return nil, nil, nil, fmt.Errorf("cloudwatch: load AWS config: %w", err)
		}
		cw = &activities.CloudWatch{AWS: awsCfg, Section: c.CloudWatch}
	}
	var hooks *activities.LambdaHooks
	if len(c.Lambda.Rescan) > 0 {
		awsCfg, err := loadAWS(ctx, c.Lambda.Region)
		if err != nil {
			e.Close()
			return nil, nil, nil, fmt.Errorf("lambda: load AWS config: %w", err)
		}
		hooks = &activities.LambdaHooks{Hooks: c.Lambda.Rescan, Client: lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
			if ep := c.Lambda.Endpoint; ep != "" {
				o.BaseEndpoint = &ep
			}
		})}
	}
	return e, cw, hooks, nil
}

// loadAWS is the usual AWS config (env, profiles, task role), in region when
// a section names one. Archive, pager, CloudWatch and Lambda clients share it.
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}
