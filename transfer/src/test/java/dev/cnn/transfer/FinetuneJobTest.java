package dev.cnn.transfer;

import dev.cnn.core.EpochStats;
import dev.cnn.core.CnnException;
import dev.cnn.core.LrSchedule;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.GraphQueries;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End-to-end strategies of {@link FinetuneJob} on a small simplecnn base trained on the built-in shapes. */
class FinetuneJobTest {
    static final String BASE_DATA = "builtin:shapes?n=320&size=16&seed=1";
    static final String NEW_DATA = "builtin:shapes?n=160&size=16&seed=99";

    @TempDir
    static Path dir;
    static Path basePath;
    static ModelBundle base;

    @BeforeAll
    static void trainBase() {
        basePath = dir.resolve("base.zip");
        TrainConfig cfg = TrainConfig.builder().epochs(3).batchSize(32).lr(3e-3).schedule(LrSchedule.Kind.CONSTANT)
                .seed(5).output(basePath).build();
        TrainJob.run(new TrainJob.Request(BASE_DATA, "simplecnn", 16, 3, Preprocess.ResizePolicy.STRETCH, "unit",
                "none", 0.25, false, true, 1, cfg, null), null, null);
        base = ModelBundle.load(basePath, false);
    }

    static FinetuneJob.Request request(String name, FinetuneJob.Strategy s, String augment, boolean cache,
                                       String unfreezeFrom, int epochs) {
        return request(name, s, augment, cache, unfreezeFrom, epochs, 3e-3);
    }

    static FinetuneJob.Request request(String name, FinetuneJob.Strategy s, String augment, boolean cache,
                                       String unfreezeFrom, int epochs, double lr) {
        TrainConfig cfg = TrainConfig.builder().epochs(epochs).batchSize(32).lr(lr)
                .schedule(LrSchedule.Kind.CONSTANT).seed(11).output(dir.resolve(name + ".zip")).build();
        return new FinetuneJob.Request(NEW_DATA, basePath.toString(), null, s, null, unfreezeFrom, 1e-3, 1, cache,
                augment, 0.25, false, true, 1, cfg);
    }

    /** Layers of the base up to and including the cut. */
    static List<String> baseLayers(String cut) {
        Set<String> s = GraphQueries.ancestors(base.network(), cut);
        s.add(cut);
        List<String> out = new ArrayList<>();
        for (String n : GraphQueries.topologicalOrder(base.network())) {
            if (s.contains(n) && base.network().getVertex(n) != null && base.network().getVertex(n).hasLayer()
                    && base.network().getLayer(n).numParams() > 0) {
                out.add(n);
            }
        }
        return out;
    }

    static boolean sameParams(ComputationGraph a, ComputationGraph b, String layer) {
        Layer la = a.getLayer(layer);
        Layer lb = b.getLayer(layer);
        return la.params().equals(lb.params());
    }

