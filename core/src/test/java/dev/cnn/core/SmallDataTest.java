package dev.cnn.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Defaults that keep small data trainable: enough optimizer steps per epoch. */
class SmallDataTest {
    @Test
    void aDefaultBatchShrinksSoThatAnEpochHasEightStepsButNotBelowEight() {
        assertEquals(8, TrainJob.smallDataBatch(32, 40));    // 10 images x 5 classes, 20% held out: 5 steps
        assertEquals(25, TrainJob.smallDataBatch(32, 200));  // 8 steps
        assertEquals(32, TrainJob.smallDataBatch(32, 256));
        assertEquals(32, TrainJob.smallDataBatch(32, 60_000));
        assertEquals(8, TrainJob.smallDataBatch(64, 12));
        assertEquals(4, TrainJob.smallDataBatch(4, 40), "a default below 8 stays");
    }

    @Test
    void aTrainingRequestWithoutABatchSizeTrainsSmallDataInSmallerBatches(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(64).lr(3e-3).seed(1)
                .output(dir.resolve("m.zip")).build();
        TrainJob.Outcome o = TrainJob.run(new TrainJob.Request("builtin:shapes?n=80&size=16", "simplecnn", 16, 3,
                dev.cnn.data.Preprocess.ResizePolicy.STRETCH, "unit", "none", 0.2, false, true, 1, cfg, null, true),
                null, null);
        assertEquals(64, o.trainImages());
        assertEquals(8, o.result().bundle().metadata().provenance().config().batchSize(),
                "64 images in batches of 64 would be one step an epoch");
        TrainJob.Outcome given = TrainJob.run(new TrainJob.Request("builtin:shapes?n=80&size=16", "simplecnn", 16, 3,
                dev.cnn.data.Preprocess.ResizePolicy.STRETCH, "unit", "none", 0.2, false, true, 1,
                cfg.toBuilder().output(dir.resolve("g.zip")).build(), null, false), null, null);
        assertEquals(64, given.result().bundle().metadata().provenance().config().batchSize(), "as given");
    }

    @Test
    void theDefaultSplitTrainsSmallDataOnEveryImageAndRecordsIt(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(16).lr(3e-3).seed(1)
                .output(dir.resolve("m.zip")).build();
        TrainJob.Outcome o = TrainJob.run(new TrainJob.Request("builtin:shapes?n=80&size=16", "simplecnn", 16, 3,
                dev.cnn.data.Preprocess.ResizePolicy.STRETCH, "unit", "none", dev.cnn.data.DataSource.AUTO_VAL_SPLIT,
                false, true, 1, cfg, null, true), null, null);
        assertEquals(80, o.trainImages(), "80 images in 4 classes: none held out");
        assertEquals(0, o.valImages());
        Provenance p = o.result().bundle().metadata().provenance();
        assertEquals(0.0, p.valSplit(), "the split taken, for --resume to take it again");
        assertEquals(1, p.result().selectedEpoch());
    }
}
