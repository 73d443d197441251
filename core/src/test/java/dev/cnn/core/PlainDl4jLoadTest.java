package dev.cnn.core;

import dev.cnn.zoo.ModelRegistry;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The claim of {@link ModelBundle}'s javadoc: a bundle loads in plain DL4J, checked in a separate JVM whose class path
 * holds the DL4J, ND4J and JavaCPP jars of this test's class path and none of this project's classes. And what the
 * stored configuration leaves out for that, the learning-rate schedule, comes back when a run resumes.
 */
class PlainDl4jLoadTest {
    /** The child: loads each bundle with ModelSerializer (updater included) and prints what the test compares. */
    private static final String PROGRAM = """
            import java.io.File;
            import org.deeplearning4j.nn.conf.layers.BaseLayer;
            import org.deeplearning4j.nn.graph.ComputationGraph;
            import org.deeplearning4j.util.ModelSerializer;
            import org.nd4j.linalg.api.ndarray.INDArray;
            import org.nd4j.linalg.factory.Nd4j;

            public class Program {
                public static void main(String[] args) throws Exception {
                    try {
                        Class.forName("dev.cnn.core.LrSchedule");
                        System.out.println("this project's classes are on the class path");
                        System.exit(3);
                    } catch (ClassNotFoundException expected) {
                        // plain DL4J
                    }
                    for (String arg : args) { // "n,c,h,w@bundle.zip"
                        String[] dims = arg.substring(0, arg.indexOf('@')).split(",");
                        long[] shape = new long[dims.length];
                        for (int i = 0; i < dims.length; i++) {
                            shape[i] = Long.parseLong(dims[i]);
                        }
                        ComputationGraph g = ModelSerializer.restoreComputationGraph(
                                new File(arg.substring(arg.indexOf('@') + 1)), true);
                        INDArray y = g.outputSingle(false, input(shape));
                        StringBuilder b = new StringBuilder("OUT");
                        for (float v : y.dup().data().asFloat()) {
                            b.append(' ').append(v);
                        }
                        System.out.println(b);
                        System.out.println("COUNTS " + g.getConfiguration().getIterationCount() + " "
                                + g.getConfiguration().getEpochCount());
                        for (var layer : g.getLayers()) {
                            if (layer.conf().getLayer() instanceof BaseLayer l && l.getIUpdater().hasLearningRate()) {
                                System.out.println("LR " + l.getIUpdater().getLearningRate(
                                        g.getConfiguration().getIterationCount(), g.getConfiguration().getEpochCount()));
                                break;
                            }
                        }
                        INDArray s = g.getUpdater() == null ? null : g.getUpdater().getStateViewArray();
                        System.out.println("STATE " + checksum(s));
                    }
                }

                static INDArray input(long[] shape) {
                    long n = shape[0] * shape[1] * shape[2] * shape[3];
                    float[] x = new float[(int) n];
                    for (int i = 0; i < n; i++) {
                        x[i] = (float) (0.5 + 0.5 * Math.sin(0.37 * i));
                    }
                    return Nd4j.create(x, shape, 'c');
                }

                /** Sum of value times (position + 1): changes when the state is laid out in another order. */
                static double checksum(INDArray s) {
                    if (s == null || s.length() == 0) {
                        return 0;
                    }
                    double sum = 0;
                    float[] v = s.dup().data().asFloat();
                    for (int i = 0; i < v.length; i++) {
                        sum += v[i] * (double) (i + 1);
                    }
                    return sum;
                }
            }
            """;

    @Test
    void bundlesLoadInPlainDl4jWithOnlyItsJarsOnTheClassPath(@TempDir Path dir) throws Exception {
        TrainConfig cfg = TrainerTest.config(dir, 3).toBuilder().schedule(LrSchedule.Kind.COSINE).build();
        ToyData data = new ToyData(48, 0, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), TrainerTest.SPEC, cfg,
                data.batchesPerEpoch());
        DataSetIterator it = data.train(0);
        for (int i = 0; i < 2 && it.hasNext(); i++) {
            net.fit(it.next());
        }
        String liveJson = net.getConfiguration().toJson();
        assertTrue(liveJson.contains("dev.cnn.core.LrSchedule"), "the live network trains on this project's schedule");

