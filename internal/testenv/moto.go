package testenv

import (
	"fmt"
	"github.com/irflow/irflow/internal/checkout"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
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
	root, err := checkout.Root()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(root, ".venv", "bin", "moto_server")
	if _, err := os.Stat(bin); err != nil {
		Missing(tb, "moto server not found at %s: run `make venv` (Python 3 with venv)", bin)
	}
	motoOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			motoErr = err
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if motoErr = cmd.Start(); motoErr != nil {
			return
		}
		atExit(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(motoURL + "/moto-api/")
			if err == nil {
				resp.Body.Close()
				return
			}
			if time.Now().After(deadline) {
				motoErr = fmt.Errorf("moto server not answering at %s: %v", motoURL, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
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
