package dev.cnn.serve;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.Classifier;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Predictor;
import dev.cnn.data.BadImageException;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.Preprocess;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.UploadedFile;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A model behind HTTP (Javalin on Jetty):
 * <ul>
 *   <li>{@code POST /v1/classify}: an image as the body ({@code image/*} or {@code application/octet-stream}), or
 *   several as {@code multipart/form-data}; answers what {@code cnn classify --format json} prints: an array with
 *   one record per image ({@code path}, {@code predictions} of {@code label} and {@code probability}). A bad single
 *   image is a 4xx JSON error; in a multipart request each bad image gets an error record, as in the CLI.
 *   {@code ?top_k=N} and, for a body, {@code ?name=} (the record's path) are optional.</li>
 *   <li>{@code GET /v1/model}: labels, input, architecture, provenance.</li>
 *   <li>{@code GET /healthz} (the process answers), {@code GET /readyz} (the model is loaded and the server is not
 *   shutting down), {@code GET /metrics} (Prometheus text).</li>
 * </ul>
 * Images are decoded on the request threads in parallel and classified in dynamic batches ({@link Batcher}).
 * {@link #stop} refuses new requests with 503 and lets those in flight finish.
 */
public final class ModelServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ModelServer.class);

    /** A request that fails with {@code status} and a one-line JSON error. */
    static final class HttpError extends RuntimeException {
        final int status;

        HttpError(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    private final Classifier classifier;
    private final ServeOptions opts;
    private final Batcher batcher;
    private final ServerMetrics metrics;
    private final Javalin app;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final String modelJson;
    private volatile boolean draining;

    private ModelServer(Classifier classifier, ServeOptions opts) {
        this.classifier = classifier;
        this.opts = opts;
        this.metrics = new ServerMetrics(() -> batcherWaiting(), inFlight::get);
        this.modelJson = Json.write(modelInfo(classifier.metadata()));
        this.app = Javalin.create(cfg -> {
            cfg.showJavalinBanner = false;
            cfg.startupWatcherEnabled = false;
            cfg.http.maxRequestSize = opts.maxImageBytes();
            QueuedThreadPool pool = new QueuedThreadPool(Math.max(8, opts.threads() + 4), 2);
            pool.setName("cnn-http");
            pool.setDaemon(true);
            cfg.jetty.threadPool = pool;
            // Jetty's graceful stop: with a StatisticsHandler around Javalin's (Javalin attaches inside it), stopping
            // waits up to the grace period for requests still being written, instead of cutting their connections
            cfg.jetty.modifyServer(server -> {
                server.setHandler(new org.eclipse.jetty.server.handler.StatisticsHandler());
                server.setStopTimeout(TimeUnit.SECONDS.toMillis(Math.max(1, opts.graceSeconds())));
            });
            // a part over the image limit, or a request over a batch of them, is refused (413); parts over 1 MB wait
            // in temporary files rather than on the heap
            cfg.jetty.multipartConfig.maxFileSize(opts.maxImageBytes(), io.javalin.config.SizeUnit.BYTES);
            cfg.jetty.multipartConfig.maxTotalRequestSize(opts.maxImageBytes() * opts.maxBatch(),
                    io.javalin.config.SizeUnit.BYTES);
            cfg.jetty.multipartConfig.maxInMemoryFileSize(1, io.javalin.config.SizeUnit.MB);
        });
        app.before(ctx -> {
            ctx.attribute("t0", System.nanoTime());
            inFlight.incrementAndGet();
            ctx.attribute("counted", Boolean.TRUE);
            String path = ctx.path();
            if (path.startsWith("/v1/") || path.equals("/metrics")) {
                if (draining) {
                    throw new HttpError(503, "the server is shutting down");
                }
                checkKey(ctx);
            }
        });
        app.after(ctx -> finish(ctx));
        app.post("/v1/classify", this::classify);
        app.get("/v1/model", ctx -> json(ctx, 200, modelJson));
        app.get("/healthz", ctx -> json(ctx, 200, "{\"status\":\"ok\"}"));
        app.get("/readyz", ctx -> {
            if (draining) {
                json(ctx, 503, "{\"status\":\"shutting down\"}");
            } else {
                json(ctx, 200, "{\"status\":\"ready\"}");
            }
        });
        app.get("/metrics", ctx -> {
            ctx.status(200).contentType(metrics.contentType()).result(metrics.scrape());
        });
        app.exception(HttpError.class, (e, ctx) -> json(ctx, e.status, error(e.getMessage())));
        app.exception(io.javalin.http.HttpResponseException.class, (e, ctx) -> json(ctx, e.getStatus(),
                error(e.getStatus() == 413 ? "request larger than " + opts.maxImageBytes() + " bytes (--max-image-mb)"
                        : e.getMessage())));
        app.exception(Exception.class, (e, ctx) -> {
            LOG.error("{} {}: {}", ctx.method(), ctx.path(), e.toString(), e);
            json(ctx, 500, error("internal error: " + e.getClass().getSimpleName()));
        });
        app.error(404, ctx -> json(ctx, 404, error("no such endpoint: " + ctx.method() + " " + ctx.path()
                + " (POST /v1/classify, GET /v1/model, /healthz, /readyz, /metrics)")));
        app.error(405, ctx -> json(ctx, 405, error(ctx.method() + " is not allowed on " + ctx.path())));
        // last: nothing above can fail and leave its thread running
        this.batcher = new Batcher(classifier, opts.maxBatch(), opts.maxWaitMs(), n -> metrics.batchSize.observe(n));
    }

    /** Starts a server for {@code model}. */
    public static ModelServer start(ModelBundle model, ServeOptions opts) {
        ModelServer s = new ModelServer(new Classifier(model), opts);
        try {
            s.app.start(opts.host(), opts.port());
        } catch (Exception e) { // Javalin (Kotlin) may throw checked exceptions undeclared
            s.batcher.close();
            s.classifier.close();
            throw e instanceof RuntimeException r ? r : new IllegalStateException("cannot start the server on "
                    + opts.host() + ":" + opts.port() + ": " + e, e);
        }
        LOG.info("serving {} ({} classes) on http://{}:{}", model.metadata().architecture(),
                model.metadata().labels().size(), opts.host(), s.port());
        return s;
    }

    /** The port it listens on (the one picked when asked for 0). */
    public int port() {
        return app.port();
    }

    private int batcherWaiting() {
        return batcher == null ? 0 : batcher.waiting();
    }

    private void checkKey(Context ctx) {
        if (opts.apiKey() == null) {
            return;
        }
        String given = ctx.header("X-API-Key");
        String auth = ctx.header("Authorization");
        if (given == null && auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7)) {
            given = auth.substring(7).trim();
        }
        byte[] want = opts.apiKey().getBytes(StandardCharsets.UTF_8);
        if (given == null || !MessageDigest.isEqual(want, given.getBytes(StandardCharsets.UTF_8))) {
            throw new HttpError(401, given == null ? "missing API key: send Authorization: Bearer KEY or X-API-Key"
                    : "wrong API key");
        }
    }

    private void finish(Context ctx) {
        Long t0 = ctx.attribute("t0");
        if (Boolean.TRUE.equals(ctx.attribute("counted"))) {
            ctx.attribute("counted", Boolean.FALSE);
            inFlight.decrementAndGet();
        }
        String endpoint = switch (ctx.path()) {
            case "/v1/classify", "/v1/model", "/healthz", "/readyz", "/metrics" -> ctx.path();
            default -> "other";
        };
        metrics.requests.labelValues(endpoint, Integer.toString(ctx.statusCode())).inc();
        if (t0 != null) {
            metrics.latency.labelValues(endpoint).observe((System.nanoTime() - t0) / 1e9);
        }
    }

    // ------------------------------------------------------------------------------------------------ classify

    private void classify(Context ctx) throws IOException {
        int k = topK(ctx);
        String type = ctx.contentType() == null ? "" : ctx.contentType().toLowerCase(Locale.ROOT);
        if (type.startsWith("multipart/form-data")) {
            classifyMultipart(ctx, k);
            return;
        }
        if (!(type.startsWith("image/") || type.startsWith("application/octet-stream"))) {
            throw new HttpError(415, type.startsWith("application/json")
                    ? "JSON requests (image URLs) are not supported: send the image bytes (Content-Type image/jpeg, "
                    + "image/png, ...) or multipart/form-data"
                    : "unsupported Content-Type '" + type + "': send the image bytes as image/* or "
                    + "application/octet-stream, or several images as multipart/form-data");
        }
        String name = ctx.queryParam("name") == null ? "image" : ctx.queryParam("name");
        byte[] body = readBounded(ctx.bodyInputStream(), name);
        if (body.length == 0) {
            throw new HttpError(400, "empty body: send the image's bytes");
        }
        float[] x;
        try {
            x = decode(body, name);
        } catch (BadImageException e) {
            metrics.images.labelValues("error").inc();
            throw new HttpError(e.reason() == BadImageException.Reason.TOO_LARGE ? 413 : 400, e.getMessage());
        }
        float[] p = await(batcher.submit(x));
        metrics.images.labelValues("ok").inc();
        json(ctx, 200, Json.write(List.of(record(name, p, k).toMap())));
    }

    private void classifyMultipart(Context ctx, int k) throws IOException {
        List<UploadedFile> files;
        try {
            files = ctx.uploadedFiles();
        } catch (IllegalStateException e) { // Jetty: a part or the whole request over its limit
            throw new HttpError(413, "multipart request too large: each image at most " + opts.maxImageBytes()
                    + " bytes (--max-image-mb), at most " + opts.maxBatch() + " such images a request");
        }
        if (files.isEmpty()) {
            throw new HttpError(400, "multipart request without files: send each image as a file part");
        }
        List<String> names = new ArrayList<>();
        List<Object> slots = new ArrayList<>(); // a future's result, or an error record
        for (UploadedFile f : files) {
            String name = f.filename() == null || f.filename().isBlank() ? "image" + names.size() : f.filename();
            names.add(name);
            try (InputStream in = f.content()) {
                byte[] bytes = readBounded(in, name);
                slots.add(batcher.submit(decode(bytes, name)));
            } catch (BadImageException e) {
                metrics.images.labelValues("error").inc();
                slots.add(new Predictor.Prediction(name, List.of(), null, e.getMessage()));
            } catch (HttpError e) {
                metrics.images.labelValues("error").inc();
                slots.add(new Predictor.Prediction(name, List.of(), null, e.getMessage()));
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < slots.size(); i++) {
            if (slots.get(i) instanceof Predictor.Prediction err) {
                out.add(err.toMap());
            } else {
                @SuppressWarnings("unchecked")
                CompletableFuture<float[]> f = (CompletableFuture<float[]>) slots.get(i);
                out.add(record(names.get(i), await(f), k).toMap());
                metrics.images.labelValues("ok").inc();
            }
        }
        json(ctx, 200, Json.write(out));
    }

    /** The image's [C, H, W] values, decoded and preprocessed on this (request) thread. */
    private float[] decode(byte[] bytes, String name) throws BadImageException {
        Preprocess p = classifier.preprocess();
        float[] x = new float[p.channels() * p.height() * p.width()];
        try {
            ImageDecoder.toTensor(ImageDecoder.readResized(bytes, name, opts.maxPixels(), p), p, x, 0);
        } catch (dev.cnn.data.DecodeOutOfMemoryError e) {
            throw new HttpError(503, name + ": not enough memory to decode it now; retry later, or lower "
                    + "--max-megapixels");
        }
        return x;
    }

    /** Reads {@code in} to its end, refusing more than the image limit without reading it all. */
    private byte[] readBounded(InputStream in, String name) throws IOException {
        byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, opts.maxImageBytes() + 1));
        if (b.length > opts.maxImageBytes()) {
            throw new HttpError(413, name + ": larger than " + opts.maxImageBytes() + " bytes (--max-image-mb)");
        }
        return b;
    }

    private Predictor.Prediction record(String name, float[] p, int k) {
        return classifier.prediction(name, p, k);
    }

    private int topK(Context ctx) {
        String s = ctx.queryParam("top_k");
        if (s == null) {
            return Math.min(opts.topK(), classifier.labels().size());
        }
        try {
            int k = Integer.parseInt(s.trim());
            if (k >= 1) {
                return Math.min(k, classifier.labels().size());
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new HttpError(400, "top_k must be a whole number >= 1, got '" + s + "'");
    }

    private static float[] await(CompletableFuture<float[]> f) {
        try {
            return f.get(5, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof java.util.concurrent.RejectedExecutionException) {
                throw new HttpError(503, "the server is shutting down");
            }
            throw new IllegalStateException("forward pass failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpError(503, "interrupted");
        } catch (java.util.concurrent.TimeoutException e) {
            throw new HttpError(503, "timed out waiting for the model");
        }
    }

    private static void json(Context ctx, int status, String body) {
        ctx.status(status).contentType("application/json").result(body);
    }

    private static String error(String message) {
        return Json.write(Map.of("error", message == null ? "error" : message));
    }

    static Map<String, Object> modelInfo(BundleMetadata m) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("architecture", m.architecture());
        out.put("labels", m.labels());
        Preprocess p = m.preprocess();
        out.put("input", Map.of("channels", p.channels(), "height", p.height(), "width", p.width()));
        out.put("preprocess", p.toMap());
        if (m.provenance() != null) {
            out.put("provenance", m.provenance().summary());
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------ stop

    /**
     * Graceful shutdown: from now on {@code /v1/*} answers 503 and {@code /readyz} 503; requests in flight finish
     * (for at most the grace period), then the server, the batcher and the inference thread stop.
     */
    public void stop() {
        draining = true;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(opts.graceSeconds());
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        // Jetty's own graceful wait (responses still being written) gets what is left of the one grace period
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        app.jettyServer().server().setStopTimeout(Math.max(100, left));
        app.stop();
        batcher.close();
        classifier.close();
    }

    @Override
    public void close() {
        stop();
    }
}
