package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"
)

// ClientOptions turns the temporal section into SDK client options: plain for a
// dev server, mTLS or an API key for a cluster or Temporal Cloud.
func (t Temporal) ClientOptions() (client.Options, error) {
	opts := client.Options{HostPort: t.Address, Namespace: t.Namespace, Identity: identity()}
	if t.TLS.Enabled() || t.APIKey != "" {
		tc := &tls.Config{ServerName: t.TLS.ServerName, MinVersion: tls.VersionTLS12}
		if t.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.TLS.CertFile, t.TLS.KeyFile)
			if err != nil {
				return opts, fmt.Errorf("temporal.tls: load client cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if t.TLS.CAFile != "" {
			pem, err := os.ReadFile(t.TLS.CAFile)
			if err != nil {
				return opts, fmt.Errorf("temporal.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opts, fmt.Errorf("temporal.tls.ca_file: no certificates in %s", t.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return opts, nil
}

func identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("irflow@%s/%d", host, os.Getpid())
}
