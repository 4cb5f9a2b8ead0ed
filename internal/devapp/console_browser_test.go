package devapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	irslack "github.com/irflow/irflow/activities/slack"
	"github.com/irflow/irflow/internal/config"
	"github.com/irflow/irflow/internal/devstack"
	"github.com/irflow/irflow/internal/testenv"
)

// The incident console in a real browser, on the real `starter dev`
// (Temporal, worker, ingress; no OpenSearch: one alert through the ingress
// with the dev token raises the incident, where the demo logs would take a
// minute), with the worker's Slack notifier pointed at the Slack fake. Sign
// in with the password the banner prints, see the incident arrive in the
// list while the page is open, open it, press Acknowledge: the page shows
// acknowledged with the actor in the timeline, and Slack's message is
// edited. Screenshots of each page go to test-output/console/ at the repo root.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server and a browser")
	}
	if _, err := devstack.FindTemporal(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	browser := testenv.Chromium(t) // before dev: a missing browser fails or skips at once

	fake := testenv.NewSlack(t)
	for _, ch := range []string{"#alerts", "#incident-escalations", "#waf-alerts", "#5xx-error-logs", "#4xx-error-logs"} {
		fake.AddChannel(ch)
	}
	t.Setenv(config.EnvSlackToken, "xoxb-console-browser-test")
	t.Setenv(config.EnvSlackAPIURL, fake.URL())
	t.Setenv(config.EnvSlackSigningSecret, "console-browser-test-signing-secret")

	out := &testenv.Buffer{}
	m := newMain(t, t.TempDir(), out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	defer m.Close()
	consoleURL, password := consoleFromBanner(t, out.String())
	base := strings.TrimSuffix(consoleURL, "/ui/")
	shots := screenshotDir(t)

	bctx, bcancel := context.WithTimeout(browser, 90*time.Second)
	defer bcancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// One incident before anyone signs in, so the overview (read when the
	// list first opens, then kept a minute) has one to draw.
	sendAlert(t, base, m.Home, "api latency above SLO", "critical", "latency", "api")

	do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	do("open the login page", chromedp.Navigate(base+"/ui/login"))
	waitJS(t, bctx, "the login form", `!!document.querySelector('form#login input#password[type=password]') && !!document.getElementById('login-submit')`)
	shot("login.png")
	do("sign in", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.Click(chromedp.ID("login-submit")))
	waitJS(t, bctx, "the incidents list after sign-in", `location.pathname === '/ui/' && !!document.getElementById('incidents') && !!document.getElementById('severity-counts')`)

	// The alert arrives while the list is open: the row appears by polling.
	id := sendAlert(t, base, m.Home, "checkout 5xx burst", "high", "5xx", "checkout")
	row := fmt.Sprintf(`tr[data-incident-id=%q]`, id)
	waitJS(t, bctx, "the new incident's row in the open list", fmt.Sprintf(`!!document.querySelector('%s a.incident-link') && !!document.querySelector('%s .status')`, row, row))
	shot("list.png")
	do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	shot("list-phone.png")
	do("desktop viewport", chromedp.EmulateViewport(1280, 900))

	// The incident's Slack message, before anyone acts on it.
	var ts string
	testenv.Eventually(t, 30*time.Second, "the incident's Slack message", func() bool {
		ts = slackMessageTS(t, fake, id)
		return ts != ""
	})

	do("open the incident", chromedp.Click(chromedp.CSS(row+" a.incident-link")))
	waitJS(t, bctx, "the incident page", fmt.Sprintf(`location.pathname === '/ui/incidents/%s' && !!document.getElementById('timeline') && !!document.getElementById('acknowledge')`, id))
	if st := text(t, bctx, "#status"); st != "open" {
		t.Fatalf("#status = %q before acknowledging, want open", st)
	}
	shot("incident.png")

	do("press Acknowledge", chromedp.Click(chromedp.ID("acknowledge")))
	waitJS(t, bctx, "the flash after acknowledging", `!!document.getElementById('flash')`)
	waitJS(t, bctx, "#status acknowledged", `(document.getElementById('status')||{}).textContent.trim() === 'acknowledged'`)
	// The alert's source is "browser-test": "console" in an entry is the actor.
	waitJS(t, bctx, "a timeline entry naming the actor (console) and the acknowledgement",
		`[...document.querySelectorAll('#timeline li')].some(li => /\bconsole\b/.test(li.textContent) && /acknowledged/.test(li.textContent))`)
	shot("incident-acknowledged.png")
	testenv.Eventually(t, 30*time.Second, "Slack's message edited to say who acknowledged", func() bool {
		for _, c := range updatesOf(fake, ts) {
			if strings.Contains(c.Text+string(c.Blocks), "Acknowledged by") {
				return true
			}
		}
		return false
	})

	do("open the overview", chromedp.Navigate(base+"/ui/overview"))
	waitJS(t, bctx, "the overview's charts", `!!document.querySelector('#overview svg')`)
	shot("overview.png")
	t.Logf("screenshots in %s", shots)
}

// consoleFromBanner reads the console's URL and password from dev's
// banner: "incident console  http://.../ui/" and "console password  ...".
func consoleFromBanner(t *testing.T, banner string) (consoleURL, password string) {
	t.Helper()
	for _, line := range strings.Split(banner, "\n") {
		switch f := strings.Fields(line); {
		case len(f) == 3 && f[0] == "incident" && f[1] == "console":
			consoleURL = f[2]
		case len(f) == 3 && f[0] == "console" && f[1] == "password":
			password = f[2]
		}
	}
	if !strings.HasSuffix(consoleURL, "/ui/") || password == "" {
		t.Fatalf("the banner lacks the console URL or password:\n%s", banner)
	}
	return consoleURL, password
}

// sendAlert posts one alert through the ingress with dev's token and
// returns its incident's ID.
func sendAlert(t *testing.T, base, home, rule, severity, category, service string) string {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(home, "ingress-token"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"source": "browser-test", "rule": rule, "env": "prod", "service": service,
		"category": category, "severity": severity, "title": rule,
		"query_key": map[string]string{"run": fmt.Sprint(time.Now().UnixNano())},
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		IncidentID string `json:"incident_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusAccepted || res.IncidentID == "" {
		t.Fatalf("POST /v1/alerts = %d, %v, incident %q", resp.StatusCode, err, res.IncidentID)
	}
	return res.IncidentID
}

// slackMessageTS is the ts of the incident's top-level message in the fake.
func slackMessageTS(t *testing.T, fake *testenv.Slack, id string) string {
	for _, c := range fake.OKCalls("chat.postMessage") {
		if c.ThreadTS != "" || len(c.Metadata) == 0 {
			continue
		}
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal(c.Metadata, &md); err != nil {
			t.Fatalf("post without readable metadata %q: %v", c.Metadata, err)
		}
		if md.EventType == irslack.MetadataEventType && md.EventPayload["incident_id"] == id {
			return c.TS
		}
	}
	return ""
}

func updatesOf(fake *testenv.Slack, ts string) []testenv.SlackCall {
	var out []testenv.SlackCall
	for _, c := range fake.OKCalls("chat.update") {
		if c.TS == ts {
			out = append(out, c)
		}
	}
	return out
}

// waitJS waits until expr is true in the page. It asks again after a
// navigation or an htmx swap, so it serves across page loads and polling.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+expr+`) } catch (e) { return false } })()`))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			html, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.documentElement.outerHTML`))
			cancel()
			t.Fatalf("waiting for %s: %v (last error %v); page:\n%.4000s", what, ctx.Err(), last, html)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// screenshotDir is test-output/console at the repository root (git-ignored),
// where a reviewer finds the pages as the browser drew them.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "test-output", "console")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}