        Path bundle = dir.resolve("model.zip");
        Path checkpoint = dir.resolve("last.zip");
        new ModelBundle(net, TrainerTest.meta()).save(bundle, false);
        new ModelBundle(net, TrainerTest.meta()).save(checkpoint, true);
        assertEquals(liveJson, net.getConfiguration().toJson(), "saving leaves the live configuration alone");
        // a residual network too (element-wise vertices, global pooling), straight from Networks.forTraining
        ComputationGraph resnet = Networks.forTraining(ModelRegistry.get("resnet18"),
                dev.cnn.zoo.ModelSpec.builder().numClasses(3).input(3, 32, 32).seed(2).build(), cfg, 10);
        Path resnetBundle = dir.resolve("resnet18.zip");
        new ModelBundle(resnet, BundleMetadata.of("resnet18", List.of("a", "b", "c"), dev.cnn.data.Preprocess.builder()
                .size(3, 32, 32).normalization(dev.cnn.data.Normalization.unit()).build(), null))
                .save(resnetBundle, false);

        int iteration = net.getConfiguration().getIterationCount();
        double lrNow = Optimizers.schedule(cfg, data.batchesPerEpoch()).valueAt(iteration, 0);
        for (Path f : List.of(bundle, checkpoint, resnetBundle)) {
            String json = entry(f, "configuration.json");
            assertFalse(json.contains("dev.cnn."), f + ": " + PortableConfiguration.foreignClasses(json));
            assertEquals(Set.of(), PortableConfiguration.foreignClasses(json));
        }

        long[] shape = {2, 1, ToyData.SIZE, ToyData.SIZE};
        long[] resnetShape = {1, 3, 32, 32};
        float[] expected = output(ModelBundle.load(bundle, false).network(), shape);
        assertArrayClose(output(net, shape), expected, "the project's loaded bundle");
        float[] expectedResnet = output(ModelBundle.load(resnetBundle, false).network(), resnetShape);

        long t0 = System.nanoTime();
        List<String> out = runPlainDl4j(dir, arg(shape, bundle), arg(shape, checkpoint),
                arg(resnetShape, resnetBundle));
        System.out.printf("plain DL4J JVM: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        List<String> outs = out.stream().filter(l -> l.startsWith("OUT ")).toList();
        assertEquals(3, outs.size(), String.join("\n", out));
        assertArrayClose(expected, floats(outs.get(0)), "plain DL4J's output of the bundle");
        assertArrayClose(expected, floats(outs.get(1)), "plain DL4J's output of the checkpoint");
        assertArrayClose(expectedResnet, floats(outs.get(2)), "plain DL4J's output of resnet18");
        // the counters travel; the fixed rate is the schedule's rate for the next step
        List<String> counts = out.stream().filter(l -> l.startsWith("COUNTS ")).toList();
        assertEquals(List.of("COUNTS " + iteration + " 0", "COUNTS " + iteration + " 0", "COUNTS 0 0"), counts);
        List<String> lrs = out.stream().filter(l -> l.startsWith("LR ")).toList();
        assertEquals(lrNow, Double.parseDouble(lrs.get(0).substring(3)), 1e-12 * lrNow, lrs.get(0));
        assertEquals(lrNow, Double.parseDouble(lrs.get(1).substring(3)), 1e-12 * lrNow, lrs.get(1));
        // the optimizer state reads back in the same layout (the checkpoint only; the bundles have none)
        List<String> states = out.stream().filter(l -> l.startsWith("STATE ")).toList();
        double want = checksum(net.getUpdater().getStateViewArray());
        assertTrue(want != 0);
        assertEquals(want, Double.parseDouble(states.get(1).substring(6)), 1e-6 * Math.abs(want));
    }

