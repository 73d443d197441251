package dev.cnn.cli;

import dev.cnn.core.CnnException;
import dev.cnn.core.ModelBundle;
import dev.cnn.serve.ModelServer;
import dev.cnn.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/** {@code cnn serve}: a model behind HTTP until SIGTERM or Ctrl-C. */
@Command(name = "serve", description = "Serve a model over HTTP: POST /v1/classify, GET /v1/model, /healthz, "
        + "/readyz, /metrics.",
        footer = {"", "Examples:",
                "  cnn serve --model model.zip --port 8080",
                "  curl -s --data-binary @cat.jpg -H 'Content-Type: image/jpeg' 'localhost:8080/v1/classify?top_k=3'",
                "  curl -s -F image=@a.jpg -F image=@b.png localhost:8080/v1/classify",
                "",
                "Answers as 'cnn classify --format json' prints: one record per image. A bad image in a body is a 4xx "
                        + "JSON error; in a multipart request it gets an error record. SIGTERM or Ctrl-C stops "
                        + "gracefully (new requests get 503, those in flight finish) and exits 0."})
final class ServeCommand extends BaseCommand {
    @Option(names = {"-m", "--model"}, defaultValue = "model.zip", description = "Model bundle (default: ${DEFAULT-VALUE}).")
    Path model;
    @Option(names = "--host", defaultValue = ServeOptions.DEFAULT_HOST, description = "Address to bind (default: "
            + "${DEFAULT-VALUE}, this machine only; 0.0.0.0 for every interface).")
    String host;
    @Option(names = "--port", defaultValue = "8080", description = "Default: ${DEFAULT-VALUE}; 0 picks a free port.")
    int port;
    @Option(converter = Ranges.Positive.class, names = "--max-batch", defaultValue = "32",
            description = "Most images in one forward pass (default: ${DEFAULT-VALUE}).")
    int maxBatch;
    @Option(names = "--max-wait-ms", defaultValue = "5", description = "How long a batch waits for more images after "
            + "its first (default: ${DEFAULT-VALUE}).")
    int maxWaitMs;
    @Option(converter = Ranges.Positive.class, names = "--threads", description = "Request threads, which decode "
            + "images in parallel (default: twice the cores, at least 4).")
    Integer threads;
    @Option(names = "--max-image-mb", defaultValue = "20", description = "Largest image accepted, in MB "
            + "(default: ${DEFAULT-VALUE}).")
    double maxImageMb;
    @Option(names = "--max-megapixels", defaultValue = "64", description = "Largest declared width x height, in "
            + "megapixels, refused from the header before decoding (default: ${DEFAULT-VALUE}).")
    double maxMegapixels;
    @Option(converter = Ranges.Positive.class, names = {"-k", "--top-k"}, defaultValue = "5",
            description = "Predictions per image unless a request asks (?top_k=N) (default: ${DEFAULT-VALUE}).")
    int topK;
    @Option(names = "--api-key", description = "Require this key (Authorization: Bearer KEY or X-API-Key: KEY) on "
            + "/v1/* and /metrics. Default: the CNN_API_KEY environment variable, else none (better than this "
            + "option: other users can read a command line).")
    String apiKey;
    @Option(names = "--grace-seconds", defaultValue = "30", description = "How long a shutdown waits for requests in "
            + "flight (default: ${DEFAULT-VALUE}).")
    int graceSeconds;

    /** Whether {@code host:port} can be bound now (a port in use, or not an address of this machine: not). */
    static boolean canListen(String host, int port) {
        try (java.net.ServerSocket s = new java.net.ServerSocket()) {
            s.bind(new java.net.InetSocketAddress(host, port));
            return true;
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        if (port < 0 || port > 65535 || maxWaitMs < 0 || graceSeconds < 0 || !(maxImageMb > 0)
                || !(maxMegapixels > 0)) {
            throw CnnException.usage("--port must be 0-65535; --max-wait-ms and --grace-seconds >= 0; "
                    + "--max-image-mb and --max-megapixels > 0");
        }
        String key = apiKey != null ? apiKey : System.getenv("CNN_API_KEY");
        ServeOptions d = ServeOptions.defaults();
        ServeOptions opts = new ServeOptions(host, port, maxBatch, maxWaitMs, threads == null ? d.threads() : threads,
                (long) (maxImageMb * 1024 * 1024), (long) (maxMegapixels * 1024 * 1024), topK, key, graceSeconds);
        ModelBundle bundle = ModelBundle.load(model, false);
        ModelServer server;
        try {
            server = ModelServer.start(bundle, opts);
        } catch (Exception e) { // Javalin (Kotlin) may throw checked exceptions undeclared
            // Jetty's graceful stop after a failed bind may throw something else than the BindException: ask the port
            if (e instanceof io.javalin.util.JavalinBindException || e.getCause() instanceof java.net.BindException
                    || !canListen(host, port)) {
                throw CnnException.usage("cannot listen on " + host + ":" + port + " (in use, or not an address "
                        + "of this machine): pick another --port, or stop what uses it");
            }
            throw e instanceof RuntimeException r ? r : new IllegalStateException("cannot start the server: " + e, e);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Signals.Handle signals = Signals.onInterrupt(() -> new Thread(() -> {
            err().println("cnn serve: stopping (finishing requests in flight)");
            err().flush();
            try {
                server.stop();
            } finally {
                stopped.countDown();
            }
        }, "cnn-serve-stop").start());
        err().printf("cnn serve: %s (%d classes) on http://%s:%d  (POST /v1/classify; %s; Ctrl-C stops)%n",
                bundle.metadata().architecture(), bundle.metadata().labels().size(), host, server.port(),
                key == null ? "no API key" : "API key required");
        bundle = null; // the server keeps its inference copy; the loaded network need not stay
        err().flush();
        try {
            stopped.await();
        } finally {
            signals.restore();
        }
        err().println("cnn serve: stopped");
        return ExitCodes.OK;
    }
}
