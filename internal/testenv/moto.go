package testenv

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/irflow/irflow/internal/devstack"
)

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
)

// Moto is the shared moto server (real AWS API emulation) from the project's
// .venv, started once per test binary. It returns the endpoint URL.
func Moto(tb testing.TB) string {
	tb.Helper()
	bin, err := devstack.FindMoto()
	if err != nil {
		Missing(tb, "%v", err)
	}
	motoOnce.Do(func() {
		var m *devstack.Moto
		m, motoErr = devstack.StartMoto(context.Background(), bin, 0, nil)
		if motoErr == nil {
			motoURL = m.URL
			atExit(func() { _ = m.Stop() })
		}
	})
	if motoErr != nil {
		tb.Fatalf("start moto server: %v", motoErr)
	}
	return motoURL
}

// AWSConfig is an aws-sdk-go-v2 config pointed at endpoint with test credentials.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}
