package dev.cnn.viz;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.Evaluator;
import dev.cnn.core.Json;
import dev.cnn.core.LrSchedule;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.data.Importers;
import dev.cnn.data.Preprocess;
import dev.cnn.data.SkipReport;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.Subgraphs;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VisualizeTest {
    @TempDir
    static Path dir;
    static Path data;
    static ModelBundle trained;
    static ModelBundle untrained;
    static TrainJob.Outcome outcome;
    static Path image;

    @BeforeAll
    static void train() throws IOException {
        data = dir.resolve("shapes");
        Importers.writeShapes(data, 160, 16, 3, 0.25);
        Path model = dir.resolve("m.zip");
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(32).lr(3e-3).schedule(LrSchedule.Kind.CONSTANT)
                .seed(9).output(model).build();
        outcome = TrainJob.run(new TrainJob.Request(data.toString(), "simplecnn", 16, 3,
                Preprocess.ResizePolicy.STRETCH, "unit", "none", 0.25, false, true, 1, cfg, null), null, null);
        trained = ModelBundle.load(model, false);
        ComputationGraph init = ModelRegistry.get("simplecnn").build(ModelSpec.builder().numClasses(4)
                .input(3, 16, 16).seed(9).build());
        untrained = new ModelBundle(init, trained.metadata());
        try (var files = Files.walk(data.resolve("val"))) {
            image = files.filter(p -> p.toString().endsWith(".png")).sorted().findFirst().orElseThrow();
        }
    }

    static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    @Test
    void firstLayerFiltersAreOneColourTileEachAndChangeWithTraining() {
        Grid.Picture t = NetPictures.filters(trained, null, 64, 16);
        Grid.Picture u = NetPictures.filters(untrained, null, 64, 16);
        assertEquals("conv1", t.layer());
        assertEquals(32, t.tiles(), "simplecnn's first layer has 32 filters over RGB");
        assertEquals(6, t.columns());
        int rows = (32 + 5) / 6;
        assertEquals(Grid.TITLE_HEIGHT + rows * (t.tileSize() + Grid.LABEL_HEIGHT + Grid.GAP) + Grid.GAP,
                t.image().getHeight());
        assertEquals(Math.max(240, 6 * (t.tileSize() + Grid.GAP) + Grid.GAP), t.image().getWidth());
        assertEquals(t.image().getWidth(), u.image().getWidth());
        assertFalse(Arrays.equals(pixels(t.image()), pixels(u.image())), "trained filters differ from the init");
        // the same untrained weights render the same picture
        assertArrayEquals(pixels(u.image()), pixels(NetPictures.filters(untrained, null, 64, 16).image()));
    }

    @Test
    void deeperLayerFiltersAreAFilterByChannelGrid() {
        Grid.Picture p = NetPictures.filters(trained, "conv2", 4, 5);
        assertEquals(20, p.tiles());
        assertEquals(5, p.columns());
        CnnException e = assertThrows(CnnException.class, () -> NetPictures.filters(trained, "bn1", 4, 4));
        assertTrue(e.getMessage().contains("conv1"), e.getMessage());
    }

    @Test
    void activationsShowTheInputAndEveryMap() throws IOException {
        Grid.Picture p = NetPictures.activations(trained, image, null, 64);
        assertEquals(33, p.tiles(), "input + 32 maps");
        Grid.Picture some = NetPictures.activations(trained, image, "relu3", 10);
        assertEquals(11, some.tiles());
        assertEquals(CnnException.USAGE, assertThrows(CnnException.class,
                () -> NetPictures.activations(trained, image, "fc", 8)).exitCode());
        Path bad = dir.resolve("bad.png");
        Files.writeString(bad, "not an image");
        assertEquals(CnnException.DATA, assertThrows(CnnException.class,
                () -> NetPictures.activations(trained, bad, null, 8)).exitCode());
    }

    @Test
    void gradCamMapsTheLastConvolutionalLayer() {
        NetPictures.Saliency s = NetPictures.gradCam(trained, image, null);
        assertEquals("relu4", s.layer());
        assertEquals(2, s.map().length, "16 px after three 2x2 poolings");
        float max = 0;
        for (float[] row : s.map()) {
            for (float v : row) {
                assertTrue(v >= 0 && v <= 1, "normalised ReLU map");
                max = Math.max(max, v);
            }
        }
        assertTrue(max == 1f || max == 0f);
        assertTrue(trained.metadata().labels().contains(s.label()));
        assertTrue(s.image().getWidth() > 2 * 192);
    }

    @Test
    void gradCamChannelWeightsMatchTheAnalyticGradientOfAPoolingHead() {
        // simplecnn's head after relu4 is global average pooling + softmax layer: d log p_c / dA_k(i,j) is
        // sum_j W[k,j] (delta_cj - p_j) / HW everywhere, so the finite-difference weights must equal it.
        ComputationGraph g = trained.network();
        org.nd4j.linalg.api.ndarray.INDArray x = org.nd4j.linalg.factory.Nd4j.rand(
                org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 3, 16, 16);
        org.nd4j.linalg.api.ndarray.INDArray a = g.feedForward(x, false).get("relu4");
        org.nd4j.linalg.api.ndarray.INDArray p = g.outputSingle(false, x);
        int cls = 2;
        double[] alpha = NetPictures.channelWeights(Subgraphs.subgraphAfter(g, "relu4"), a, cls);
        org.nd4j.linalg.api.ndarray.INDArray w = g.getLayer("fc").getParam("W"); // [nIn, nOut]
        long hw = a.size(2) * a.size(3);
        double maxAbs = 0;
        double[] expected = new double[alpha.length];
        for (int k = 0; k < alpha.length; k++) {
            double s = 0;
            for (int j = 0; j < p.size(1); j++) {
                s += w.getDouble(k, j) * ((j == cls ? 1 : 0) - p.getDouble(0, j));
            }
            expected[k] = s / hw;
            maxAbs = Math.max(maxAbs, Math.abs(expected[k]));
        }
        for (int k = 0; k < alpha.length; k++) {
            assertEquals(expected[k], alpha[k], 2e-3 * maxAbs + 1e-6, "channel " + k);
        }
    }

    @Test
    void gradCamLayerOfAResNetIsTheBlockOutputBeforePooling() {
        ComputationGraph g = ModelRegistry.get("resnet18").build(ModelSpec.builder().numClasses(3).input(3, 32, 32)
                .seed(1).build());
        String cut = NetPictures.lastConvCut(g, Preprocess.builder().size(3, 32, 32)
                .normalization(dev.cnn.data.Normalization.unit()).build());
        assertEquals(g.getConfiguration().getVertexInputs().get("avgpool"), List.of(cut));
        ComputationGraph head = Subgraphs.subgraphAfter(g, cut);
        assertEquals(List.of(cut), head.getConfiguration().getNetworkInputs());
    }

    @Test
    void reportHoldsCurvesConfusionAndMisclassified() throws IOException {
        Path html = dir.resolve("r/m.report.html");
        Evaluator.Result eval = Evaluator.evaluate(trained, outcome.source().validation(), new SkipReport(false), 32);
        Report.Written w = Report.write(new Report.Content("test report", Reports.settings(trained.metadata(),
                dir.resolve("m.zip")), outcome.result().history(), eval.metrics(), eval.misclassified()), html);
        String text = Files.readString(html, StandardCharsets.UTF_8);
        assertEquals(3, w.pngs().size());
        BufferedImage loss = ImageIO.read(html.resolveSibling("m.loss.png").toFile());
        assertEquals(Charts.WIDTH, loss.getWidth());
        assertEquals(Charts.HEIGHT, loss.getHeight());
        assertTrue(Files.isRegularFile(html.resolveSibling("m.confusion.png")));
        assertFalse(text.contains("http://") || text.contains("https://"), "self-contained");
        Matcher m = Pattern.compile("<script type=\"application/json\" id=\"report-data\">(.*?)</script>",
                Pattern.DOTALL).matcher(text);
        assertTrue(m.find());
        Map<String, Object> doc = Json.readMap(m.group(1).replace("<\\/", "</"));
        List<?> history = (List<?>) doc.get("history");
        assertEquals(2, history.size());
        assertEquals(outcome.result().history().get(1).top1(),
                ((Number) ((Map<?, ?>) history.get(1)).get("top1")).doubleValue(), 1e-12);
        assertEquals(eval.metrics().top1(), ((Number) doc.get("top1")).doubleValue(), 1e-12);
        List<?> cm = (List<?>) doc.get("confusion");
        assertEquals(4, cm.size());
        long total = 0;
        for (Object row : cm) {
            for (Object v : (List<?>) row) {
                total += ((Number) v).longValue();
            }
        }
        assertEquals(eval.metrics().count(), total);
        int figures = text.split("<figure>", -1).length - 1;
        assertEquals(((List<?>) doc.getOrDefault("misclassified", List.of())).size(), figures);
        assertEquals(dir.resolve("m.report.html").toAbsolutePath(), Reports.reportPath(dir.resolve("m.zip")));
    }

    @Test
    void reportOpensInHeadlessChromium() throws Exception {
        String chromium = findChromium();
        Assumptions.assumeTrue(chromium != null, "Chromium not installed (bench/.ci/run installs it)");
        Path html = dir.resolve("browser/m.report.html");
        Evaluator.Result eval = Evaluator.evaluate(trained, outcome.source().validation(), new SkipReport(false), 32);
        Report.write(new Report.Content("browser", Map.of("k", "v"), outcome.result().history(), eval.metrics(),
                eval.misclassified()), html);
        Path profile = Files.createTempDirectory(dir, "chrome");
        List<String> base = List.of(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=5000");
        String dom = run(concat(base, "--dump-dom", html.toUri().toString()));
        assertTrue(dom.contains("data-rendered=\"ok\""), "all images decoded and the script ran: "
                + dom.substring(0, Math.min(400, dom.length())));
        assertTrue(dom.contains("data-epochs=\"2\""), "curve data parsed by the page");
        Path shot = dir.resolve("browser/shot.png");
        run(concat(base, "--window-size=1200,1600", "--screenshot=" + shot, html.toUri().toString()));
        Assumptions.assumeTrue(Files.isRegularFile(shot), "chromium wrote no screenshot here");
        BufferedImage img = ImageIO.read(shot.toFile());
        assertEquals(1200, img.getWidth());
        long nonWhite = Arrays.stream(pixels(img)).filter(p -> (p & 0xFFFFFF) != 0xFFFFFF).count();
        assertTrue(nonWhite > 10_000, "the screenshot shows the report, non-white pixels: " + nonWhite);
    }

    static List<String> concat(List<String> a, String... more) {
        List<String> l = new java.util.ArrayList<>(a);
        l.addAll(List.of(more));
        return l;
    }

    /**
     * Runs Chromium with output to a file and a time limit. A Chromium that cannot run in this environment (no exit
     * within the limit, or a failure with no output) skips the test rather than failing the build; a page that loads
     * but renders wrong fails it.
     */
    static String run(List<String> cmd) throws Exception {
        Path out = Files.createTempFile(dir, "chromium", ".out");
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            Assumptions.abort("chromium did not finish within 60 s here: " + String.join(" ", cmd));
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0 && text.isBlank() && !cmd.stream().anyMatch(a -> a.startsWith("--screenshot"))) {
            Assumptions.abort("chromium exited " + p.exitValue() + " without output here");
        }
        return text;
    }

    static String findChromium() {
        for (String c : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
            if (Files.isExecutable(Path.of(c))) {
                return c;
            }
        }
        return null;
    }

    @Test
    void metadataRoundTripKeepsHistoryForEvaluateReports() {
        BundleMetadata m = trained.metadata();
        assertEquals(2, Reports.history(m).size(), "cnn train stores the epoch history in the bundle");
    }
}
