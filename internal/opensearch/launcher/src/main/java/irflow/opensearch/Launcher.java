package irflow.opensearch;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Runs a single-node OpenSearch inside this JVM for irflow's dev mode and tests.
 *
 * <p>Usage: {@code Launcher --home DIR [--http-port N] [--transport-port N] [--host H]
 * [--cluster-name NAME] [--watch-stdin true|false] [--delete-home-on-exit true|false]}. Prints {@code irflow-opensearch started http=HOST:PORT} on stdout
 * once the HTTP layer is bound. Exits when stdin reaches EOF (the parent died or closed the
 * pipe) or on SIGTERM/SIGINT, closing the node first so Lucene files are left consistent.
 */
public final class Launcher {

    /** Node's plugin-taking constructor is protected; a subclass is how embedding is done. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment env, List<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    /** The modules a packaged distribution would load from modules/; here they are on the classpath. */
    static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,
        IngestCommonPlugin.class,
        MustachePlugin.class,
        CommonAnalysisPlugin.class
    );

    static final class Args {
        Path home;
        int httpPort = 9200;
        int transportPort = 0;
        String host = "127.0.0.1";
        String clusterName = "irflow-dev";
        boolean watchStdin = true;
        boolean deleteHomeOnExit = false;

        static Args parse(String[] argv) {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String k = argv[i];
                if (i + 1 >= argv.length) {
                    throw new IllegalArgumentException("flag " + k + " needs a value");
                }
                String v = argv[++i];
                switch (k) {
                    case "--home": a.home = Paths.get(v).toAbsolutePath(); break;
                    case "--http-port": a.httpPort = Integer.parseInt(v); break;
                    case "--transport-port": a.transportPort = Integer.parseInt(v); break;
                    case "--host": a.host = v; break;
                    case "--cluster-name": a.clusterName = v; break;
                    case "--watch-stdin": a.watchStdin = Boolean.parseBoolean(v); break;
                    case "--delete-home-on-exit": a.deleteHomeOnExit = Boolean.parseBoolean(v); break;
                    default: throw new IllegalArgumentException("unknown flag " + k);
                }
            }
            if (a.home == null) {
                throw new IllegalArgumentException("--home is required");
            }
            return a;
        }
    }

    private static final Object lifecycle = new Object();
    private static boolean stopping;  // guarded by lifecycle
    private static Node node;         // guarded by lifecycle
    private static volatile Path home;
    /** Set for throwaway test nodes: the Go test binary exits before the JVM and cannot clean up. */
    private static volatile boolean deleteHomeOnExit;

    public static void main(String[] argv) throws Exception {
        // What the distribution's jvm.options would set; must happen before netty/log4j load.
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        System.setProperty("io.netty.noUnsafe", "true");
        System.setProperty("io.netty.noKeySetOptimization", "true");
        System.setProperty("io.netty.recycler.maxCapacityPerThread", "0");
        System.setProperty("io.netty.allocator.numDirectArenas", "0");
        System.setProperty("opensearch.networkaddress.cache.ttl", "60");

        Args a;
        try {
            a = Args.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("irflow-opensearch: " + e.getMessage());
            System.err.println("usage: Launcher --home DIR [--http-port N] [--transport-port N] [--host H] [--cluster-name NAME] [--watch-stdin true|false] [--delete-home-on-exit true|false]");
            System.exit(2);
            return;
        }

        home = a.home;
        deleteHomeOnExit = a.deleteHomeOnExit;
        Path config = a.home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(a.home.resolve("data"));
        Files.createDirectories(a.home.resolve("logs"));

        Settings settings = Settings.builder()
            .put("path.home", a.home.toString())
            .put("path.data", a.home.resolve("data").toString())
            .put("path.logs", a.home.resolve("logs").toString())
            .put("cluster.name", a.clusterName)
            .put("node.name", "irflow-node-0")
            .put("discovery.type", "single-node")
            .put("network.host", a.host)
            .put("http.port", a.httpPort)
            .put("transport.port", a.transportPort)
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // Dev disks are often >90% full; without this every shard would stay unassigned.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true)
            // Tests create and drop indices freely.
            .put("action.destructive_requires_name", false)
            .build();

        // All cleanup runs in this hook: SIGTERM, stdin EOF (System.exit) and failures all end here.
        Runtime.getRuntime().addShutdownHook(new Thread(Launcher::shutdown, "irflow-shutdown"));
        if (a.watchStdin) {
            watchStdin();
        }

        InetSocketAddress http = null;
        Exception failure = null;
        // Held while the node is built and started, so a shutdown that arrives meanwhile
        // waits and then closes a whole node instead of racing with its construction.
        synchronized (lifecycle) {
            if (stopping) {
                return;
            }
            try {
                Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config, () -> "irflow-node-0");
                node = new EmbeddedNode(env, PLUGINS);
                node.start();
                // One node cannot hold replicas; 0 keeps health green instead of a permanent yellow.
                // Only the persistent cluster setting is read at index creation, not the node setting.
                node.client().admin().cluster().prepareUpdateSettings()
                    .setPersistentSettings(Settings.builder().put("cluster.default_number_of_replicas", 0))
                    .get();
                http = node.injector().getInstance(HttpServerTransport.class)
                    .boundAddress().publishAddress().address();
            } catch (Exception e) {
                failure = e;
            }
        }
        if (failure != null) {
            // The cause on one line first, so the Go side can quote it.
            System.err.println("irflow-opensearch failed: " + failure);
            failure.printStackTrace();
            System.exit(1); // never while holding lifecycle: the hook needs it
            return;
        }
        System.out.println("irflow-opensearch started http=" + http.getHostString() + ":" + http.getPort()
            + " home=" + a.home);
        System.out.flush();
        new CountDownLatch(1).await(); // the node's threads are daemons; park until System.exit
    }

    /** A parent that dies closes our stdin; treat EOF as the order to stop. */
    private static void watchStdin() {
        Thread t = new Thread(() -> {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // Input is ignored; only EOF matters.
                }
            } catch (IOException e) {
                // A broken pipe means the same as EOF.
            }
            System.out.println("irflow-opensearch: stdin closed, stopping");
            System.exit(0);
        }, "irflow-stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    private static void shutdown() {
        synchronized (lifecycle) {
            stopping = true;
            if (node != null) {
                try {
                    node.close();
                    if (!node.awaitClose(10, TimeUnit.SECONDS)) {
                        System.err.println("irflow-opensearch: node did not close within 10s");
                    }
                } catch (Exception e) {
                    System.err.println("irflow-opensearch: close: " + e);
                }
            }
            if (deleteHomeOnExit && home != null) {
                try (Stream<Path> paths = Files.walk(home)) {
                    paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                } catch (IOException e) {
                    System.err.println("irflow-opensearch: delete " + home + ": " + e);
                }
            }
            System.out.println("irflow-opensearch stopped");
            System.out.flush();
        }
    }
}