    /** Runs {@code req}, stopping it (as Ctrl-C does) once {@code phase} has finished {@code epochs} epoch(s). */
    static FinetuneJob.Outcome interrupted(FinetuneJob.Request req, String phase, int epochs) {
        String[] current = {null};
        Trainer[] trainer = {null};
        FinetuneJob.Listener l = new FinetuneJob.Listener() {
            @Override
            public void onPhase(String name, String description) {
                current[0] = name;
            }

            @Override
            public void onEpochEnd(Trainer.Loop loop, EpochStats s) {
                if (phase.equals(current[0]) && s.epoch() == epochs) {
                    trainer[0].requestStop(); // honoured after the next batch
                }
            }
        };
        return FinetuneJob.run(req, l, t -> trainer[0] = t);
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} interrupted in phase {1}")
    @org.junit.jupiter.params.provider.CsvSource({"FEATURE_EXTRACTION,head", "FINETUNE,all", "GRADUAL,frozen",
            "GRADUAL,unfrozen"})
    void anInterruptedFinetuneResumesWhereItStoodAndWritesTheRunsOutput(FinetuneJob.Strategy s, String phase)
            throws Exception {
        String name = "resume-" + s.cliName() + "-" + phase;
        FinetuneJob.HeadOptions head = new FinetuneJob.HeadOptions(HeadSpec.Pooling.AVG, 8, 0.25);
        FinetuneJob.Request req = request(name, s, "none", true, null, 3).withHead(head);
        FinetuneJob.Request frozen2 = new FinetuneJob.Request(req.data(), req.base(), null, s, null, null, 1e-3, 2,
                true, "none", 0.25, false, true, 1, req.config()).withHead(head);
        FinetuneJob.Outcome first = interrupted(s == FinetuneJob.Strategy.GRADUAL ? frozen2 : req, phase, 1);
        assertEquals(Trainer.Status.INTERRUPTED, first.status());
        Path output = dir.resolve(name + ".zip");
        assertFalse(Files.exists(output), "an interrupted run writes no model");
        Path last = dir.resolve(name + ".zip.checkpoints" + (phase.equals("frozen") ? "/frozen" : "") + "/last.zip");
        assertTrue(Files.isRegularFile(last), last.toString());

        FinetuneJob.Outcome done = FinetuneJob.resume(new FinetuneJob.Resume(last, null, null, 1), null, null);
        assertEquals(Trainer.Status.COMPLETED, done.status(), done.message());
        assertTrue(Files.isRegularFile(output), "the run's own output");
        ModelBundle out = ModelBundle.load(output, false);
        assertEquals(List.of("circle", "cross", "square", "triangle"), out.metadata().labels());
        assertEquals(s.cliName(), out.metadata().provenance().transfer().strategy());
        List<String> phases = done.phases().stream().map(FinetuneJob.Phase::name).toList();
        // the resumed phase's history includes its epochs before the interruption; a gradual run's history has its
        // frozen phase's 2 epochs and the unfrozen phase's 3, whichever phase it was resumed in
        int before = s == FinetuneJob.Strategy.GRADUAL ? 2 : 0;
        int expectedEpochs = before + 3;
        assertEquals(expectedEpochs, done.history().size(), phases + " " + done.history());
        assertEquals(phase.equals("frozen") ? List.of("frozen", "unfrozen") : List.of(phase), phases);
        // the output's provenance: the head's shape, and every phase of the run with its head rate, including a
        // phase that ended before the checkpoint (gradual resumed in its unfrozen phase)
        var t = out.metadata().provenance().transfer();
        assertEquals(List.of("avg", 8, 0.25), List.of(t.headPool(), t.headHidden(), t.headDropout()));
        double lr = req.config().lr();
        assertEquals(s == FinetuneJob.Strategy.GRADUAL ? List.of(lr, lr / 5) : List.of(lr),
                t.phases().stream().map(dev.cnn.core.Provenance.Phase::headLr).toList(), t.phases().toString());
        assertEquals(s == FinetuneJob.Strategy.GRADUAL ? List.of("frozen", "unfrozen") : List.of(phase),
                t.phases().stream().map(dev.cnn.core.Provenance.Phase::name).toList());
        assertTrue(GraphQueries.frozenLayers(out.network()).isEmpty());
        // --epochs may change on resume: one more epoch of the same run
        FinetuneJob.Outcome more = FinetuneJob.resume(new FinetuneJob.Resume(
                dir.resolve(name + ".zip.checkpoints/last.zip"), 4, null, 1), null, null);
        assertEquals(Trainer.Status.COMPLETED, more.status(), more.message());
        assertEquals(before + 4, more.history().size(), more.history().toString());
        assertEquals(before + 4, more.history().get(before + 3).epoch());
        assertEquals(before + 4, ModelBundle.readMetadata(output).provenance().history().size());
    }

    @Test
    void theHeadTrainsSlowerByDefaultWhereItTrainsWithTheBaseFromTheFirstStep() {
        assertEquals(1e-2, FinetuneJob.Strategy.FEATURE_EXTRACTION.defaultHeadLr());
        assertEquals(1e-2, FinetuneJob.Strategy.GRADUAL.defaultHeadLr(), "its frozen epochs; a fifth once unfrozen");
        assertEquals(2e-3, FinetuneJob.Strategy.FINETUNE.defaultHeadLr());
        assertEquals(FinetuneJob.Strategy.GRADUAL.defaultHeadLr() / FinetuneJob.GRADUAL_OPEN_DIVISOR,
                FinetuneJob.Strategy.FINETUNE.defaultHeadLr(), 1e-15, "finetune's head as gradual's once unfrozen");
        assertEquals(2e-3, FinetuneJob.Strategy.FINETUNE.defaultHeadLr(1e-3));
        assertEquals(1e-2, FinetuneJob.Strategy.FINETUNE.defaultHeadLr(0), "a base that stands still: the head alone");
        assertEquals(1e-2, FinetuneJob.Strategy.GRADUAL.defaultHeadLr(1e-3));
    }

