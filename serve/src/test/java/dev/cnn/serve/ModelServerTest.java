package dev.cnn.serve;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.Classifier;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code cnn serve}'s HTTP API against a small simplecnn bundle on a free local port. */
class ModelServerTest {
    static ModelBundle bundle;
    static ModelServer server;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    static ModelBundle bundle() {
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 8, 8).seed(7).build();
        return new ModelBundle(ModelRegistry.get("simplecnn").build(spec), new BundleMetadata(1, "simplecnn",
                List.of("cat", "dog", "emu"), 3, 8, 8,
                Preprocess.builder().size(3, 8, 8).normalization(Normalization.unit()).build(),
                Provenance.of("builtin:shapes", 0.2, "none", false, false, 10, 2,
                        TrainConfig.builder().seed(1).output(Path.of("m.zip")).build(), null), null));
    }

    static byte[] png(int seed, int w, int h) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < w * h; i++) {
            img.setRGB(i % w, i / w, r.nextInt(0xFFFFFF));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    @BeforeAll
    static void start() {
        bundle = bundle();
        server = ModelServer.start(bundle, ServeOptions.defaults().withPort(0).withBatching(32, 20)
                .withLimits(200_000, 100_000));
    }

    @AfterAll
    static void stop() {
        server.stop();
    }

    static String url(ModelServer s, String path) {
        return "http://127.0.0.1:" + s.port() + path;
    }

    static HttpResponse<String> post(ModelServer s, String path, String type, byte[] body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path)))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(ModelServer s, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(s, path))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> records(HttpResponse<String> r) throws Exception {
        return (List<Map<String, Object>>) (List<?>) Json.mapper().readValue(r.body(), List.class);
    }

    static String error(HttpResponse<String> r) {
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.toString());
        return String.valueOf(Json.readMap(r.body()).get("error"));
    }

    @Test
    void anImageBodyIsClassifiedAsTheJavaApiAndTheCliClassifyIt() throws Exception {
        byte[] img = png(1, 20, 16);
        HttpResponse<String> r = post(server, "/v1/classify?top_k=2&name=photo.png", "image/png", img);
        assertEquals(200, r.statusCode(), r.body());
        List<Map<String, Object>> recs = records(r);
        assertEquals(1, recs.size());
        assertEquals("photo.png", recs.get(0).get("path"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> preds = (List<Map<String, Object>>) recs.get(0).get("predictions");
        assertEquals(2, preds.size());
        try (Classifier c = new Classifier(bundle)) {
            dev.cnn.core.Predictor.Prediction want = c.classify(img, "photo.png", 2);
            assertEquals(want.top().get(0).label(), preds.get(0).get("label"));
            assertEquals(want.top().get(0).probability(), ((Number) preds.get(0).get("probability")).doubleValue(),
                    1e-5);
            assertEquals(want.toMap().keySet(), recs.get(0).keySet());
        }
    }

    static final String BOUNDARY = "cnnBoundary42";
    static final String MULTIPART = "multipart/form-data; boundary=" + BOUNDARY;

    /** A multipart/form-data body with one file part per {name, bytes}. */
    static byte[] multipart(Object[][] parts) throws Exception {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Object[] p : parts) {
            body.write(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + p[0]
                    + "\"\r\nContent-Type: application/octet-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            body.write((byte[]) p[1]);
            body.write("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        body.write(("--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return body.toByteArray();
    }

    @Test
    void aMultipartRequestAnswersEveryImageAndGivesABadOneAnErrorRecord() throws Exception {
        HttpResponse<String> r = post(server, "/v1/classify", MULTIPART, multipart(new Object[][]{
                {"a.png", png(2, 9, 9)}, {"bad.jpg", "not a jpeg".getBytes()}, {"c.png", png(3, 30, 10)}}));
        assertEquals(200, r.statusCode(), r.body());
        List<Map<String, Object>> recs = records(r);
        assertEquals(List.of("a.png", "bad.jpg", "c.png"), recs.stream().map(m -> m.get("path")).toList());
        assertTrue(String.valueOf(recs.get(1).get("error")).startsWith("bad.jpg: not a supported image"), r.body());
        assertTrue(recs.get(0).containsKey("predictions") && recs.get(2).containsKey("predictions"));
    }

    @Test
    void badRequestsGetA4xxJsonErrorNamingTheProblemAndTheServerGoesOn() throws Exception {
        assertEquals(400, post(server, "/v1/classify", "image/jpeg", new byte[0]).statusCode());
        HttpResponse<String> r = post(server, "/v1/classify?name=x.jpg", "image/jpeg", "garbage".getBytes());
        assertEquals(400, r.statusCode());
        assertTrue(error(r).startsWith("x.jpg: not a supported image"), r.body());
        r = post(server, "/v1/classify", "text/plain", "hello".getBytes());
        assertEquals(415, r.statusCode());
        assertTrue(error(r).contains("image/*"), r.body());
        assertEquals(415, post(server, "/v1/classify", "application/json", "{\"url\":\"http://x\"}".getBytes())
                .statusCode());
        r = post(server, "/v1/classify", "image/png", new byte[300_000]);
        assertEquals(413, r.statusCode(), r.body());
        // in a multipart request an oversized image is that image's error record, as a bad one is
        r = post(server, "/v1/classify", MULTIPART, multipart(new Object[][]{{"big.png", new byte[300_000]}}));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(String.valueOf(records(r).get(0).get("error")).contains("--max-image-mb"), r.body());
        // declared 400x300 = 120,000 pixels > the 100,000 allowed: refused from the header
        ByteArrayOutputStream flat = new ByteArrayOutputStream(); // one colour: a few hundred bytes
        ImageIO.write(new BufferedImage(400, 300, BufferedImage.TYPE_INT_RGB), "png", flat);
        r = post(server, "/v1/classify?name=bomb.png", "image/png", flat.toByteArray());
        assertEquals(413, r.statusCode(), r.body());
        assertTrue(error(r).contains("decompression bomb"), r.body());
        byte[] good = png(5, 8, 8);
        assertEquals(400, post(server, "/v1/classify?top_k=zero", "image/png", good).statusCode());
        r = get(server, "/v2/nothing");
        assertEquals(404, r.statusCode());
        assertTrue(error(r).contains("/v1/classify"), r.body());
        assertEquals(200, post(server, "/v1/classify", "image/png", good).statusCode(), "still serving");
    }

    @Test
    void modelHealthReadinessAndMetricsEndpoints() throws Exception {
        Map<String, Object> m = Json.readMap(get(server, "/v1/model").body());
        assertEquals(List.of("cat", "dog", "emu"), m.get("labels"));
        assertEquals(Map.of("channels", 3, "height", 8, "width", 8), m.get("input"));
        assertEquals(200, get(server, "/healthz").statusCode());
        assertEquals(200, get(server, "/readyz").statusCode());
        post(server, "/v1/classify", "image/png", png(6, 8, 8));
        String metrics = get(server, "/metrics").body();
        assertTrue(metrics.contains("cnn_requests_total{endpoint=\"/v1/classify\",status=\"200\"}"), metrics);
        assertTrue(metrics.contains("cnn_request_duration_seconds_bucket{endpoint=\"/v1/classify\""), metrics);
        assertTrue(metrics.contains("cnn_batch_size_count"), metrics);
        assertTrue(metrics.contains("cnn_images_total{outcome=\"ok\"}"), metrics);
    }

    static double metric(String text, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " ([0-9.eE+-]+)$").matcher(text);
        assertTrue(m.find(), name + " in\n" + text);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void concurrentRequestsAreClassifiedTogetherInDynamicBatches() throws Exception {
        try (ModelServer s = ModelServer.start(bundle, ServeOptions.defaults().withPort(0).withBatching(8, 200))) {
            byte[] img = png(7, 8, 8);
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url(s, "/v1/classify")))
                        .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(img))
                        .build(), HttpResponse.BodyHandlers.ofString()));
            }
            List<Map<String, Object>> first = null;
            for (CompletableFuture<HttpResponse<String>> f : all) {
                HttpResponse<String> r = f.get();
                assertEquals(200, r.statusCode(), r.body());
                first = first == null ? records(r) : first;
                @SuppressWarnings("unchecked")
                List<Map<String, Object>> want = (List<Map<String, Object>>) first.get(0).get("predictions");
                @SuppressWarnings("unchecked")
                List<Map<String, Object>> got = (List<Map<String, Object>>) records(r).get(0).get("predictions");
                for (int i = 0; i < want.size(); i++) { // one image, one answer, whichever batch it was in
                    assertEquals(want.get(i).get("label"), got.get(i).get("label"));
                    assertEquals(((Number) want.get(i).get("probability")).doubleValue(),
                            ((Number) got.get(i).get("probability")).doubleValue(), 1e-6);
                }
            }
            String text = get(s, "/metrics").body();
            assertEquals(16, metric(text, "cnn_batch_size_sum"));
            assertTrue(metric(text, "cnn_batch_size_count") < 16, "16 images in fewer forward passes:\n" + text);
        }
    }

    @Test
    void anApiKeyIsRequiredWhenSetInEitherHeader() throws Exception {
        try (ModelServer s = ModelServer.start(bundle, ServeOptions.defaults().withPort(0).withApiKey("s3cret"))) {
            byte[] img = png(8, 8, 8);
            assertEquals(401, post(s, "/v1/classify", "image/png", img).statusCode());
            assertEquals(401, post(s, "/v1/classify", "image/png", img, "X-API-Key", "s3cre").statusCode());
            assertEquals(200, post(s, "/v1/classify", "image/png", img, "X-API-Key", "s3cret").statusCode());
            assertEquals(200, post(s, "/v1/classify", "image/png", img, "Authorization", "Bearer s3cret")
                    .statusCode());
            assertEquals(401, get(s, "/v1/model").statusCode());
            assertEquals(200, get(s, "/healthz").statusCode(), "health checks need no key");
        }
    }

    @Test
    void stoppingFinishesTheRequestsInFlightAndRefusesNewOnes() throws Exception {
        // a lone image waits 1.5 s for company: it is in flight when the stop comes
        ModelServer s = ModelServer.start(bundle, ServeOptions.defaults().withPort(0).withBatching(64, 1500));
        String health = url(s, "/healthz");
        CompletableFuture<HttpResponse<String>> inFlight = HTTP.sendAsync(HttpRequest.newBuilder(
                        URI.create(url(s, "/v1/classify"))).header("Content-Type", "image/png")
                .POST(HttpRequest.BodyPublishers.ofByteArray(png(9, 8, 8))).build(), HttpResponse.BodyHandlers.ofString());
        Thread.sleep(400);
        CompletableFuture<Void> stopping = CompletableFuture.runAsync(s::stop);
        Thread.sleep(200);
        assertEquals(503, get(s, "/readyz").statusCode(), "draining");
        assertEquals(503, post(s, "/v1/classify", "image/png", png(10, 8, 8)).statusCode());
        assertEquals(200, inFlight.get().statusCode(), inFlight.get().body());
        stopping.get();
        assertThrows(java.io.IOException.class, () -> HTTP.send(HttpRequest.newBuilder(URI.create(health)).build(),
                HttpResponse.BodyHandlers.ofString()), "stopped");
    }
}
