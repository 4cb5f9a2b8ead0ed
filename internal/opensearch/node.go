// Package opensearch starts a real single-node OpenSearch 2.x for dev mode and tests.
//
// The node runs in a child JVM from the jars that `make opensearch-jars` builds
// (internal/opensearch/launcher). The JVM watches its stdin and exits when the pipe
// closes, so a Go parent that dies, even by SIGKILL, never leaves an orphan node.
package opensearch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/irflow/irflow/internal/checkout"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// JarsEnv overrides where the launcher jars are looked for: a directory holding
// irflow-opensearch.jar and lib/.
const JarsEnv = "IRFLOW_OPENSEARCH_JARS"

// LauncherDir is the launcher's Maven project, relative to the module root.
const LauncherDir = "internal/opensearch/launcher"

var (
	// ErrJarsMissing means the launcher has not been built; `make opensearch-jars` fixes it.
	ErrJarsMissing = errors.New("opensearch launcher jars missing")
	// ErrJavaMissing means no java executable was found.
	ErrJavaMissing = errors.New("java not found")
)

// Options configure Start.
type Options struct {
	// Home holds config/, data/ and logs/ of the node; created if absent. Required.
	Home string
	// HTTPPort is the REST port; 0 picks a free one (read it back with URL).
	HTTPPort int
	// TransportPort is the node-to-node port; 0 picks a free one.
	TransportPort int
	// Stdout and Stderr, when set, receive the JVM's output as well as Home/logs/jvm.log.
	Stdout, Stderr io.Writer
	// Java is the java executable; default $JAVA_HOME/bin/java, then java on PATH.
	Java string
	// Heap is the JVM heap size (-Xms and -Xmx); default "512m".
	Heap string
	// JarsDir overrides the jars directory (see JarsEnv).
	JarsDir string
	// StartTimeout bounds the wait for the node to answer; default 120s.
	StartTimeout time.Duration
	// DeleteHomeOnExit makes the JVM delete Home after it stops; for throwaway test nodes.
	DeleteHomeOnExit bool
	// Logger receives start/stop events; default slog.Default().
	Logger *slog.Logger
}

// Node is a running OpenSearch node, or an external cluster (see Attach).
type Node struct {
	url   string
	home  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the JVM has exited
	err   error         // exit status, valid after done
	tail  *lineTail
	log   *slog.Logger

	startup time.Duration

	failMu  sync.Mutex
	failure string // the launcher's own "irflow-opensearch failed: ..." line

	stopOnce sync.Once
	stopErr  error
}

// Attach is a Node for a cluster that is already running at url; Stop leaves it be.
func Attach(url string) *Node { return &Node{url: url} }

// URL is the base URL of the REST API, e.g. http://127.0.0.1:9200.
func (n *Node) URL() string { return n.url }

// StartupTime is how long Start took from exec to a healthy cluster.
func (n *Node) StartupTime() time.Duration { return n.startup }

// Home is the node's home directory; empty for an external cluster.
func (n *Node) Home() string { return n.home }

var startedLine = regexp.MustCompile(`irflow-opensearch started http=(\S+)`)