    @Test
    void aGradualRunResumedInItsUnfrozenPhaseKeepsTheRateItRanAt() throws Exception {
        String name = "resume-rate";
        FinetuneJob.Request req = request(name, FinetuneJob.Strategy.GRADUAL, "none", true, null, 3);
        assertEquals(Trainer.Status.INTERRUPTED, interrupted(req, "unfrozen", 1).status());
        // a checkpoint from before session 21, whose unfrozen phase trained the head at half the rate
        Path last = dir.resolve(name + ".zip.checkpoints/last.zip");
        ModelBundle ck = ModelBundle.load(last, true);
        dev.cnn.core.TrainingState st = ck.metadata().training();
        double half = req.config().lr() / 2;
        new ModelBundle(ck.network(), ck.metadata().withTraining(new dev.cnn.core.TrainingState(st.epoch(), st.batch(),
                st.history(), st.bestTop1(), st.badEpochs(), st.config().toBuilder().lr(half).output(dir.resolve(name + ".zip")).build(), st.output())))
                .save(last, true);
        FinetuneJob.Outcome done = FinetuneJob.resume(new FinetuneJob.Resume(last, null, null, 1), null, null);
        assertEquals(Trainer.Status.COMPLETED, done.status(), done.message());
        assertEquals(List.of(req.config().lr(), half), done.phaseRecords().stream().map(Provenance.Phase::headLr)
                .toList(), "the frozen phase's record from the checkpoint, the unfrozen one at its own rate");
        assertEquals(done.phaseRecords(), ModelBundle.readMetadata(dir.resolve(name + ".zip")).provenance().transfer()
                .phases());
    }

    /** The rate of each of {@code layers}, then of the output layer, in the live network at each epoch's start. */
    static FinetuneJob.Listener ratesAtEpochStart(List<String> layers, List<List<Double>> seen, Trainer[] trainer,
                                                  int stopAfter) {
        return new FinetuneJob.Listener() {
            @Override
            public void onEpochStart(Trainer.Loop loop) {
                ComputationGraph g = loop.network();
                List<Double> r = new ArrayList<>(layers.stream().map(n -> LearningRates.learningRate(g, n)).toList());
                r.add(LearningRates.learningRate(g, g.getConfiguration().getNetworkOutputs().get(0)));
                seen.add(r);
            }

            @Override
            public void onEpochEnd(Trainer.Loop loop, EpochStats s) {
                if (s.epoch() == stopAfter) {
                    trainer[0].requestStop();
                }
            }
        };
    }

    @Test
    void aBaseLrRangeTrainsTheBasesFirstLayerAtLoRisingToHiAtTheCutAndAResumeKeepsIt() throws Exception {
        String name = "base-range";
        FinetuneJob.Request req = request(name, FinetuneJob.Strategy.FINETUNE, "none", true, null, 2)
                .withBaseLr(1e-4, 1e-3);
        List<String> kept = baseLayers(GraphQueries.defaultCut(base.network())); // conv, batch norm, dense
        List<List<Double>> seen = new ArrayList<>();
        Trainer[] trainer = {null};
        FinetuneJob.Outcome first = FinetuneJob.run(req, ratesAtEpochStart(kept, seen, trainer, 1),
                t -> trainer[0] = t);
        assertEquals(Trainer.Status.INTERRUPTED, first.status());
        Path last = dir.resolve(name + ".zip.checkpoints/last.zip");
        int beforeResume = seen.size();
        FinetuneJob.Outcome done = FinetuneJob.resume(new FinetuneJob.Resume(last, null, null, 1),
                ratesAtEpochStart(kept, seen, trainer, 0), t -> trainer[0] = t);
        assertEquals(Trainer.Status.COMPLETED, done.status(), done.message());
        int n = kept.size();
        assertTrue(n >= 3, kept.toString());
        assertTrue(beforeResume >= 1 && seen.size() > beforeResume, seen.toString());
        for (List<Double> rates : seen) { // the run's epochs, then the resumed run's
            for (int i = 0; i < n; i++) {
                assertEquals(1e-4 * Math.pow(10, i / (double) (n - 1)), rates.get(i), 1e-12, kept.get(i));
            }
            assertEquals(req.config().lr(), rates.get(n), 1e-12, "the head at --lr");
        }
        for (EpochStats e : done.history()) { // the epoch line's rate is the head's, not the base's first layer's
            assertEquals(req.config().lr(), e.lr(), 1e-12, e.toString());
        }
        var t = ModelBundle.readMetadata(dir.resolve(name + ".zip")).provenance().transfer();
        assertEquals(List.of(1e-4, 1e-3), List.of(t.baseLrLow(), t.baseLr()));
        assertEquals("0.0001:0.001", req.baseLrText());
        assertThrows(CnnException.class, () -> req.withBaseLr(1e-3, 1e-4), "LO above HI");
        assertThrows(CnnException.class, () -> req.withBaseLr(-1e-4, 1e-3));
    }

