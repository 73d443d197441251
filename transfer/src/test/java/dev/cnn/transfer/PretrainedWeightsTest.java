package dev.cnn.transfer;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;
import java.util.stream.Stream;
import java.util.zip.Adler32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PretrainedWeightsTest {
    private static final byte[] BODY = new byte[300_000];

    static {
        new Random(5).nextBytes(BODY);
    }

    @TempDir
    Path cache;

    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    private String base;
    private PretrainedWeights weights;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/models/good.zip", ex -> {
            requests.incrementAndGet();
            send(ex, 200, BODY);
        });
        server.createContext("/models/missing.zip", ex -> {
            requests.incrementAndGet();
            send(ex, 404, "not here".getBytes());
        });
        server.createContext("/models/endless.zip", ex -> { // a body without a length and without an end
            requests.incrementAndGet();
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                byte[] chunk = new byte[1 << 16];
                for (long sent = 0; sent < (64L << 20); sent += chunk.length) { // bounded, in case the client does not stop
                    out.write(chunk);
                }
            } catch (IOException e) {
                // the client hung up: expected
            }
        });
        server.createContext("/models/huge.zip", ex -> { // announces more than the limit
            requests.incrementAndGet();
            ex.sendResponseHeaders(200, 5L << 30);
            ex.getResponseBody().close();
        });
        server.createContext("/models/stall.zip", ex -> { // 10 bytes, then silence longer than a stall notice
            requests.incrementAndGet();
            ex.sendResponseHeaders(200, 20);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(new byte[10]);
                out.flush();
                Thread.sleep(4500);
                out.write(new byte[10]);
            } catch (IOException | InterruptedException e) {
                // the client hung up
            }
        });
        server.createContext("/models/trickle.zip", ex -> { // a byte every 100 ms: never a read timeout
            requests.incrementAndGet();
            ex.sendResponseHeaders(200, 1000);
            try (OutputStream out = ex.getResponseBody()) {
                for (int i = 0; i < 1000; i++) {
                    out.write(1);
                    out.flush();
                    Thread.sleep(100);
                }
            } catch (IOException | InterruptedException e) {
                // the client hung up: expected
            }
        });
        server.createContext("/models/flaky.zip", ex -> {
            int n = requests.incrementAndGet();
            if (n < 3) {
                send(ex, 503, "busy".getBytes());
            } else {
                send(ex, 200, BODY);
            }
        });
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort() + "/models/";
        weights = PretrainedWeights.fromEnvironment().withBaseUrl(URI.create(base)).withCacheDir(cache)
                .withRetries(3, Duration.ofMillis(1), Duration.ofMillis(4))
                .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5));
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private static void send(HttpExchange ex, int code, byte[] body) throws IOException {
        ex.sendResponseHeaders(code, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private static WeightsChecksum adler(byte[] b) {
        Adler32 a = new Adler32();
        a.update(b);
        return WeightsChecksum.adler32(a.getValue());
    }

    private List<Path> cacheFiles() throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            return s.toList();
        }
    }

    @Test
    void downloadsVerifiesCachesAndReportsProgress() throws Exception {
        List<long[]> progress = new ArrayList<>();
        PretrainedWeights w = weights.withProgress((d, t) -> progress.add(new long[]{d, t}));
        Path p = w.fetch(URI.create(base + "good.zip"), "good.zip", adler(BODY));
        assertEquals(cache.resolve("good.zip"), p);
        assertArrayEquals(BODY, Files.readAllBytes(p));
        assertEquals(1, requests.get());
        assertEquals(List.of(p), cacheFiles()); // no temp file left
        long[] last = progress.get(progress.size() - 1);
        assertEquals(BODY.length, last[0]);
        assertEquals(BODY.length, last[1]);
        assertEquals(0, progress.get(0)[0]);

        // Second call: from the cache, the server is not asked.
        assertEquals(p, w.fetch(URI.create(base + "good.zip"), "good.zip", adler(BODY)));
        assertEquals(1, requests.get());

        // SHA-256 works the same way; a corrupted cached copy is fetched again.
        Files.write(p, new byte[]{1, 2, 3});
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(BODY));
        w.fetch(URI.create(base + "good.zip"), "good.zip", WeightsChecksum.parse("sha256:" + sha));
        assertEquals(2, requests.get());
        assertArrayEquals(BODY, Files.readAllBytes(p));
    }

    @Test
    void aStalledTransferIsReportedToTheProgressWhileItWaits() throws Exception {
        List<long[]> stalls = new java.util.concurrent.CopyOnWriteArrayList<>();
        PretrainedWeights w = weights.withProgress(new PretrainedWeights.Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public void stalled(long done, long total, long seconds) {
                stalls.add(new long[]{done, total, seconds});
            }
        });
        Path p = w.fetch(URI.create(base + "stall.zip"), "stall.zip", null);
        assertEquals(20, Files.size(p));
        assertFalse(stalls.isEmpty(), "a 4.5 s silence is reported");
        assertArrayEquals(new long[]{10, 20}, new long[]{stalls.get(0)[0], stalls.get(0)[1]});
        assertTrue(stalls.get(0)[2] >= 3, "after the 3 s notice");
    }

    @Test
    void aServerTricklingBytesForeverIsCutAtTheDeadlineWithoutRetry() throws Exception {
        PretrainedWeights w = weights.withDeadline(Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        var e = assertThrows(WeightsDownloadException.class,
                () -> w.fetch(URI.create(base + "trickle.zip"), "trickle.zip", null));
        double secs = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("gave up after") && e.getMessage().contains("CNN_WEIGHTS_TIMEOUT_MIN"),
                e.getMessage());
        assertTrue(secs < 8, "bounded: " + secs + " s");
        assertEquals(1, requests.get(), "not retried");
        assertEquals(List.of(), cacheFiles(), "no .part left");
    }

    @Test
    void aSha256PrefixIsCheckedAsTorchHubChecksIt() throws Exception {
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(BODY));
        WeightsChecksum prefix = WeightsChecksum.sha256(sha.substring(0, 8));
        Path p = weights.fetch(URI.create(base + "good.zip"), "good-" + sha.substring(0, 8) + ".pth", prefix);
        assertArrayEquals(BODY, Files.readAllBytes(p));
        assertTrue(prefix.matches(p));
        String wrong = (sha.charAt(0) == '0' ? "1" : "0") + sha.substring(1, 8);
        var e = assertThrows(WeightsDownloadException.class, () -> weights.fetch(URI.create(base + "good.zip"),
                "other.pth", WeightsChecksum.sha256(wrong)));
        assertTrue(e.getMessage().contains("checksum mismatch: expected sha256:" + wrong), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WeightsChecksum.sha256("abc"), "under 8 digits");
    }

    @Test
    void endlessOrOversizedBodiesStopAtTheLimitWithoutRetryAndLeaveNothing() throws Exception {
        PretrainedWeights capped = weights.withMaxBytes(1 << 20);
        var e = assertThrows(WeightsDownloadException.class,
                () -> capped.fetch(URI.create(base + "endless.zip"), "endless.zip", null));
        assertTrue(e.getMessage().contains("more than the 1 MB limit (CNN_WEIGHTS_MAX_MB)"), e.getMessage());
        assertEquals(1, requests.get(), "not retried");
        var h = assertThrows(WeightsDownloadException.class,
                () -> capped.fetch(URI.create(base + "huge.zip"), "huge.zip", null));
        assertTrue(h.getMessage().contains("announces 5120 MB"), h.getMessage());
        assertEquals(2, requests.get());
        assertEquals(List.of(), cacheFiles());
    }

    @Test
    void wrongChecksumFailsWithoutRetryAndLeavesNothing() throws Exception {
        var e = assertThrows(WeightsDownloadException.class,
                () -> weights.fetch(URI.create(base + "good.zip"), "good.zip", WeightsChecksum.adler32(12345)));
        assertTrue(e.getMessage().contains(base + "good.zip"), e.getMessage());
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
        assertTrue(e.getMessage().contains("--weights FILE"), e.getMessage());
        assertEquals(1, requests.get());
        assertEquals(List.of(), cacheFiles());
    }

    /**
     * A bare HTTP/1.1 server that announces the full Content-Length but, for the requests {@code truncate} picks
     * (1-based), sends only a third of the body and closes the connection.
     */
    private static final class TruncatingServer implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger requests = new AtomicInteger();
        final Thread thread;

        TruncatingServer(IntPredicate truncate) throws IOException {
            socket = new ServerSocket(0, 10, InetAddress.getLoopbackAddress());
            thread = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket c = socket.accept()) {
                        BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream(),
                                StandardCharsets.ISO_8859_1));
                        for (String line; (line = in.readLine()) != null && !line.isEmpty(); ) {
                            // skip request line and headers
                        }
                        int n = requests.incrementAndGet();
                        OutputStream out = c.getOutputStream();
                        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + BODY.length
                                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        out.write(BODY, 0, truncate.test(n) ? BODY.length / 3 : BODY.length);
                        out.flush();
                    } catch (IOException e) {
                        // closed
                    }
                }
            });
            thread.setDaemon(true);
            thread.start();
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort() + "/models/";
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    void truncatedTransferIsRetriedThenFails() throws Exception {
        try (TruncatingServer t = new TruncatingServer(n -> true)) {
            PretrainedWeights w = weights.withBaseUrl(URI.create(t.url()));
            var e = assertThrows(WeightsDownloadException.class,
                    () -> w.fetch(URI.create(t.url() + "good.zip"), "good.zip", adler(BODY)));
            assertEquals(3, t.requests.get());
            assertTrue(e.getMessage().contains("after 3 attempts"), e.getMessage());
            assertTrue(e.getMessage().contains("transfer ended after"), e.getMessage());
            assertTrue(e.getMessage().contains("--weights"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertEquals(List.of(), cacheFiles());
        }
    }

    @Test
    void truncatedTransferSucceedsWhenTheServerRecovers() throws Exception {
        try (TruncatingServer t = new TruncatingServer(n -> n == 1)) {
            PretrainedWeights w = weights.withBaseUrl(URI.create(t.url()));
            Path p = w.fetch(URI.create(t.url() + "good.zip"), "good.zip", adler(BODY));
            assertEquals(2, t.requests.get());
            assertArrayEquals(BODY, Files.readAllBytes(p));
            assertEquals(List.of(p), cacheFiles());
        }
    }

    @Test
    void serverErrorsAreRetried() throws Exception {
        Path p = weights.fetch(URI.create(base + "flaky.zip"), "flaky.zip", adler(BODY));
        assertEquals(3, requests.get());
        assertArrayEquals(BODY, Files.readAllBytes(p));
    }

    @Test
    void notFoundFailsFastAndNamesTheUrl() throws Exception {
        var e = assertThrows(WeightsDownloadException.class,
                () -> weights.fetch(URI.create(base + "missing.zip"), "missing.zip", adler(BODY)));
        assertEquals(1, requests.get());
        assertTrue(e.getMessage().contains(base + "missing.zip"), e.getMessage());
        assertTrue(e.getMessage().contains("404"), e.getMessage());
        assertEquals(URI.create(base + "missing.zip"), e.url());
        assertEquals(List.of(), cacheFiles());
    }

    @Test
    void noServerSaysToUseWeightsFile() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String url = "http://127.0.0.1:" + port + "/models/";
        PretrainedWeights w = weights.withBaseUrl(URI.create(url));
        PretrainedWeights.Entry vgg = PretrainedWeights.find("vgg16:dl4j").orElseThrow();
        var e = assertThrows(WeightsDownloadException.class, () -> w.fetch(vgg));
        assertTrue(e.getMessage().contains(url + "vgg16_dl4j_inference.zip"), e.getMessage());
        assertTrue(e.getMessage().contains("--weights FILE"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot connect"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertEquals(List.of(), cacheFiles());
    }

    @Test
    void registryHoldsDl4jZooEntries() {
        PretrainedWeights.Entry vgg = PretrainedWeights.find("VGG16:dl4j").orElseThrow();
        assertEquals("vgg16_dl4j_inference.zip", vgg.fileName());
        assertEquals("adler32:3501732770", vgg.checksum().toString());
        assertEquals(224, vgg.preprocessing().height());
        assertEquals("BGR", vgg.preprocessing().channelOrder());
        assertEquals(List.of(103.939, 116.779, 123.68), vgg.preprocessing().mean());
        PretrainedWeights.Entry r = PretrainedWeights.find("ResNet50:DL4J").orElseThrow();
        assertEquals("resnet50_dl4j_inference.v3.zip", r.fileName());
        assertEquals(WeightsChecksum.adler32(3914447815L), r.checksum());
        assertTrue(PretrainedWeights.find("alexnet").isEmpty());
        assertTrue(PretrainedWeights.find("vgg16:imagenet").isEmpty(), "zoo:vgg16:imagenet is torchvision's");

        PretrainedWeights def = PretrainedWeights.fromEnvironment();
        if (System.getenv(PretrainedWeights.URL_ENV) == null) {
            assertEquals(URI.create("https://dl4jdata.blob.core.windows.net/models/vgg16_dl4j_inference.zip"),
                    def.urlOf(vgg));
        }
        assertEquals(cache.resolve("x.zip"), weights.withBaseUrl(URI.create("http://h/no-slash")).cacheDir()
                .resolve("x.zip"));
        assertEquals(URI.create("http://h/no-slash/vgg16_dl4j_inference.zip"),
                weights.withBaseUrl(URI.create("http://h/no-slash")).urlOf(vgg));

        assertThrows(IllegalArgumentException.class, () -> WeightsChecksum.parse("md5:abc"));
        assertThrows(IllegalArgumentException.class, () -> WeightsChecksum.parse("sha256:xyz"));
    }
}
