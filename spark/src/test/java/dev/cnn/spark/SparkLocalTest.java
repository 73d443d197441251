package dev.cnn.spark;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.Json;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Networks;
import dev.cnn.core.Predictor;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.data.ImageDecoder;
import dev.cnn.data.ImageInputs;
import dev.cnn.data.Preprocess;
import dev.cnn.data.Shapes;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Spark training and classification in local mode (two worker threads), against the single-machine commands. */
class SparkLocalTest {
    private static final int EPOCHS = 10;
    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = Spark.context("local[2]", "cnn tests");
    }

    @AfterAll
    static void stop() {
        sc.close();
    }

    private static TrainJob.Request request(String data, Path out, int epochs, boolean strict) {
        TrainConfig cfg = TrainConfig.builder().epochs(epochs).batchSize(32).lr(3e-3).seed(7).output(out).build();
        return new TrainJob.Request(data, "simplecnn", 32, 3, Preprocess.ResizePolicy.STRETCH, "unit", "none", 0.2,
                strict, false, 1, cfg, null);
    }

    @Test
    void sparkTrainingOnShapesReachesTheAccuracyOfOneMachineAndWritesTheSameBundle(@TempDir Path dir)
            throws Exception {
        String data = "builtin:shapes?n=1600&size=32";
        List<Double> epochs = new ArrayList<>();
        SparkTrainer.Outcome spark = SparkTrainer.train(sc, request(data, dir.resolve("spark.zip"), EPOCHS, false),
                new SparkTrainer.Options("local[2]", 5), s -> epochs.add(s.top1()));
        TrainJob.Outcome local = TrainJob.run(request(data, dir.resolve("local.zip"), EPOCHS, false), null, null);
        // the best epoch's: with 1,280 images, single epochs of both swing by 0.1 and more
        double sparkTop1 = spark.history().stream().mapToDouble(s -> s.top1()).max().orElseThrow();
        double localTop1 = local.result().history().stream().mapToDouble(s -> s.top1()).max().orElseThrow();
        System.out.printf("spark top-1 %.4f (epochs %s), one machine %.4f%n", sparkTop1, epochs, localTop1);
        assertEquals(EPOCHS, epochs.size());
        assertEquals(2, spark.workers());
        assertEquals(1280, spark.trainImages());
        assertEquals(320, spark.valImages());
        assertTrue(sparkTop1 >= 0.85, "spark top-1 " + sparkTop1);
        assertTrue(sparkTop1 >= localTop1 - 0.1, "spark " + sparkTop1 + " against one machine's " + localTop1);
        // the same kind of bundle, checkpoints and history as cnn train
        ModelBundle b = ModelBundle.load(spark.output(), false);
        assertEquals(Shapes.CLASSES, b.metadata().labels());
        assertEquals("simplecnn", b.metadata().architecture());
        assertEquals(local.result().bundle().metadata().preprocess(), b.metadata().preprocess());
        assertTrue(Files.isRegularFile(dir.resolve("spark.zip.checkpoints").resolve("last.zip")));
        assertTrue(Files.isRegularFile(dir.resolve("spark.zip.checkpoints").resolve("best.zip")));
        assertEquals(EPOCHS, ModelBundle.load(dir.resolve("spark.zip.checkpoints").resolve("last.zip"), true).metadata()
                .training().epoch());
        assertTrue(Files.readString(dir.resolve("spark.history.csv")).lines().count() == EPOCHS + 1);

        // and it classifies the same through Spark as through cnn classify's code
        Path images = shapesFolder(dir.resolve("images"), 12);
        assertSameRecords(oneMachine(spark.output(), images), sparkRecords(spark.output(), images.toString()));
    }

    @Test
    void sparkClassificationOfAFolderWithBadFilesGivesTheSameRecordsAsOneMachine(@TempDir Path dir)
            throws Exception {
        Path model = untrained(dir.resolve("m.zip"));
        Path images = shapesFolder(dir.resolve("images"), 9);
        Files.write(images.resolve("empty.png"), new byte[0]);
        Files.writeString(images.resolve("notes.jpg"), "not an image");
        byte[] png = Files.readAllBytes(images.resolve("img00.png"));
        Files.write(images.resolve("truncated.png"), java.util.Arrays.copyOf(png, png.length / 3));
        List<String> local = oneMachine(model, images);
        List<String> spark = sparkRecords(model, images.toString());
        assertEquals(12, spark.size());
        assertEquals(3, spark.stream().filter(r -> r.contains("\"error\"")).count());
        assertSameRecords(local, spark);
        // the same folder as a file: URI, listed and read through Hadoop's file system
        List<String> uri = sparkRecords(model, images.toUri().toString());
        assertSameRecords(local.stream().map(r -> r.replaceAll("/tmp/[^\"]*/", "")).toList(),
                uri.stream().map(r -> r.replaceAll("file:/tmp/[^\"]*/", "")).toList());
        assertTrue(uri.get(0).contains("\"path\":\"file:"), uri.get(0));
    }

    @Test
    void aManifestOfUrisTrainsAndAStrictRunFailsOnABadImageNamingIt(@TempDir Path dir) throws Exception {
        Path images = shapesFolder(dir.resolve("images"), 40);
        StringBuilder csv = new StringBuilder("path,label\n");
        try (var s = Files.list(images)) {
            for (Path p : s.sorted().toList()) {
                int i = Integer.parseInt(p.getFileName().toString().replaceAll("\\D", ""));
                csv.append(p.toUri()).append(',').append(Shapes.CLASSES.get(i % 4)).append('\n');
            }
        }
        Path bad = images.resolve("zz-bad.png");
        Files.writeString(bad, "not an image");
        csv.append(bad.toUri()).append(",circle\n");
        Path manifest = dir.resolve("manifest.csv");
        Files.writeString(manifest, csv);
        SparkData d = SparkData.manifest(manifest.toUri().toString(), 0.2, 1);
        assertEquals(Shapes.CLASSES, d.classes());
        assertEquals(41, d.train().size() + d.validation().size());
        assertEquals(8, d.validation().size(), "a fifth of each class, rounded: 2 of 10, 2 of 11");

        // a plain list of URIs: the class is the folder each image is in
        Path classes = dir.resolve("by-class");
        StringBuilder list = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            Path f = classes.resolve(Shapes.CLASSES.get(i % 2)).resolve("i" + i + ".png");
            Files.createDirectories(f.getParent());
            Files.copy(images.resolve(String.format("img%02d.png", i)), f);
            list.append(f.toUri()).append('\n');
        }
        Files.writeString(dir.resolve("list.txt"), list);
        SparkData l = SparkData.manifest(dir.resolve("list.txt").toUri().toString(), 0.25, 1);
        assertEquals(List.of("circle", "cross"), l.classes());
        assertEquals(6, l.train().size());
        assertEquals(2, l.validation().size());
        assertEquals("circle", SparkData.parentName("hdfs://nn:8020/data/circle/x.png"));
        assertEquals(null, SparkData.parentName("hdfs://nn:8020/x.png"));

        String uri = "hdfs-like:" + manifest.toUri(); // not a scheme Hadoop knows: the manifest cannot be read
        CnnException e = assertThrows(CnnException.class, () -> SparkData.manifest(uri, 0.2, 1));
        assertEquals(CnnException.DATA, e.exitCode());

        SparkTrainer.Outcome o = SparkTrainer.train(sc, request(manifest.toUri().toString(), dir.resolve("u.zip"),
                1, false), new SparkTrainer.Options("local[2]", 2), null);
        assertEquals(1, o.skipped(), "the bad image is skipped and counted");
        assertTrue(Files.isRegularFile(dir.resolve("u.zip")));

        CnnException strict = assertThrows(CnnException.class, () -> SparkTrainer.train(sc,
                request(manifest.toUri().toString(), dir.resolve("s.zip"), 1, true),
                new SparkTrainer.Options("local[2]", 2), null));
        assertEquals(CnnException.DATA, strict.exitCode());
        assertTrue(strict.getMessage().contains("zz-bad.png") && !strict.getMessage().contains("\n"),
                strict.getMessage());
    }

    /**
     * The same records: paths, errors, labels and their order equal; probabilities within 1e-6 (batches are made
     * of other images in each, and a forward pass of another batch may round differently in the last bit).
     */
    private static void assertSameRecords(List<String> expected, List<String> actual) {
        assertEquals(expected.size(), actual.size());
        java.util.regex.Pattern prob = java.util.regex.Pattern.compile("\"probability\":([-0-9.eE]+)");
        for (int i = 0; i < expected.size(); i++) {
            String e = expected.get(i);
            String a = actual.get(i);
            assertEquals(e.replaceAll("\"probability\":[-0-9.eE]+", "P"), a.replaceAll("\"probability\":[-0-9.eE]+", "P"));
            var me = prob.matcher(e);
            var ma = prob.matcher(a);
            while (me.find() && ma.find()) {
                assertEquals(Double.parseDouble(me.group(1)), Double.parseDouble(ma.group(1)), 1e-6, a);
            }
        }
    }

    private static List<String> oneMachine(Path model, Path images) throws Exception {
        ModelBundle bundle = ModelBundle.load(model, false);
        Preprocess pre = bundle.metadata().preprocess();
        List<String> out = new ArrayList<>();
        new Predictor(bundle, f -> ImageDecoder.load(f, pre)).classify(ImageInputs.collect(List.of(images.toString())),
                3, 4, p -> out.add(Json.write(p.toMap())));
        return out;
    }

    private static List<String> sparkRecords(Path model, String input) {
        return SparkClassifier.jsonl(SparkClassifier.classify(sc, model, SparkClassifier.locations(List.of(input)),
                3, 4, 3)).collect();
    }

    private static Path shapesFolder(Path dir, int n) throws Exception {
        Files.createDirectories(dir);
        int i = 0;
        for (dev.cnn.data.Sample s : Shapes.generate(n, 40, 5)) {
            ImageIO.write(s.image(), "png", dir.resolve(String.format("img%02d.png", i++)).toFile());
        }
        return dir;
    }

    private static Path untrained(Path file) throws Exception {
        Preprocess pre = Preprocess.builder().size(3, 32, 32).normalization(dev.cnn.data.Normalization.unit()).build();
        var net = Networks.forTraining(ModelRegistry.get("simplecnn"),
                ModelSpec.builder().numClasses(4).input(3, 32, 32).seed(3).build(),
                TrainConfig.builder().output(file).build(), 1);
        new ModelBundle(net, BundleMetadata.of("simplecnn", Shapes.CLASSES, pre,
                Provenance.of("test", 0, "none", false, false, 0, 0, null, null))).save(file, false);
        return file;
    }
}
