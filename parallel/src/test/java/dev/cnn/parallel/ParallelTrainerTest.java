package dev.cnn.parallel;

import dev.cnn.core.ModelBundle;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.data.Preprocess;
import dev.cnn.data.Shapes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two CPU workers under ParallelWrapper against one machine's trainer, on the same data and settings. */
class ParallelTrainerTest {
    private static final int EPOCHS = 10;

    private static TrainJob.Request request(Path out) {
        TrainConfig cfg = TrainConfig.builder().epochs(EPOCHS).batchSize(32).lr(3e-3).seed(7).output(out).build();
        return new TrainJob.Request("builtin:shapes?n=1600&size=32", "simplecnn", 32, 3,
                Preprocess.ResizePolicy.STRETCH, "unit", "none", 0.2, false, true, 1, cfg, null);
    }

    @Test
    void twoWorkersReachTheAccuracyOfOneAndWriteTheSameBundle(@TempDir Path dir) throws Exception {
        ParallelTrainer.Outcome two = ParallelTrainer.run(request(dir.resolve("two.zip")),
                new ParallelTrainer.Options(2, 1), null);
        TrainJob.Outcome one = TrainJob.run(request(dir.resolve("one.zip")), null, null);
        double twoTop1 = two.history().stream().mapToDouble(s -> s.top1()).max().orElseThrow();
        double oneTop1 = one.result().history().stream().mapToDouble(s -> s.top1()).max().orElseThrow();
        System.out.printf("two workers: best top-1 %.4f %s; one: %.4f%n", twoTop1,
                two.history().stream().map(s -> String.format("%.3f", s.top1())).toList(), oneTop1);
        assertEquals(EPOCHS, two.history().size());
        assertTrue(twoTop1 >= 0.85, "two workers' top-1 " + twoTop1);
        assertTrue(twoTop1 >= oneTop1 - 0.1, "two workers " + twoTop1 + " against one's " + oneTop1);
        ModelBundle b = ModelBundle.load(two.output(), false);
        assertEquals(Shapes.CLASSES, b.metadata().labels());
        assertEquals(one.result().bundle().metadata().preprocess(), b.metadata().preprocess());
        assertTrue(Files.isRegularFile(dir.resolve("two.zip.checkpoints").resolve("last.zip")));
        assertEquals(EPOCHS + 1, Files.readAllLines(dir.resolve("two.history.csv")).size());
    }
}
