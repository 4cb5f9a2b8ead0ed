package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The browser starts with ChromiumFlags, loads a page and runs its script.
func TestChromiumRunsAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="p">before</p><script>document.getElementById("p").textContent = "after"</script>`)
	}))
	defer srv.Close()
	ctx := Chromium(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#p")))
	if err != nil || text != "after" {
		t.Fatalf("#p = %q, %v; want the script's text", text, err)
	}
}

// The CDP driver is for tests and bench: the production binaries link none of it.
func TestBinariesLinkNoBrowserDriver(t *testing.T) {
	for _, main := range []string{"workers", "starter", "lambdas/logtransform"} {
		out, err := exec.Command("go", "list", "-deps", Module+main).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", main, err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if strings.HasPrefix(pkg, "github.com/chromedp/") {
				t.Errorf("%s links %s", main, pkg)
			}
		}
	}
}