    @Test
    void featureExtractionWithCacheKeepsEveryBaseParameterAndTrainsTheHead() {
        FinetuneJob.Outcome o = FinetuneJob.run(request("fe", FinetuneJob.Strategy.FEATURE_EXTRACTION, "none", true,
                null, 6, 2e-2), null, null);
        assertEquals(Trainer.Status.COMPLETED, o.status());
        assertTrue(o.phases().get(0).featureCache(), "feature cache used without augmentation");
        ModelBundle out = ModelBundle.load(dir.resolve("fe.zip"), false);
        List<String> kept = baseLayers(o.cut());
        assertFalse(kept.isEmpty());
        for (String n : kept) {
            assertTrue(sameParams(base.network(), out.network(), n), n + " changed under feature extraction");
        }
        // the head differs from its seeded initialisation
        ComputationGraph init = Heads.replaceHead(base.network(), o.cut(),
                HeadSpec.of(4).withSeed(11));
        assertFalse(init.getLayer("head").params().equals(out.network().getLayer("head").params()),
                "head trained");
        assertTrue(GraphQueries.frozenLayers(out.network()).isEmpty(), "the result is a plain trainable bundle");
        assertEquals(List.of("circle", "cross", "square", "triangle"), out.metadata().labels());
        assertEquals("feature-extraction", out.metadata().provenance().transfer().strategy());
        assertEquals(6, o.history().size());
        assertTrue(o.history().stream().mapToDouble(EpochStats::top1).max().orElse(0) > 0.4,
                "head beats chance (0.25) on the new task: " + o.history());
        assertTrue(o.history().get(5).valLoss() < 0.85 * o.history().get(0).valLoss(), "val loss falls: " + o.history());
        assertTrue(o.history().get(5).trainLoss() < o.history().get(0).trainLoss(), "loss falls: " + o.history());
    }