    /**
     * Every zoo architecture is saved naming DL4J's classes only, except the operations DL4J lacks: those name the
     * zoo's {@code dev.cnn.zoo.layers} classes and nothing else of this project (that package depends on DL4J only),
     * and the architectures built from DL4J's layers alone (the ResNets, VGG, DenseNet, ...) name none.
     */
    @Test
    void everyZooArchitectureIsSavedWithDl4jClassesOnly() {
        for (TrainConfig.Optimizer o : TrainConfig.Optimizer.values()) {
            TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(4).lr(1e-3).optimizer(o).momentum(0.9)
                    .nesterov(true).weightDecay(1e-4).schedule(LrSchedule.Kind.STEP).warmupEpochs(1)
                    .output(Path.of("unused.zip")).build();
            for (dev.cnn.zoo.Architecture a : ModelRegistry.all()) {
                int size = Math.max(a.minInputSize(), 32);
                var conf = a.configuration(dev.cnn.zoo.ModelSpec.builder().numClasses(5).input(3, size, size).build());
                var updater = Optimizers.updater(cfg, Optimizers.schedule(cfg, 3)); // as Networks.forTraining
                Optimizers.apply(conf, name -> updater.clone(), Optimizers.regularization(cfg));
                conf.setIterationCount(7);
                conf.setEpochCount(1);
                assertTrue(conf.toJson().contains("dev.cnn.core.LrSchedule"), a.name());
                String json = PortableConfiguration.json(new ComputationGraph(conf), null); // not initialised: cheap
                Set<String> foreign = PortableConfiguration.foreignClasses(json);
                assertTrue(foreign.stream().allMatch(c -> c.startsWith("dev.cnn.zoo.layers.")), a.name() + ", " + o
                        + ": " + foreign);
                if (a.name().matches("(alexnet.*|vgg.*|resnet\\d+|densenet.*|googlenet|inception_v3|squeezenet.*"
                        + "|wide_resnet50_2|lenet|simplecnn|mnist_cnn|plain\\d+)")) {
                    assertEquals(Set.of(), foreign, a.name() + ", " + o);
                }
                var back = org.deeplearning4j.nn.conf.ComputationGraphConfiguration.fromJson(json);
                assertEquals(7, back.getIterationCount(), a.name());
                assertEquals(1, back.getEpochCount(), a.name());
            }
        }
    }

    private static String arg(long[] shape, Path file) {
        StringBuilder b = new StringBuilder();
        for (long s : shape) {
            b.append(b.length() == 0 ? "" : ",").append(s);
        }
        return b.append('@').append(file).toString();
    }

    private static float[] output(ComputationGraph g, long[] shape) {
        return g.outputSingle(false, input(shape)).dup().data().asFloat();
    }

