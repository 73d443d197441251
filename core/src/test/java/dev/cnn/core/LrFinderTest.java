package dev.cnn.core;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The learning-rate range test, on the toy task. */
class LrFinderTest {
    static final ModelSpec SPEC = ModelSpec.builder().numClasses(4).input(1, ToyData.SIZE, ToyData.SIZE).seed(1)
            .build();

    @Test
    void theRateGrowsExponentiallyAndTheSweepStopsWhenTheLossBlowsUp() {
        ToyData data = new ToyData(64, 0, 8, 3);
        TrainConfig cfg = TrainConfig.builder().epochs(1).batchSize(8).lr(1e-3)
                .output(java.nio.file.Path.of("unused.zip")).build();
        ComputationGraph net = Networks.forTraining(ModelRegistry.get("simplecnn"), SPEC, cfg, data.batchesPerEpoch());
        INDArray before = net.params().dup();
        List<Integer> steps = new ArrayList<>();
        LrFinder.Result r = LrFinder.run(net, data, 1e-6, 100, 60, steps::add);
        assertEquals(before, net.params(), "the network passed in is not trained");
        assertEquals(1e-6, r.lrs().get(0), 1e-12);
        double ratio = r.lrs().get(1) / r.lrs().get(0);
        for (int i = 2; i < r.lrs().size(); i++) {
            assertEquals(ratio, r.lrs().get(i) / r.lrs().get(i - 1), 1e-9, "exponential");
        }
        assertEquals(Math.pow(1e8, 1.0 / 59), ratio, 1e-9);
        assertTrue(r.diverged(), "a rate of 100 blows the loss up: " + r.losses());
        assertTrue(r.lrs().size() < 60 && r.lrs().size() > 20, "stopped early, after epochs were cycled: "
                + r.lrs().size());
        assertEquals(r.lrs().size(), steps.size());
        assertTrue(r.suggestion() > 1e-6 && r.suggestion() < 10, "suggestion " + r.suggestion());
        assertTrue(r.minOver10() < r.lrs().get(r.lrs().size() - 1));
    }

    @Test
    void theValleyIsTwoThirdsDownTheLongestFall() {
        List<Double> losses = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            losses.add(5.0); // flat
        }
        for (int i = 0; i < 30; i++) {
            losses.add(5.0 - 0.1 * i); // falling over indices 10..39
        }
        for (int i = 0; i < 10; i++) {
            losses.add(2.0 + i); // blow-up
        }
        int v = LrFinder.valley(losses);
        assertTrue(v >= 20 && v <= 26, "two thirds down the fall (fastai's rule), got " + v);
    }
}