    @Test
    void aFlattenedHeadWithAHiddenLayerReadsEveryPositionOfTheCutAndTrainsOnCachedFeatures() {
        TrainConfig cfg = TrainConfig.builder().epochs(4).batchSize(32).lr(1e-2).schedule(LrSchedule.Kind.CONSTANT)
                .seed(11).output(dir.resolve("fe-flat.zip")).build();
        FinetuneJob.Request req = new FinetuneJob.Request(NEW_DATA, basePath.toString(), null,
                FinetuneJob.Strategy.FEATURE_EXTRACTION, "relu4", null, 1e-3, 1, true, "none", 0.25, false, true, 1,
                cfg).withHead(new FinetuneJob.HeadOptions(HeadSpec.Pooling.FLATTEN, 12, 0.25));
        FinetuneJob.Outcome o = FinetuneJob.run(req, null, null);
        assertEquals(Trainer.Status.COMPLETED, o.status());
        assertTrue(o.phases().get(0).featureCache(), "the frozen part's features are computed once");
        ModelBundle out = ModelBundle.load(dir.resolve("fe-flat.zip"), false);
        List<String> names = GraphQueries.layerNames(out.network());
        assertEquals(List.of("relu4", "head_fc", "head"), names.subList(names.size() - 3, names.size()),
                "no pooling layer between the cut and the hidden layer");
        // 16 px through three 2x2 poolings: 2 x 2 positions of 256 channels, all of them read
        var fc = (org.deeplearning4j.nn.conf.layers.DenseLayer) out.network().getLayer("head_fc").conf().getLayer();
        assertEquals(2 * 2 * 256, fc.getNIn());
        assertEquals(12, fc.getNOut());
        var t = out.metadata().provenance().transfer();
        assertEquals(List.of("flatten", 12, 0.25), List.of(t.headPool(), t.headHidden(), t.headDropout()),
                "the head's shape is in the provenance");
        assertEquals(1e-2, o.phases().get(0).record().headLr());
        for (String n : baseLayers("relu4")) {
            assertTrue(sameParams(base.network(), out.network(), n), n + " changed under feature extraction");
        }
        assertTrue(o.history().get(3).trainLoss() < o.history().get(0).trainLoss(), "loss falls: " + o.history());
        assertArrayEquals(new long[]{1, 4}, out.network().outputSingle(false,
                org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 3, 16, 16)).shape());
        assertThrows(CnnException.class, () -> new FinetuneJob.HeadOptions(HeadSpec.Pooling.AVG, -1, 0));
        assertThrows(CnnException.class, () -> new FinetuneJob.HeadOptions(HeadSpec.Pooling.AVG, 0, 1.0));
    }

    @Test
    void featureExtractionWithAugmentationRunsTheFrozenBaseInInferenceMode() {
        FinetuneJob.Outcome o = FinetuneJob.run(request("fe-aug", FinetuneJob.Strategy.FEATURE_EXTRACTION, "flip",
                true, null, 1), null, null);
        assertFalse(o.phases().get(0).featureCache());
        assertTrue(o.featureCacheNote().contains("--augment"), o.featureCacheNote());
        ModelBundle out = ModelBundle.load(dir.resolve("fe-aug.zip"), false);
        // batch-norm running statistics are parameters in DL4J: bit-for-bit equal means BN ran in inference mode
        for (String n : baseLayers(o.cut())) {
            assertTrue(sameParams(base.network(), out.network(), n), n + " changed");
        }
    }

    @Test
    void finetuneChangesTheBase() {
        FinetuneJob.Outcome o = FinetuneJob.run(request("ft", FinetuneJob.Strategy.FINETUNE, "none", true, null, 1),
                null, null);
        ModelBundle out = ModelBundle.load(dir.resolve("ft.zip"), false);
        List<String> kept = baseLayers(o.cut());
        long changed = kept.stream().filter(n -> !sameParams(base.network(), out.network(), n)).count();
        assertEquals(kept.size(), changed, "every base layer trained");
        assertFalse(o.phases().get(0).featureCache());
        assertEquals(out.network().numParams(), (long) o.phases().get(0).trainableParams(), "everything trainable");
    }

    @Test
    void unfreezeFromTrainsOnlyFromThatLayerUp() {
        List<String> kept = baseLayers(GraphQueries.defaultCut(base.network()));
        String from = kept.get(kept.size() - 2); // the last conv-bn pair of the base
        FinetuneJob.Outcome o = FinetuneJob.run(request("uf", FinetuneJob.Strategy.FINETUNE, "none", true, from, 1),
                null, null);
        ModelBundle out = ModelBundle.load(dir.resolve("uf.zip"), false);
        Set<String> above = GraphQueries.descendants(base.network(), from);
        above.add(from);
        for (String n : kept) {
            boolean same = sameParams(base.network(), out.network(), n);
            assertEquals(!above.contains(n), same, n + (same ? " unchanged" : " changed"));
        }
        assertEquals(from, out.metadata().provenance().transfer().unfreezeFrom());
        assertNotNull(o);
    }

    @Test
    void gradualTrainsTheHeadFirstThenEverything() {
        FinetuneJob.Outcome o = FinetuneJob.run(request("gr", FinetuneJob.Strategy.GRADUAL, "none", true, null, 1),
                null, null);
        assertEquals(2, o.phases().size());
        assertEquals(2, o.history().size(), "1 frozen + 1 unfrozen epoch");
        assertTrue(o.phases().get(0).featureCache());
        assertTrue(o.phases().get(1).trainableParams() > 10 * o.phases().get(0).trainableParams());
        ComputationGraph phase1 = o.phases().get(0).result().bundle().network();
        ModelBundle out = ModelBundle.load(dir.resolve("gr.zip"), false);
        for (String n : baseLayers(o.cut())) {
            assertTrue(sameParams(base.network(), phase1, n), n + " changed in the frozen phase");
            assertFalse(sameParams(base.network(), out.network(), n), n + " unchanged after unfreezing");
        }
    }

    @Test
    void onSmallDataOnlyPhasesThatTrainNoBatchNormTakeSmallerBatchesAndAResumeKeepsThem() {
        // 120 training images: the head on the frozen base in batches of 15 (8 steps), the batch-normalised base
        // in the configured 32 (4 steps)
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(32).lr(3e-3).schedule(LrSchedule.Kind.CONSTANT)
                .seed(11).output(dir.resolve("small.zip")).build();
        FinetuneJob.Request req = new FinetuneJob.Request(NEW_DATA, basePath.toString(), null,
                FinetuneJob.Strategy.GRADUAL, null, null, 1e-3, 2, true, "none", 0.25, false, true, 1, cfg, true);
        List<String> steps = new ArrayList<>();
        String[] current = {null};
        Trainer[] trainer = {null};
        FinetuneJob.Listener l = new FinetuneJob.Listener() {
            @Override
            public void onPhase(String name, String description) {
                current[0] = name;
            }

            @Override
            public void onEpochStart(Trainer.Loop loop) {
                steps.add(current[0] + ":" + loop.batchesPerEpoch());
            }

            @Override
            public void onEpochEnd(Trainer.Loop loop, EpochStats s) {
                if ("frozen".equals(current[0]) && s.epoch() == 1) {
                    trainer[0].requestStop();
                }
            }
        };
        assertEquals(Trainer.Status.INTERRUPTED, FinetuneJob.run(req, l, t -> trainer[0] = t).status());
        assertEquals(List.of("frozen:8", "frozen:8"), steps, "stopped in epoch 2's first batch");

        steps.clear();
        current[0] = "resumed";
        FinetuneJob.Outcome done = FinetuneJob.resume(new FinetuneJob.Resume(
                dir.resolve("small.zip.checkpoints/frozen/last.zip"), null, null, 1), l, t -> trainer[0] = t);
        assertEquals(Trainer.Status.COMPLETED, done.status(), done.message());
        assertEquals(List.of("frozen:8", "unfrozen:4", "unfrozen:4"), steps);
        Provenance p = ModelBundle.load(dir.resolve("small.zip"), false).metadata().provenance();
        assertEquals(32, p.config().batchSize());
        assertEquals(15, p.transfer().headBatchSize());
        assertEquals(List.of(15, 32), p.transfer().phases().stream().map(Provenance.Phase::batchSize).toList());
    }

    @Test
    void aFinetunedBundleIsAValidBaseAndClassifies() {
        FinetuneJob.run(request("first", FinetuneJob.Strategy.FEATURE_EXTRACTION, "none", true, null, 1), null, null);
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(32).lr(3e-3).seed(3)
                .output(dir.resolve("second.zip")).build();
        FinetuneJob.Outcome o = FinetuneJob.run(new FinetuneJob.Request(NEW_DATA, dir.resolve("first.zip").toString(),
                null, FinetuneJob.Strategy.FEATURE_EXTRACTION, null, null, 1e-4, 1, true, "none", 0.25, false, true, 1,
                cfg), null, null);
        ModelBundle second = ModelBundle.load(dir.resolve("second.zip"), false);
        INDArray x = org.nd4j.linalg.factory.Nd4j.rand(new int[]{2, 3, 16, 16});
        assertEquals(4, second.network().outputSingle(false, x).size(1));
        assertTrue(o.cut() != null && !o.cut().startsWith("head"), o.cut());
    }

    @Test
    void badCutAndUnfreezeNamesAreUsageErrors() {
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(32).lr(1e-3).output(dir.resolve("x.zip")).build();
        CnnException e = assertThrows(CnnException.class, () -> FinetuneJob.run(new FinetuneJob.Request(NEW_DATA,
                basePath.toString(), null, FinetuneJob.Strategy.FEATURE_EXTRACTION, "nope", null, 1e-4, 1, true,
                "none", 0.25, false, true, 1, cfg), null, null));
        assertEquals(CnnException.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains("--cut nope"), e.getMessage());
        assertEquals(CnnException.USAGE, assertThrows(CnnException.class, () -> FinetuneJob.run(
                new FinetuneJob.Request(NEW_DATA, basePath.toString(), null, FinetuneJob.Strategy.FINETUNE, null,
                        "head", 1e-4, 1, true, "none", 0.25, false, true, 1, cfg), null, null)).exitCode());
        assertEquals(CnnException.MODEL, assertThrows(CnnException.class, () -> FinetuneJob.run(
                new FinetuneJob.Request(NEW_DATA, "zoo:vgg16:imagenet", dir.resolve("missing.zip"),
                        FinetuneJob.Strategy.FINETUNE, null, null, 1e-4, 1, true, "none", 0.25, false, true, 1, cfg),
                null, null)).exitCode());
        assertEquals(CnnException.USAGE, assertThrows(CnnException.class, () -> FinetuneJob.Strategy.parse("half"))
                .exitCode());
    }
}
