package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.ScheduleType;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FastAdam must step exactly as ND4J's Adam op does, on DL4J's own state, and only while training. */
class FastAdamTest {

    private static void assertClose(INDArray expected, INDArray actual, String what) {
        assertClose(expected, actual, 5e-7, what); // measured under 1e-7: the same float arithmetic as libnd4j
    }

    private static void assertClose(INDArray expected, INDArray actual, double tolerance, String what) {
        double scale = Math.max(1e-12, expected.norm2Number().doubleValue());
        double rel = expected.sub(actual).norm2Number().doubleValue() / scale;
        assertTrue(rel < tolerance, what + " differs: relative " + rel);
    }

    /** Sizes: one thread; just over the parallel threshold and not a multiple of the chunk; several chunks a thread. */
    @ParameterizedTest
    @ValueSource(ints = {1000, 65_541, 300_007})
    void stepsAsNd4jDoes(int n) {
        Engine.init();
        // a learning-rate schedule, so that the iteration reaches the step size as in ND4J
        Adam config = Adam.builder().learningRateSchedule(new ExponentialSchedule(ScheduleType.ITERATION, 0.01, 0.9))
                .beta1(0.8).beta2(0.99).epsilon(1e-7).build();
        AdamUpdater reference = (AdamUpdater) config.instantiate(Nd4j.zeros(DataType.FLOAT, 1, 2L * n), true);
        INDArray state = Nd4j.zeros(DataType.FLOAT, 1, 2L * n);
        FastAdam fast = new FastAdam((AdamUpdater) config.instantiate(state, true));
        Nd4j.getRandom().setSeed(n);
        for (int it = 0; it < 6; it++) {
            INDArray g = Nd4j.randn(DataType.FLOAT, 1, n).muli(it % 2 == 0 ? 1e-3 : 10);
            g.putScalar(0, 0f); // m = v = 0 there: the step must stay 0, not NaN
            INDArray gFast = g.dup();
            reference.applyUpdater(g, it, 0);
            fast.applyUpdater(gFast, it, 0);
            assertClose(g, gFast, "update at iteration " + it);
            assertEquals(0f, gFast.getFloat(0));
            assertClose(reference.getM(), fast.inner().getM(), "m at iteration " + it);
            assertClose(reference.getV(), fast.inner().getV(), "v at iteration " + it);
        }
        // the state lives where DL4J put it: in the view array the network saves with a checkpoint
        assertClose(reference.getM(), state.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(0, n)), "m in the state view");
    }

    @Test
    void anInterruptWaitsForTheWholeStepAndIsPassedOn() {
        Engine.init();
        int n = 300_007; // split over threads where there are several
        Adam config = new Adam(1e-3);
        AdamUpdater reference = (AdamUpdater) config.instantiate(Nd4j.zeros(DataType.FLOAT, 1, 2L * n), true);
        FastAdam fast = new FastAdam((AdamUpdater) config.instantiate(Nd4j.zeros(DataType.FLOAT, 1, 2L * n), true));
        INDArray g = Nd4j.randn(DataType.FLOAT, 1, n);
        INDArray gFast = g.dup();
        reference.applyUpdater(g, 0, 0);
        Thread.currentThread().interrupt(); // as Ctrl-C in Trainer: the step must complete, not stop half-way
        try {
            fast.applyUpdater(gFast, 0, 0);
        } finally {
            assertTrue(Thread.interrupted(), "the interrupt is passed on (and cleared here)");
        }
        assertClose(g, gFast, "update");
        assertClose(reference.getV(), fast.inner().getV(), "v");
    }

    @Test
    void doublePrecisionGoesToNd4j() {
        Engine.init();
        Adam config = new Adam(1e-3);
        int n = 5000;
        AdamUpdater reference = (AdamUpdater) config.instantiate(Nd4j.zeros(DataType.DOUBLE, 1, 2L * n), true);
        FastAdam fast = new FastAdam((AdamUpdater) config.instantiate(Nd4j.zeros(DataType.DOUBLE, 1, 2L * n), true));
        for (int it = 0; it < 3; it++) {
            INDArray g = Nd4j.randn(DataType.DOUBLE, 1, n);
            INDArray gFast = g.dup();
            reference.applyUpdater(g, it, 0);
            fast.applyUpdater(gFast, it, 0);
            assertEquals(g, gFast);
        }
    }

    @Test
    void trainingUsesItAndCloseRestoresDl4jUpdaters() {
        Engine.init();
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 16, 16).seed(4).build();
        ComputationGraph fast = ModelRegistry.get("simplecnn").build(spec);
        ComputationGraph plain = ModelRegistry.get("simplecnn").build(spec);
        Nd4j.getRandom().setSeed(3);
        DataSet ds = new DataSet(Nd4j.rand(DataType.FLOAT, 8, 3, 16, 16), Nd4j.eye(3).repeat(0, 3)
                .get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 8), org.nd4j.linalg.indexing.NDArrayIndex.all()));
        TrainingSession plainTraining = Accel.beginTraining(plain, AccelOptions.DEFAULT.withFastAdam(false));
        try (TrainingSession t = Accel.beginTraining(fast, AccelOptions.DEFAULT); plainTraining) {
            int blocks = 0;
            for (UpdaterBlock b : fast.getUpdater().getUpdaterBlocks()) {
                // the rest are DL4J's no-op blocks for batch-norm running statistics
                assertTrue(!(b.getGradientUpdater() instanceof AdamUpdater), "an Adam block left to ND4J");
                blocks += b.getGradientUpdater() instanceof FastAdam ? 1 : 0;
            }
            assertTrue(blocks > 0);
            for (UpdaterBlock b : plain.getUpdater().getUpdaterBlocks()) {
                assertTrue(!(b.getGradientUpdater() instanceof FastAdam), "fastAdam off keeps ND4J's op");
            }
            for (int i = 0; i < 4; i++) {
                for (ComputationGraph g : new ComputationGraph[]{fast, plain}) {
                    Nd4j.getRandom().setSeed(10 + i); // the same dropout masks
                    g.fit(ds);
                }
            }
            // the same gradients, the same steps: only float rounding in the Adam arithmetic may differ
            double rel = fast.params().sub(plain.params()).norm2Number().doubleValue()
                    / plain.params().norm2Number().doubleValue();
            assertTrue(rel < 1e-5, "parameters after 4 steps differ: relative " + rel);
            // (after the first step the gradients differ by that rounding too, hence the wider tolerance)
            assertClose(plain.getUpdater().getStateViewArray(), fast.getUpdater().getStateViewArray(), 1e-4,
                    "updater state");
        }
        for (UpdaterBlock b : fast.getUpdater().getUpdaterBlocks()) {
            assertTrue(!(b.getGradientUpdater() instanceof FastAdam), "DL4J's updater back after training");
        }
    }
}
