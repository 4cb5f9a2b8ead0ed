package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve reads the whole config file the way the worker does: its temporal
// section decides where the ingress dials, unless --address is given.
func TestServeDialsTheConfiguredTemporal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := filepath.Join(t.TempDir(), "irflow.yaml")
	body := fmt.Sprintf("temporal:\n  address: %s\n  namespace: secops\ningress:\n  tokens: {ci: token-1}\n", dead)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"serve", "--config", cfg, "--http-addr", "127.0.0.1:0", "--timeout", "1s"}, args...))
		return root.Execute()
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), "cannot reach Temporal at "+dead+" (namespace secops)") {
		t.Fatalf("serve with the file's temporal section: %v, want it to dial %s in namespace secops", err, dead)
	}
	if err := run("--address", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "cannot reach Temporal at 127.0.0.1:1") {
		t.Fatalf("serve --address: %v, want the flag to win over the file", err)
	}
}
