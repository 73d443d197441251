package dev.cnn.core;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    static final ModelSpec SPEC = ModelSpec.builder().numClasses(4).input(1, ToyData.SIZE, ToyData.SIZE).seed(1).build();

    static BundleMetadata meta() {
        return new BundleMetadata(1, "simplecnn", ToyData.labels(), 1, ToyData.SIZE, ToyData.SIZE,
                dev.cnn.data.Preprocess.builder().size(1, ToyData.SIZE, ToyData.SIZE).normalization(dev.cnn.data.Normalization.unit()).build(),
                Provenance.of("toy", 0, "none", null, null, 96, 32, null, null), null);
    }

    static TrainConfig config(Path dir, int epochs) {
        return TrainConfig.builder().epochs(epochs).batchSize(16).lr(3e-3).seed(5).output(dir.resolve("model.zip"))
                .warmupEpochs(0.5).build();
    }

    static Trainer.Result train(Path dir, int epochs, Trainer.Callback l) {
        TrainConfig cfg = config(dir, epochs);
        ToyData data = new ToyData(96, 32, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg,
                data.batchesPerEpoch());
        return new Trainer(cfg, l).fit(net, meta(), data);
    }

    @Test
    void learnsWritesBundleAndCheckpoints(@TempDir Path dir) throws Exception {
        Trainer.Result r = train(dir, 4, null);
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertEquals(4, r.history().size());
        assertTrue(r.history().get(3).top1() > 0.9, "toy task learned: " + r.history());
        assertTrue(r.history().get(3).trainLoss() < r.history().get(0).trainLoss());
        Path model = dir.resolve("model.zip");
        assertTrue(Files.isRegularFile(model));
        assertTrue(Files.isRegularFile(dir.resolve("model.zip.checkpoints/last.zip")));
        assertTrue(Files.isRegularFile(dir.resolve("model.zip.checkpoints/best.zip")));
        // no temp files left behind
        try (var s = Files.list(dir)) {
            assertEquals(List.of("model.zip", "model.zip.checkpoints"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        ModelBundle b = ModelBundle.load(model, false);
        assertEquals(ToyData.labels(), b.metadata().labels());
        assertEquals("simplecnn", b.metadata().architecture());
        assertNotNull(b.metadata().provenance().result().metrics());
        // plain DL4J still loads it
        ComputationGraph plain = ModelSerializer.restoreComputationGraph(model.toFile(), false);
        assertEquals(b.network().params(), plain.params());
    }

    @Test
    void userCallbacksSeeEveryEpochAndCanEndTheRun(@TempDir Path dir) {
        List<Integer> epochs = new java.util.ArrayList<>();
        Trainer.Result r = train(dir, 5, new Trainer.Callback() {
            @Override
            public void onEpochEnd(Trainer.Loop loop, EpochStats stats) {
                epochs.add(stats.epoch());
                if (stats.epoch() == 2) {
                    loop.stop(Trainer.Status.EARLY_STOPPED, "enough after two");
                }
            }
        });
        assertEquals(List.of(1, 2), epochs);
        assertEquals(Trainer.Status.EARLY_STOPPED, r.status());
        assertEquals("enough after two", r.message());
        assertEquals(2, r.history().size());
        assertEquals("early_stopped", r.bundle().metadata().provenance().result().status());
        assertTrue(Files.isRegularFile(dir.resolve("model.zip")), "the model is written as after early stopping");
    }

    @Test
    void theTrainingLossIsTheDataLossWithoutTheWeightPenalty(@TempDir Path dir) {
        double[] loss = new double[2];
        double[] penalty = new double[2];
        for (int i = 0; i < 2; i++) {
            TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(16).lr(1e-7).seed(5).weightDecay(i)
                    .output(dir.resolve("model" + i + ".zip")).build();
            ToyData data = new ToyData(64, 16, 16, 9);
            ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg,
                    data.batchesPerEpoch());
            penalty[i] = net.calcRegularizationScore(true);
            loss[i] = new Trainer(cfg).fit(net, meta(), data).history().get(0).trainLoss();
        }
        assertEquals(0, penalty[0]);
        assertTrue(penalty[1] > 10 * loss[0], "weight decay 1 adds a penalty far above the loss: " + penalty[1]);
        // the same initial weights and batches, and a rate too small to move them: the same data loss
        assertEquals(loss[0], loss[1], 1e-3 * loss[0], "train loss with weight decay 1: " + loss[1]);
    }

    @Test
    void anOutputThatCannotBeWrittenIsADataErrorNamingWhatIsIntact(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("blocked"), "a file where the output's folder should be");
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(16).lr(3e-3).seed(5)
                .output(dir.resolve("blocked/model.zip")).checkpointDir(dir.resolve("ckpt")).build();
        ToyData data = new ToyData(32, 16, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg, data.batchesPerEpoch());
        CnnException e = assertThrows(CnnException.class, () -> new Trainer(cfg).fit(net, meta(), data));
        assertEquals(CnnException.DATA, e.exitCode(), e.getMessage());
        assertTrue(e.getMessage().contains("cannot write " + dir.resolve("blocked/model.zip")), e.getMessage());
        assertTrue(e.getMessage().contains("intact: " + dir.resolve("ckpt/last.zip")) && e.getMessage().contains(
                "--resume"), e.getMessage());
        // a full disk says so
        CnnException full = Trainer.writeError(dir.resolve("m.zip"), new java.io.IOException("No space left on device"),
                dir.resolve("ckpt"));
        assertTrue(full.getMessage().startsWith("no space left on " + dir), full.getMessage());
    }

    @Test
    void epochsThatTieOnTop1AreDecidedByValidationLoss(@TempDir Path dir) {
        Trainer.Result r = train(dir, 6, null);
        double top = r.history().stream().mapToDouble(EpochStats::top1).max().orElseThrow();
        List<EpochStats> tied = r.history().stream().filter(e -> e.top1() == top).toList();
        assertTrue(tied.size() >= 2, "the toy task ties at its best top-1: " + r.history());
        EpochStats lowest = tied.stream().min(java.util.Comparator.comparingDouble(EpochStats::valLoss)).orElseThrow();
        assertEquals(lowest.epoch(), r.bundle().metadata().provenance().result().selectedEpoch(), "" + r.history());
        EpochStats lastBest = r.history().stream().filter(EpochStats::best).reduce((x, y) -> y).orElseThrow();
        assertEquals(lowest.epoch(), lastBest.epoch());
    }

    @Test
    void sameSeedSameWeights(@TempDir Path dir) {
        Trainer.Result a = train(dir.resolve("a"), 2, null);
        Trainer.Result b = train(dir.resolve("b"), 2, null);
        assertEquals(a.bundle().network().params(), b.bundle().network().params());
    }

    @Test
    void resumeAfterInterruptEqualsUninterruptedRun(@TempDir Path dir) {
        Trainer.Result full = train(dir.resolve("full"), 3, null);

        Path d = dir.resolve("cut");
        TrainConfig cfg = config(d, 3);
        ToyData data = new ToyData(96, 32, 16, 9);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg, data.batchesPerEpoch());
        Trainer[] holder = new Trainer[1];
        holder[0] = new Trainer(cfg, new Trainer.Callback() {
            @Override
            public void onBatchEnd(Trainer.Loop loop) {
                if (loop.epoch() == 1 && loop.batch() == 3) {
                    holder[0].requestStop(); // as Ctrl-C would, mid-epoch
                }
            }
        });
        Trainer.Result cut = holder[0].fit(net, meta(), data);
        assertEquals(Trainer.Status.INTERRUPTED, cut.status());
        assertTrue(cut.message().contains("--resume"));

        ModelBundle ckpt = ModelBundle.load(cut.lastCheckpoint(), true);
        assertEquals(1, ckpt.metadata().training().epoch());
        assertEquals(3, ckpt.metadata().training().batch());
        Trainer.Result resumed = new Trainer(cfg, null).fit(ckpt.network(), ckpt.metadata(), data);
        assertEquals(Trainer.Status.COMPLETED, resumed.status());
        assertEquals(3, resumed.history().size());
        assertTrue(full.bundle().network().params().equalsWithEps(resumed.bundle().network().params(), 1e-6),
                "resumed weights equal the uninterrupted run");
    }

    @Test
    void nanLossStopsWithClearMessage(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(2).batchSize(16).lr(9.9).optimizer(TrainConfig.Optimizer.SGD)
                .momentum(0).seed(1).output(dir.resolve("m.zip")).build();
        ToyData data = new ToyData(64, 16, 16, 3);
        // poison a batch: Inf in the input makes the loss non-finite
        data.train.get(5).getFeatures().putScalar(0, Double.POSITIVE_INFINITY);
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg, data.batchesPerEpoch());
        Trainer.Result r = new Trainer(cfg, null).fit(net, meta(), data);
        assertEquals(Trainer.Status.DIVERGED, r.status());
        assertTrue(r.message().contains("lower --lr"), r.message());
    }

    @Test
    void configValidatesOptions() {
        CnnException e = assertThrows(CnnException.class, () -> TrainConfig.builder().epochs(0).build());
        assertEquals(CnnException.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains("--epochs"));
        assertThrows(CnnException.class, () -> TrainConfig.builder().build()); // no output
        assertThrows(CnnException.class, () -> TrainConfig.builder().lr(-1).output(Path.of("x")).build());
    }

    @Test
    void scheduleWarmsUpAndDecays() {
        LrSchedule s = new LrSchedule(0.1, LrSchedule.Kind.COSINE, 10, 110, 1, 1);
        assertEquals(0.01, s.valueAt(0, 0), 1e-12);
        assertEquals(0.1, s.valueAt(10, 0), 1e-12);
        assertEquals(0.05, s.valueAt(60, 0), 1e-9);
        assertEquals(0.0, s.valueAt(110, 0), 1e-12);
        LrSchedule step = new LrSchedule(1, LrSchedule.Kind.STEP, 0, 100, 10, 0.5);
        assertEquals(0.25, step.valueAt(25, 0), 1e-12);
        assertNotEquals(s, step);
    }
}
