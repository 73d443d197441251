package dev.cnn.transfer;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLConnection;
import java.net.UnknownHostException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Downloads and caches pretrained weights files: torchvision's {@code .pth} files for the zoo's networks (see
 * {@link dev.cnn.transfer.weights.Pretrained}), and DL4J's own converted Keras networks ({@code vgg16:dl4j},
 * {@code resnet50:dl4j}: {@code .zip}s loadable with {@link #load(Path)}, graphs other than the zoo's).
 *
 * <p>Where from: {@code <base URL><file name>}; the base URL is the system property {@value #URL_PROPERTY}, else
 * the environment variable {@value #URL_ENV}, else {@value #DEFAULT_BASE_URL} (where DL4J 1.0.0-M2.1's zoo fetches
 * its models: {@code DL4JResources} base {@code https://dl4jdata.blob.core.windows.net/} + {@code models/...}).
 * Where to: the directory in system property {@value #CACHE_PROPERTY}, else {@value #CACHE_ENV}, else
 * {@code ~/.cnn/weights}.
 *
 * <p>A file is downloaded to a temporary file in the cache directory, its checksum verified, then atomically renamed
 * into place, so the cache never holds a partial or corrupt file under the final name. A cached file is verified
 * again on use and fetched anew if it does not match. Transient failures (connection refused or reset, timeouts,
 * truncated transfers, HTTP 5xx/408/429) are retried with exponential back-off; HTTP 4xx, unknown hosts and
 * checksum mismatches fail at once. Time is bounded: a silent server costs the read timeout (60 s) per attempt, so at
 * most about 4.5 minutes over the 4 attempts, and the whole download, attempts and waits together, stops after
 * {@value #TIMEOUT_MIN_ENV} minutes (default 60), which also ends a server trickling bytes forever; no byte for 3 s
 * is reported to the {@link Progress} as a stall. Failures are {@link WeightsDownloadException}s whose one-line message names the
 * URL and says to use {@code --weights FILE} offline.
 *
 * <p>Instances are immutable; the {@code with...} methods return changed copies.
 */
public final class PretrainedWeights {
    private static final Logger log = LoggerFactory.getLogger(PretrainedWeights.class);

    public static final String URL_PROPERTY = "cnn.weights.url";
    public static final String URL_ENV = "CNN_WEIGHTS_URL";
    public static final String CACHE_PROPERTY = "cnn.cache.dir";
    public static final String CACHE_ENV = "CNN_CACHE_DIR";
    public static final String DEFAULT_BASE_URL = "https://dl4jdata.blob.core.windows.net/models/";

    /** Called as bytes arrive; {@code total} is -1 when the server does not say. */
    @FunctionalInterface
    public interface Progress {
        void update(long done, long total);

        /** No byte has arrived for {@code seconds} (called about once a second while that lasts). */
        default void stalled(long done, long total, long seconds) {
        }

        Progress NONE = (d, t) -> {
        };
    }

    /**
     * What a pretrained network expects as input, as plain fields.
     *
     * @param height       input height in pixels
     * @param width        input width in pixels
     * @param channels     input channels
     * @param channelOrder colour order of the channels, e.g. {@code BGR}
     * @param mean         per-channel value subtracted, in {@code channelOrder} order (pixel scale 0..255)
     * @param scale        multiplier applied after mean subtraction (1 = raw 0..255 values minus mean)
     * @param layout       array layout, {@code NCHW} or {@code NHWC}
     */
    public record Preprocessing(int height, int width, int channels, String channelOrder, List<Double> mean,
                                double scale, String layout) {
        public Preprocessing {
            mean = List.copyOf(mean);
        }

        /** Caffe/VGG style (Keras {@code preprocess_input} "caffe" mode), as DL4J's VGG16ImagePreProcessor. */
        public static Preprocessing vgg(int size) {
            return new Preprocessing(size, size, 3, "BGR", List.of(103.939, 116.779, 123.68), 1.0, "NCHW");
        }
    }

    /**
     * A known pretrained file.
     *
     * @param name          registry name, {@code model:dataset}
     * @param fileName      file name under the base URL and in the cache
     * @param checksum      expected checksum
     * @param preprocessing the input the network expects
     * @param numClasses    classes of its original classifier
     * @param description   one line for listings
     */
    public record Entry(String name, String fileName, WeightsChecksum checksum, Preprocessing preprocessing,
                        int numClasses, String description) {
    }

    private static final Map<String, Entry> REGISTRY = new LinkedHashMap<>();

    static {
        // File names and Adler-32 values as in DL4J 1.0.0-M2.1's zoo (VGG16.java / ResNet50.java pretrainedUrl and
        // pretrainedChecksum for PretrainedType.IMAGENET). Both were converted from Keras applications, whose
        // "caffe" preprocessing is BGR with the ImageNet mean subtracted, no scaling.
        register(new Entry("vgg16:dl4j", "vgg16_dl4j_inference.zip", WeightsChecksum.adler32(3501732770L),
                Preprocessing.vgg(224), 1000, "VGG-16, ImageNet (from Keras), ~530 MB"));
        register(new Entry("resnet50:dl4j", "resnet50_dl4j_inference.v3.zip",
                WeightsChecksum.adler32(3914447815L), Preprocessing.vgg(224), 1000,
                "ResNet-50, ImageNet (from Keras), ~100 MB"));
    }

    private static void register(Entry e) {
        REGISTRY.put(e.name(), e);
    }

    /** The known pretrained entries, by name. */
    public static Map<String, Entry> registry() {
        return java.util.Collections.unmodifiableMap(REGISTRY);
    }

    /** A registry entry by its exact name ({@code vgg16:dl4j}), case-insensitive. */
    public static Optional<Entry> find(String name) {
        if (name == null) {
            return Optional.empty();
        }
        return Optional.ofNullable(REGISTRY.get(name.trim().toLowerCase(Locale.ROOT)));
    }

    private final URI baseUrl;
    private final Path cacheDir;
    private final int attempts;
    private final Duration baseDelay;
    private final Duration maxDelay;
    private final Duration connectTimeout;
    private final Duration readTimeout;
    private final Progress progress;
    private final long maxBytes;
    /** The largest download accepted unless {@code CNN_WEIGHTS_MAX_MB} or {@link #withMaxBytes} says otherwise. */
    public static final long DEFAULT_MAX_BYTES = 2048L << 20;
    /** Environment variable: the largest download in MB. */
    public static final String MAX_MB_ENV = "CNN_WEIGHTS_MAX_MB";

    private final Duration deadline;
    /** The longest a download may take, all attempts together, unless {@code CNN_WEIGHTS_TIMEOUT_MIN} says. */
    public static final Duration DEFAULT_DEADLINE = Duration.ofMinutes(60);
    /** Environment variable: the longest a download may take, in minutes. */
    public static final String TIMEOUT_MIN_ENV = "CNN_WEIGHTS_TIMEOUT_MIN";
    /** No byte for this long and the progress line says the download is stalled. */
    static final Duration STALL_NOTICE = Duration.ofSeconds(3);

    private PretrainedWeights(URI baseUrl, Path cacheDir, int attempts, Duration baseDelay, Duration maxDelay,
                              Duration connectTimeout, Duration readTimeout, Progress progress, long maxBytes,
                              Duration deadline) {
        this.maxBytes = maxBytes;
        this.deadline = deadline;
        this.baseUrl = withSlash(baseUrl);
        this.cacheDir = cacheDir;
        this.attempts = attempts;
        this.baseDelay = baseDelay;
        this.maxDelay = maxDelay;
        this.connectTimeout = connectTimeout;
        this.readTimeout = readTimeout;
        this.progress = progress;
    }

    /**
     * Settings from system properties / environment (see class doc): 4 attempts, back-off 1 s doubling to at most
     * 30 s, 15 s connect and 60 s read timeouts, no progress output.
     */
    public static PretrainedWeights fromEnvironment() {
        String url = firstNonBlank(System.getProperty(URL_PROPERTY), System.getenv(URL_ENV), DEFAULT_BASE_URL);
        String dir = firstNonBlank(System.getProperty(CACHE_PROPERTY), System.getenv(CACHE_ENV),
                Path.of(System.getProperty("user.home"), ".cnn", "weights").toString());
        String mb = System.getenv(MAX_MB_ENV);
        String min = System.getenv(TIMEOUT_MIN_ENV);
        return new PretrainedWeights(URI.create(url), Path.of(dir), 4, Duration.ofSeconds(1), Duration.ofSeconds(30),
                Duration.ofSeconds(15), Duration.ofSeconds(60), Progress.NONE,
                mb != null && mb.matches("\\d+") ? Long.parseLong(mb) << 20 : DEFAULT_MAX_BYTES,
                min != null && min.matches("\\d+") ? Duration.ofMinutes(Long.parseLong(min)) : DEFAULT_DEADLINE);
    }

    /**
     * A copy that refuses downloads larger than {@code bytes} (a server that sends an endless body would otherwise
     * fill the disk): at once when the server announces more, else when more arrives; never retried.
     */
    public PretrainedWeights withMaxBytes(long bytes) {
        return new PretrainedWeights(baseUrl, cacheDir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                progress, bytes, deadline);
    }

    /**
     * A copy whose downloads give up after {@code d} in all (attempts, waits, and a server that trickles bytes
     * faster than the read timeout notices but never finishes); not retried.
     */
    public PretrainedWeights withDeadline(Duration d) {
        return new PretrainedWeights(baseUrl, cacheDir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                progress, maxBytes, d);
    }

    public PretrainedWeights withBaseUrl(URI url) {
        return new PretrainedWeights(url, cacheDir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                progress, maxBytes, deadline);
    }

    public PretrainedWeights withCacheDir(Path dir) {
        return new PretrainedWeights(baseUrl, dir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                progress, maxBytes, deadline);
    }

    /** Tries at most {@code attempts} times, waiting baseDelay, 2 x baseDelay, ... (at most maxDelay) in between. */
    public PretrainedWeights withRetries(int attempts, Duration baseDelay, Duration maxDelay) {
        if (attempts < 1) {
            throw new IllegalArgumentException("attempts must be >= 1, got " + attempts);
        }
        return new PretrainedWeights(baseUrl, cacheDir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                progress, maxBytes, deadline);
    }

    public PretrainedWeights withTimeouts(Duration connect, Duration read) {
        return new PretrainedWeights(baseUrl, cacheDir, attempts, baseDelay, maxDelay, connect, read, progress, maxBytes, deadline);
    }

    public PretrainedWeights withProgress(Progress p) {
        return new PretrainedWeights(baseUrl, cacheDir, attempts, baseDelay, maxDelay, connectTimeout, readTimeout,
                p == null ? Progress.NONE : p, maxBytes, deadline);
    }

    public URI baseUrl() {
        return baseUrl;
    }

    public Path cacheDir() {
        return cacheDir;
    }

    /**
     * Where a published file is fetched from: its own URL, or {@code <base URL><file name>} when a mirror is set
     * ({@value #URL_PROPERTY} / {@value #URL_ENV} other than the default).
     */
    public URI mirrored(URI published, String fileName) {
        return baseUrl.toString().equals(DEFAULT_BASE_URL) ? published : baseUrl.resolve(fileName);
    }

    /** Where an entry is downloaded from. */
    public URI urlOf(Entry e) {
        return baseUrl.resolve(e.fileName());
    }

    /** Where an entry is cached (whether or not it is there yet). */
    public Path cachedPath(Entry e) {
        return cacheDir.resolve(e.fileName());
    }

    /** The cached file of a registry entry, downloading it first if needed. */
    public Path fetch(String name) throws IOException {
        Entry e = find(name).orElseThrow(() -> new IllegalArgumentException("unknown pretrained weights '" + name
                + "'; known: " + REGISTRY.keySet()));
        return fetch(e);
    }

    public Path fetch(Entry e) throws IOException {
        return fetch(urlOf(e), e.fileName(), e.checksum());
    }

    /**
     * The file {@code fileName} in the cache directory, downloaded from {@code url} unless a copy matching
     * {@code checksum} is already there. A null checksum skips verification.
     */
    public Path fetch(URI url, String fileName, WeightsChecksum checksum) throws IOException {
        if (fileName.contains("/") || fileName.contains("\\") || fileName.startsWith(".")) {
            throw new IllegalArgumentException("bad cache file name: " + fileName);
        }
        Path target = cacheDir.resolve(fileName);
        if (Files.isRegularFile(target)) {
            if (checksum == null || checksum.matches(target)) {
                log.debug("using cached {}", target);
                return target;
            }
            log.warn("cached {} does not match {}; downloading it again", target, checksum);
            Files.deleteIfExists(target);
        }
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException ex) {
            throw new WeightsDownloadException(url, "cannot create cache directory " + cacheDir + " (" + ex + ")",
                    ex);
        }
        WeightsDownloadException last = null;
        long giveUpAt = System.nanoTime() + deadline.toNanos();
        int tried = 0;
        for (int attempt = 1; attempt <= attempts; attempt++) {
            if (attempt > 1) {
                Duration d = delay(attempt - 1);
                if (System.nanoTime() + d.toNanos() >= giveUpAt) {
                    break; // no time left for another attempt
                }
                sleep(d);
            }
            tried = attempt;
            try {
                downloadOnce(url, target, checksum, giveUpAt);
                return target;
            } catch (WeightsDownloadException ex) {
                last = ex;
                if (!ex.retryable()) {
                    throw ex;
                }
                if (attempt < attempts) {
                    log.warn("download of {} failed (attempt {}/{}), retrying: {}", url, attempt, attempts,
                            ex.reason());
                }
            }
        }
        throw new WeightsDownloadException(url, last.reason() + " (after " + tried + " attempt" + (tried == 1 ? ""
                : "s") + ")", last);
    }

    /** Loads a DL4J model file (a zoo {@code .zip} or a ModelSerializer file) as a graph, without updater state. */
    public static ComputationGraph load(Path file) throws IOException {
        return ModelSerializer.restoreComputationGraph(file.toFile(), false);
    }

    // ------------------------------------------------------------------------------------------------ internals

    private Duration delay(int retry) {
        long ms = baseDelay.toMillis();
        for (int i = 1; i < retry && ms < maxDelay.toMillis(); i++) {
            ms *= 2;
        }
        return Duration.ofMillis(Math.min(ms, maxDelay.toMillis()));
    }

    private static void sleep(Duration d) throws InterruptedIOException {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry a download");
        }
    }

    private void downloadOnce(URI url, Path target, WeightsChecksum checksum, long giveUpAt)
            throws WeightsDownloadException {
        Path tmp = null;
        HttpURLConnection conn = null;
        Watchdog dog = null;
        try {
            conn = connect(url);
            long total = conn.getContentLengthLong();
            if (total > maxBytes) {
                throw new WeightsDownloadException(url, "the server announces " + (total >> 20) + " MB, more than the "
                        + (maxBytes >> 20) + " MB limit (" + MAX_MB_ENV + ")", null, false);
            }
            dev.cnn.core.TempFiles.deleteStale(cacheDir); // .part files of downloads that were killed
            tmp = dev.cnn.core.TempFiles.create(target, ".part");
            long done = 0;
            progress.update(0, total);
            byte[] buf = new byte[1 << 16];
            dog = new Watchdog(conn, total, giveUpAt);
            try (InputStream in = conn.getInputStream(); OutputStream out = Files.newOutputStream(tmp)) {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    if (done + n > maxBytes || (total >= 0 && done + n > total)) { // an endless or lying body
                        throw new WeightsDownloadException(url, "the server sent more than " + (total >= 0 && total
                                < maxBytes ? "the " + total + " bytes it announced" : "the " + (maxBytes >> 20)
                                + " MB limit (" + MAX_MB_ENV + ")"), null, false);
                    }
                    out.write(buf, 0, n);
                    done += n;
                    dog.arrived(done);
                    progress.update(done, total);
                    if (System.nanoTime() >= giveUpAt) {
                        // the watchdog's disconnect does not always end a read in progress (seen once: a server
                        // trickling a byte every 100 ms was read to its end, 100 s); bytes that keep coming end here
                        throw new IOException("deadline");
                    }
                }
            }
            if (dog.expired()) {
                throw new IOException("deadline");
            }
            if (total >= 0 && done != total) {
                throw new WeightsDownloadException(url, "transfer ended after " + done + " of " + total + " bytes",
                        null, true);
            }
            if (checksum != null) {
                WeightsChecksum got = checksum.of(tmp);
                if (!checksum.matchesValue(got.value())) {
                    throw new WeightsDownloadException(url, "checksum mismatch: expected " + checksum + ", got "
                            + got, null, false);
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (WeightsDownloadException e) {
            throw e;
        } catch (IOException e) {
            if (dog != null && dog.expired() || System.nanoTime() >= giveUpAt) {
                throw new WeightsDownloadException(url, "gave up after " + deadline.toMinutes() + " min in all (set "
                        + TIMEOUT_MIN_ENV + " for longer)", e, false);
            }
            if (e instanceof UnknownHostException) {
                throw new WeightsDownloadException(url, "unknown host " + e.getMessage(), e, false);
            }
            if (e instanceof ConnectException) {
                throw new WeightsDownloadException(url, "cannot connect (" + describe(e) + ")", e, true);
            }
            throw new WeightsDownloadException(url, describe(e), e, true);
        } finally {
            if (dog != null) {
                dog.stop();
            }
            if (conn != null) {
                conn.disconnect();
            }
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    log.warn("could not delete temporary file {}: {}", tmp, e.toString());
                }
            }
        }
    }

    /**
     * Watches one transfer from a daemon thread: reports a stall (no byte for {@link #STALL_NOTICE}) to the
     * progress once a second, and at the deadline disconnects, so that a read blocked on a server that trickles
     * bytes ends.
     */
    private final class Watchdog {
        private final java.util.concurrent.ScheduledExecutorService timer;
        private volatile long lastByte = System.nanoTime();
        private volatile long done;
        private volatile boolean expired;

        Watchdog(HttpURLConnection conn, long total, long giveUpAt) {
            timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "cnn-download-watchdog");
                t.setDaemon(true);
                return t;
            });
            timer.scheduleAtFixedRate(() -> {
                long now = System.nanoTime();
                if (now >= giveUpAt) {
                    expired = true;
                    conn.disconnect();
                    timer.shutdown();
                    return;
                }
                long quiet = now - lastByte;
                if (quiet >= STALL_NOTICE.toNanos()) {
                    progress.stalled(done, total, quiet / 1_000_000_000L);
                }
            }, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        }

        void arrived(long bytes) {
            done = bytes;
            lastByte = System.nanoTime();
        }

        boolean expired() {
            return expired;
        }

        void stop() {
            timer.shutdownNow();
        }
    }

    /** Opens a GET connection with a 2xx response, following up to 5 redirects (including http to https). */
    private HttpURLConnection connect(URI url) throws IOException {
        URI u = url;
        for (int hop = 0; hop <= 5; hop++) {
            URLConnection uc = u.toURL().openConnection();
            if (!(uc instanceof HttpURLConnection c)) {
                throw new WeightsDownloadException(url, "not an http(s) URL", null, false);
            }
            c.setInstanceFollowRedirects(false);
            c.setConnectTimeout((int) connectTimeout.toMillis());
            c.setReadTimeout((int) readTimeout.toMillis());
            c.setRequestProperty("User-Agent", "cnn-transfer");
            c.setRequestProperty("Accept-Encoding", "identity");
            int code = c.getResponseCode();
            if (code >= 200 && code < 300) {
                return c;
            }
            if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
                String loc = c.getHeaderField("Location");
                c.disconnect();
                if (loc == null) {
                    throw new WeightsDownloadException(url, "HTTP " + code + " without Location", null, false);
                }
                u = u.resolve(loc);
                continue;
            }
            c.disconnect();
            boolean retry = code >= 500 || code == 408 || code == 429;
            String msg = "HTTP " + code + (c.getResponseMessage() != null ? " " + c.getResponseMessage() : "")
                    + (u.equals(url) ? "" : " from " + u);
            throw new WeightsDownloadException(url, msg, null, retry);
        }
        throw new WeightsDownloadException(url, "too many redirects", null, false);
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            return e.getClass().getSimpleName();
        }
        return e.getClass().getSimpleName() + ": " + m.replace('\n', ' ').replace('\r', ' ');
    }

    private static String firstNonBlank(String... s) {
        for (String x : s) {
            if (x != null && !x.isBlank()) {
                return x.trim();
            }
        }
        return null;
    }

    private static URI withSlash(URI u) {
        String s = u.toString();
        return s.endsWith("/") ? u : URI.create(s + "/");
    }
}
