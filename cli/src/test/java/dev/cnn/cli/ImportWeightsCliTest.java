package dev.cnn.cli;

import com.sun.net.httpserver.HttpServer;
import dev.cnn.core.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.cnn.cli.CliTestSupport.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code cnn import weights} and {@code zoo:NAME:imagenet} bases without PyTorch (the parity tests with PyTorch are
 * in transfer): published weights listed, unknown names exit 2, hostile files and tampered downloads exit 4 and
 * leave nothing behind.
 */
class ImportWeightsCliTest {
    static final Path EVIL = Path.of("../transfer/src/test/resources/torch/evil.pth");

    @TempDir
    Path dir;
    HttpServer server;

    @AfterEach
    void stop() {
        System.clearProperty("cnn.weights.url");
        System.clearProperty("cnn.cache.dir");
        if (server != null) {
            server.stop(0);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void modelsListsPublishedWeightsWithTheirUrlsAndAccuracy() {
        CliTestSupport.Run r = run("models", "--format", "json");
        assertEquals(0, r.code(), r.err());
        List<Map<String, Object>> models = (List<Map<String, Object>>) Json.readMap(r.out()).get("models");
        Map<String, Object> r50 = models.stream().filter(m -> m.get("name").equals("resnet50")).findFirst()
                .orElseThrow();
        List<Map<String, Object>> w = (List<Map<String, Object>>) r50.get("weights");
        assertEquals(List.of("imagenet1k_v1", "imagenet1k_v2"), w.stream().map(m -> m.get("tag")).toList());
        assertEquals("https://download.pytorch.org/models/resnet50-11ad3fa6.pth", w.get(1).get("url"));
        assertEquals(80.858, ((Number) w.get(1).get("top1")).doubleValue(), 1e-9);
        assertEquals(Boolean.TRUE, w.get(1).get("default"));
        Map<String, Object> lenet = models.stream().filter(m -> m.get("name").equals("lenet")).findFirst()
                .orElseThrow();
        assertTrue(((List<?>) lenet.get("weights")).isEmpty());
        assertTrue(run("models").out().contains("imagenet (69.8%)"));
    }

    @Test
    void namesWithoutPublishedWeightsAreUsageErrorsThatSayWhatExists() {
        CliTestSupport.Run r = run("import", "weights", "--model", "lenet", "-o", dir.resolve("m.zip").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("architectures with weights: alexnet"), r.err());
        CliTestSupport.Run tag = run("import", "weights", "--model", "resnet50:imagenet9", "-o",
                dir.resolve("m.zip").toString());
        assertEquals(2, tag.code(), tag.err());
        assertTrue(tag.err().contains("imagenet1k_v1, imagenet1k_v2"), tag.err());
        assertEquals(2, run("finetune", "--base", "zoo:lenet:imagenet").code());
        assertEquals(2, run("import", "weights", "--model", "resnet19", "-o", "x.zip").code());
    }

    @Test
    void aPickleThatWouldRunCodeIsRefusedWithExit4() {
        Path out = dir.resolve("m.zip");
        CliTestSupport.Run r = run("import", "weights", "--model", "resnet18", "--weights", EVIL.toString(), "-o",
                out.toString());
        assertEquals(4, r.code(), r.err());
        assertTrue(r.err().contains("refused to load") && r.err().contains("nothing was executed"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void aDownloadWhoseSha256DoesNotMatchThePublishedPrefixIsRefusedAndNotCached() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", ex -> { // a "mirror" serving something else under the published name
            byte[] body = "not the weights you are looking for".getBytes();
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        server.start();
        System.setProperty("cnn.weights.url", "http://127.0.0.1:" + server.getAddress().getPort() + "/");
        Path cache = dir.resolve("cache");
        System.setProperty("cnn.cache.dir", cache.toString());
        Path out = dir.resolve("m.zip");
        CliTestSupport.Run r = run("import", "weights", "--model", "resnet18", "-o", out.toString());
        assertEquals(4, r.code(), r.err());
        assertTrue(r.err().contains("checksum mismatch: expected sha256:f37072fd"), r.err());
        assertFalse(Files.exists(out));
        try (Stream<Path> s = Files.list(cache)) {
            assertEquals(List.of(), s.toList(), "no partial or bad file left in the cache");
        }
        CliTestSupport.Run f = run("finetune", "--base", "zoo:resnet18:imagenet", "--output",
                dir.resolve("f.zip").toString());
        assertEquals(4, f.code(), f.err());
    }

    @Test
    void aCnnModelGivenAsWeightsIsPointedToBase() throws IOException {
        Path bundle = dir.resolve("model.zip");
        try (var z = new java.util.zip.ZipOutputStream(Files.newOutputStream(bundle))) {
            z.putNextEntry(new java.util.zip.ZipEntry("cnn-metadata.json"));
            z.write("{}".getBytes());
        }
        CliTestSupport.Run r = run("finetune", "--base", "zoo:resnet18:imagenet", "--weights", bundle.toString(),
                "--output", dir.resolve("f.zip").toString());
        assertEquals(4, r.code(), r.err());
        assertTrue(r.err().contains("a cnn model, not PyTorch weights") && r.err().contains("pass it as --base"),
                r.err());
    }
}