    private static float[] floats(String outLine) {
        String[] v = outLine.substring(4).trim().split(" ");
        float[] got = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            got[i] = Float.parseFloat(v[i]);
        }
        return got;
    }

    @Test
    void resumeRestoresTheScheduleOnTheUpdatersInUse(@TempDir Path dir) throws Exception {
        TrainConfig cfg = TrainerTest.config(dir, 3).toBuilder().schedule(LrSchedule.Kind.COSINE).build();
        ToyData data = new ToyData(48, 0, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), TrainerTest.SPEC, cfg,
                data.batchesPerEpoch());
        net.fit(data.train(0).next());
        Path ckpt = dir.resolve("last.zip");
        new ModelBundle(net, TrainerTest.meta()).save(ckpt, true);

        ComputationGraph back = ModelBundle.load(ckpt, true).network();
        BaseLayer conv = (BaseLayer) back.getLayer("conv1").conf().getLayer();
        assertEquals(null, ((org.nd4j.linalg.learning.config.Adam) conv.getIUpdater()).getLearningRateSchedule(),
                "the checkpoint holds a fixed rate");
        Optimizers.restoreSchedule(back, cfg, data.batchesPerEpoch());
        LrSchedule want = Optimizers.schedule(cfg, data.batchesPerEpoch());
        for (var b : back.getUpdater().getUpdaterBlocks()) {
            var u = b.getGradientUpdater().getConfig();
            if (u.hasLearningRate()) {
                for (int i : new int[]{1, 5, 7}) {
                    assertEquals(want.valueAt(i, 0), u.getLearningRate(i, 0), 0.0, "block of "
                            + b.getLayersAndVariablesInBlock().get(0).getParamName());
                }
            }
        }
        // and it trains on as the original does
        DataSetIterator it = data.train(0);
        it.next();
        DataSet next = it.next();
        net.fit(next);
        back.fit(next);
        assertTrue(net.params().equalsWithEps(back.params(), 1e-6), "same step after resume");
        assertEquals(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray());
    }

    @Test
    void aResumedRunContinuesTheScheduleToTheSameWeights(@TempDir Path dir) throws Exception {
        ToyData data = new ToyData(48, 0, 16, 9); // no validation: a run ends with its last step's weights
        TrainConfig full = TrainerTest.config(dir.resolve("full"), 2);
        Trainer.Result whole = new Trainer(full, null).fit(Networks.forTraining(ModelRegistry.get("simplecnn"),
                TrainerTest.SPEC, full, data.batchesPerEpoch()), TrainerTest.meta(), data);

        TrainConfig cfg = TrainerTest.config(dir.resolve("cut"), 2);
        Trainer first = new Trainer(cfg, null);
        first.requestStop(); // as Ctrl-C during the first batch would: stops in the warm-up, iteration 1
        Trainer.Result cut = first.fit(Networks.forTraining(ModelRegistry.get("simplecnn"), TrainerTest.SPEC, cfg,
                data.batchesPerEpoch()), TrainerTest.meta(), data);
        assertEquals(Trainer.Status.INTERRUPTED, cut.status());
        ModelBundle ckpt = ModelBundle.load(cut.lastCheckpoint(), true);
        // what the resume path does (again inside Trainer.fit for a checkpoint; twice is the same)
        Optimizers.restoreSchedule(ckpt.network(), cfg, data.batchesPerEpoch());
        Trainer.Result resumed = new Trainer(cfg, null).fit(ckpt.network(), ckpt.metadata(), data);
        assertEquals(Trainer.Status.COMPLETED, resumed.status());
        assertTrue(whole.bundle().network().params().equalsWithEps(resumed.bundle().network().params(), 1e-6),
                "resumed weights equal the uninterrupted run's");
        // what Trainer writes is DL4J's only, without the engine's training-time settings
        for (Path f : List.of(cfg.output(), cut.lastCheckpoint(), resumed.lastCheckpoint())) {
            String json = entry(f, "configuration.json");
            assertEquals(Set.of(), PortableConfiguration.foreignClasses(json), f.toString());
            assertFalse(json.matches("(?s).*\"cudnnAllowFallback\"\\s*:\\s*false.*"), f.toString());
        }
    }

    @Test
    void checkpointsKeepTheUpdaterBlocksWhenTwoSchedulesMeet(@TempDir Path dir) throws Exception {
        TrainConfig cfg = TrainerTest.config(dir, 1).toBuilder().schedule(LrSchedule.Kind.COSINE).build();
        ToyData data = new ToyData(32, 0, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), TrainerTest.SPEC, cfg,
                data.batchesPerEpoch());
        // bn1 on another rate than conv1 before it: two neighbouring updater blocks (discriminative rates do this)
        ((BaseLayer) net.getLayer("bn1").conf().getLayer()).setIUpdater(org.nd4j.linalg.learning.config.Adam.builder()
                .learningRateSchedule(new LrSchedule(1e-2, LrSchedule.Kind.COSINE, 0, 2, 1, 1)).build());
        net.fit(data.train(0).next());
        net.getConfiguration().setIterationCount(100); // both cosine schedules ended: both rates are 0 now
        Path ckpt = dir.resolve("last.zip");
        new ModelBundle(net, TrainerTest.meta()).save(ckpt, true);
        assertEquals(Set.of(), PortableConfiguration.foreignClasses(entry(ckpt, "configuration.json")));

        ComputationGraph back = org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(ckpt.toFile(), true);
        assertEquals(blocks(net), blocks(back), "the stored state is read in the layout it was written in");
        assertEquals(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray());
    }

    private static List<String> blocks(ComputationGraph g) {
        return g.getUpdater().getUpdaterBlocks().stream().map(b -> b.getLayersAndVariablesInBlock().stream()
                .map(p -> p.getLayer().getConfig().getLayerName() + "." + p.getParamName()).toList().toString()).toList();
    }

    /** Starts {@code java Program.java} with only DL4J's jars; returns its output lines (exit 0 asserted). */
    private static List<String> runPlainDl4j(Path dir, String... args) throws Exception {
        Path src = dir.resolve("Program.java");
        Files.writeString(src, PROGRAM, StandardCharsets.UTF_8);
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("-cp");
        cmd.add(String.join(File.pathSeparator, dl4jClassPath()));
        for (String p : List.of("org.bytedeco.javacpp.platform.extension", "org.eclipse.deeplearning4j.helpers.disable",
                "org.bytedeco.javacpp.maxbytes", "org.bytedeco.javacpp.maxphysicalbytes")) {
            String v = System.getProperty(p);
            if (v != null) {
                cmd.add("-D" + p + "=" + v);
            }
        }
        cmd.add("-Xmx1g");
        cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
        cmd.add(src.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] bytes = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "plain DL4J JVM finished");
        String text = new String(bytes, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "plain DL4J JVM failed:\n" + text);
        return text.lines().toList();
    }

    /**
     * This test's class path without this project's classes: its {@code target/classes} and {@code
     * target/test-classes} folders and {@code cnn-*} jars. Surefire's manifest-only booter jar is opened up.
     */
    static List<String> dl4jClassPath() throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> entries = new ArrayList<>();
        for (String e : cp.split(File.pathSeparator)) {
            if (e.isEmpty()) {
                continue;
            }
            if (e.contains("surefirebooter") && e.endsWith(".jar")) {
                try (JarFile j = new JarFile(e)) {
                    String m = j.getManifest().getMainAttributes().getValue("Class-Path");
                    for (String u : m == null ? new String[0] : m.trim().split("\\s+")) {
                        entries.add(Path.of(java.net.URI.create(u)).toString());
                    }
                }
            } else {
                entries.add(e);
            }
        }
        List<String> out = new ArrayList<>();
        for (String e : entries) {
            Path p = Path.of(e);
            String name = p.getFileName() == null ? "" : p.getFileName().toString();
            boolean ours = e.replace('\\', '/').matches(".*/target/(test-)?classes/?")
                    || (name.startsWith("cnn-") && name.endsWith(".jar"));
            if (!ours) {
                out.add(e);
            }
        }
        assertTrue(out.stream().anyMatch(e -> e.contains("deeplearning4j-nn")), "DL4J on the class path: " + out);
        assertFalse(out.stream().anyMatch(e -> e.contains("dev/cnn") || e.contains("dev\\cnn")), out.toString());
        return out;
    }

    private static String entry(Path zip, String name) throws Exception {
        try (ZipFile z = new ZipFile(zip.toFile())) {
            return new String(z.getInputStream(z.getEntry(name)).readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The child's input: the same formula. */
    private static INDArray input(long[] shape) {
        long n = shape[0] * shape[1] * shape[2] * shape[3];
        float[] x = new float[(int) n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (0.5 + 0.5 * Math.sin(0.37 * i));
        }
        return Nd4j.create(x, shape, 'c');
    }

    private static double checksum(INDArray s) {
        double sum = 0;
        float[] v = s.dup().data().asFloat();
        for (int i = 0; i < v.length; i++) {
            sum += v[i] * (double) (i + 1);
        }
        return sum;
    }

    private static void assertArrayClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5, what + " [" + i + "]");
        }
    }
}