// Start launches the JVM and returns once the cluster health is yellow or green.
// On failure the error carries the tail of the JVM output.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Home == "" {
		return nil, errors.New("opensearch: Options.Home is required")
	}
	if o.HTTPPort < 0 || o.HTTPPort > 65535 {
		return nil, fmt.Errorf("opensearch: Options.HTTPPort %d out of range", o.HTTPPort)
	}
	if o.Heap == "" {
		o.Heap = "512m"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 120 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPPort != 0 {
		// Fail in milliseconds, not after the JVM has built a whole node: the usual
		// cause is another OpenSearch (or an old dev run) on the same port.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.HTTPPort))
		if err != nil {
			return nil, fmt.Errorf("opensearch: http port %d is in use (another OpenSearch running? set a different port): %w", o.HTTPPort, err)
		}
		l.Close()
	}
	java, err := findJava(o.Java)
	if err != nil {
		return nil, err
	}
	jars, err := FindJars(o.JarsDir)
	if err != nil {
		return nil, err
	}
	home, err := filepath.Abs(o.Home)
	if err != nil {
		return nil, fmt.Errorf("opensearch: home %s: %w", o.Home, err)
	}
	if err := os.MkdirAll(filepath.Join(home, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("opensearch: create home: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(home, "logs", "jvm.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opensearch: open jvm log: %w", err)
	}

	args := []string{
		"-Xms" + o.Heap, "-Xmx" + o.Heap,
		// Dev and test nodes live minutes; C1-only JIT and serial GC reach "started" in
		// about half the time of the defaults on a 2-core machine (7-8 s vs 12-15 s).
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.io.tmpdir=" + filepath.Join(home, "tmp"),
		"-cp", filepath.Join(jars, "irflow-opensearch.jar") + string(os.PathListSeparator) + filepath.Join(jars, "lib", "*"),
		"irflow.opensearch.Launcher",
		"--home", home,
		"--http-port", fmt.Sprint(o.HTTPPort),
		"--transport-port", fmt.Sprint(o.TransportPort),
		"--delete-home-on-exit", fmt.Sprint(o.DeleteHomeOnExit),
	}
	if err := os.MkdirAll(filepath.Join(home, "tmp"), 0o755); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("opensearch: create tmp dir: %w", err)
	}
	cmd := exec.Command(java, args...)
	cmd.Dir = home
	// Own process group, so a Ctrl-C meant for `starter dev` reaches the node only
	// through Stop (which closes it cleanly) rather than killing it mid-write.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("opensearch: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("opensearch: stdout pipe: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("opensearch: stderr pipe: %w", err)
	}

	n := &Node{home: home, cmd: cmd, stdin: stdin, done: make(chan struct{}), tail: newLineTail(30), log: o.Logger}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("opensearch: start %s: %w", java, err)
	}
	o.Logger.Info("opensearch starting", "pid", cmd.Process.Pid, "home", home, "jars", jars)

	started := make(chan string, 1)
	var copies sync.WaitGroup
	copies.Add(2)
	go func() {
		defer copies.Done()
		n.copyLines(stdout, logFile, o.Stdout, started)
	}()
	go func() {
		defer copies.Done()
		n.copyLines(stderr, logFile, o.Stderr, nil)
	}()
	go func() {
		copies.Wait() // Wait must not run before the pipes are drained.
		n.err = cmd.Wait()
		logFile.Close()
		close(n.done)
	}()

	fail := func(err error) (*Node, error) {
		n.kill()
		n.failMu.Lock()
		if n.failure != "" {
			err = fmt.Errorf("%w: %s", err, n.failure)
		}
		n.failMu.Unlock()
		return nil, fmt.Errorf("opensearch: %w\n--- last lines of %s (stack frames omitted) ---\n%s", err, filepath.Join(home, "logs", "jvm.log"), n.tail.String())
	}
	timer := time.NewTimer(o.StartTimeout)
	defer timer.Stop()
	select {
	case addr := <-started:
		n.url = "http://" + addr
	case <-n.done:
		return fail(fmt.Errorf("JVM exited before the node started: %v", n.err))
	case <-timer.C:
		return fail(fmt.Errorf("node did not start within %s", o.StartTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if err := n.waitHealthy(ctx, timer.C); err != nil {
		return fail(err)
	}
	n.startup = time.Since(began)
	o.Logger.Info("opensearch started", "url", n.url, "took", n.startup.Round(time.Millisecond))
	return n, nil
}

// waitHealthy polls cluster health until yellow or green.
func (n *Node) waitHealthy(ctx context.Context, deadline <-chan time.Time) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/_cluster/health?wait_for_status=yellow&timeout=5s", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("cluster health: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		last = err
		select {
		case <-n.done:
			return fmt.Errorf("JVM exited while waiting for cluster health: %v", n.err)
		case <-deadline:
			return fmt.Errorf("cluster not healthy in time: %w", last)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop closes the node gracefully (by closing the JVM's stdin) and kills it if it
// has not exited within 30 s. Safe to call more than once.
func (n *Node) Stop() error {
	if n.cmd == nil {
		return nil // external cluster
	}
	n.stopOnce.Do(func() {
		n.stdin.Close()
		select {
		case <-n.done:
		case <-time.After(30 * time.Second):
			n.log.Warn("opensearch did not stop in 30s; killing", "pid", n.cmd.Process.Pid)
			n.kill()
		}
		var exit *exec.ExitError
		if n.err != nil && !errors.As(n.err, &exit) {
			n.stopErr = fmt.Errorf("opensearch: stop: %w", n.err)
		}
		n.log.Info("opensearch stopped", "url", n.url)
	})
	return n.stopErr
}

// Done is closed when the JVM has exited (never, for an external cluster).
func (n *Node) Done() <-chan struct{} { return n.done }

func (n *Node) kill() {
	_ = n.stdin.Close()
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
}

// copyLines copies JVM output to the log file and w, keeps the tail for errors,
// and reports the address from the launcher's "started" line.
func (n *Node) copyLines(r io.Reader, log io.Writer, w io.Writer, started chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "irflow-opensearch failed: ") {
			n.failMu.Lock()
			n.failure = strings.TrimPrefix(line, "irflow-opensearch failed: ")
			n.failMu.Unlock()
		}
		if t := strings.TrimSpace(line); !strings.HasPrefix(t, "at ") && !strings.HasPrefix(t, "... ") {
			n.tail.add(line)
		}
		fmt.Fprintln(log, line)
		if w != nil {
			fmt.Fprintln(w, line)
		}
		if started != nil {
			if m := startedLine.FindStringSubmatch(line); m != nil {
				select {
				case started <- m[1]:
				default:
				}
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// FindJars returns the directory holding irflow-opensearch.jar and lib/: dir if
// set, else $IRFLOW_OPENSEARCH_JARS, else the launcher's target/ under the module root.
func FindJars(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(JarsEnv)
	}
	if dir == "" {
		root, err := checkout.Root()
		if err != nil {
			return "", fmt.Errorf("%w: %v; build them with `make opensearch-jars` or set %s", ErrJarsMissing, err, JarsEnv)
		}
		dir = filepath.Join(root, LauncherDir, "target")
	}
	jar := filepath.Join(dir, "irflow-opensearch.jar")
	if _, err := os.Stat(jar); err != nil {
		return "", fmt.Errorf("%w: no %s; build them with `make opensearch-jars` (needs Maven and JDK 17+)", ErrJarsMissing, jar)
	}
	libs, _ := filepath.Glob(filepath.Join(dir, "lib", "opensearch-2*.jar"))
	if len(libs) == 0 {
		return "", fmt.Errorf("%w: no OpenSearch jars in %s; run `make opensearch-jars`", ErrJarsMissing, filepath.Join(dir, "lib"))
	}
	return dir, nil
}

func findJava(java string) (string, error) {
	if java != "" {
		p, err := exec.LookPath(java)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrJavaMissing, java, err)
		}
		return p, nil
	}
	if jh := os.Getenv("JAVA_HOME"); jh != "" {
		p := filepath.Join(jh, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w on PATH: install a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME", ErrJavaMissing)
	}
	return p, nil
}

// lineTail keeps the last lines of output for error messages.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func newLineTail(max int) *lineTail { return &lineTail{max: max} }

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.max {
		t.lines = append(t.lines[:0], t.lines[1:]...)
	}
	t.lines = append(t.lines, line)
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
