package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the browser the browser tests drive, when it is neither
// /usr/bin/chromium nor chromium in PATH.
const EnvChromium = "IRFLOW_CHROMIUM"

// installChromium is what a missing browser's message tells people to do.
const installChromium = "install Debian's chromium package: apt-get install chromium (make test installs it)"

// ChromiumPath finds the browser: $IRFLOW_CHROMIUM, /usr/bin/chromium, or
// chromium in PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w; unset it or %s", EnvChromium, p, err, installChromium)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("chromium not found (%s, /usr/bin/chromium, PATH): %s", EnvChromium, installChromium)
}

// ChromiumFlags are the launch flags that work as root on a machine without
// network: no sandbox (root), no GPU, and none of the background fetches
// (QUIC, component updates, sync) a closed network would only time out.
var ChromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", true),
	chromedp.Flag("no-sandbox", true),
	chromedp.Flag("disable-gpu", true),
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("no-first-run", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
}

// Chromium starts a headless Chromium with a fresh profile for the test and
// returns a context for one tab in it (chromedp.Do/Run take it). The browser
// stops when the test ends; its output is logged if the test failed. A
// missing browser skips the test, or fails it under CI=true (Missing).
func Chromium(tb testing.TB) context.Context {
	tb.Helper()
	path, err := ChromiumPath()
	if err != nil {
		Missing(tb, "%v", err)
	}
	out := &Buffer{}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, ChromiumFlags...)
	opts = append(opts, chromedp.ExecPath(path), chromedp.UserDataDir(tb.TempDir()), chromedp.CombinedOutput(out))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp's own messages go with the browser's output: tb.Logf would
	// panic on one that arrives after the test ended.
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chromedp: "+format+"\n", args...) }
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	// The first action starts the browser: fail here, naming the binary, not
	// in the test's first step.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		tb.Fatalf("start %s: %v\n%s", path, err, out)
	}
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
		if tb.Failed() {
			tb.Logf("%s output:\n%s", path, out)
		}
	})
	return ctx
}
