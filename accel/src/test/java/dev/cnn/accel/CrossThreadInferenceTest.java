package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A network with this package's helpers used from several threads in turn (never two calls at once): primitives
 * created on one thread run on another. oneDNN 2.5 keeps the scratchpad of its GEMM-based (im2col) convolutions in
 * thread-local storage of the thread that created the primitive, so this crashed the JVM (SIGSEGV in
 * {@code jit_gemm_convolution_utils::im2col}) before the helpers passed their own scratchpad.
 */
class CrossThreadInferenceTest {
    private static ExecutorService pool;

    @BeforeAll
    static void setUp() {
        Engine.init();
        pool = Executors.newFixedThreadPool(8);
    }

    @AfterAll
    static void tearDown() {
        pool.shutdownNow();
    }

    private static ComputationGraph simpleCnn() {
        return ModelRegistry.get("simplecnn").build(ModelSpec.builder().numClasses(3).input(3, 8, 8).seed(5).build());
    }

    private static INDArray input(int i) {
        Nd4j.getRandom().setSeed(100 + i);
        return Nd4j.rand(DataType.FLOAT, 4, 3, 8, 8);
    }

    /** Runs {@code task} on the pool, waiting for it (so calls never overlap). */
    private static <T> T onPool(java.util.concurrent.Callable<T> task) throws Exception {
        Future<T> f = pool.submit(task);
        return f.get();
    }

    @Test
    void inferenceCopyRunsOnAnyThread() throws Exception {
        assertTrue(Dnnl.available(), "oneDNN not available");
        ComputationGraph net = Accel.forInference(simpleCnn(), Accel.WORTH_AN_INFERENCE_COPY);
        int n = 6;
        List<INDArray> inputs = new ArrayList<>();
        List<INDArray> expected = new ArrayList<>();
        long convCalls = DnnlConvHelper.calls()[0];
        for (int i = 0; i < n; i++) { // first on this thread: the helpers create their primitives here
            inputs.add(input(i));
            expected.add(net.outputSingle(false, inputs.get(i)).dup());
        }
        assertTrue(DnnlConvHelper.calls()[0] > convCalls, "the convolutions did not run on oneDNN");
        for (int round = 0; round < 3; round++) { // then on the pool's threads, and back here, in turn
            for (int i = 0; i < n; i++) {
                INDArray x = inputs.get(i);
                INDArray got = i % 2 == 0 ? onPool(() -> net.outputSingle(false, x).dup())
                        : net.outputSingle(false, x).dup();
                assertTrue(expected.get(i).equalsWithEps(got, 1e-5),
                        "input " + i + " round " + round + ": " + expected.get(i) + " vs " + got);
            }
        }
    }

    @Test
    void networkWithHelpersRunsOnAnyThreadInInferenceMode() throws Exception {
        ComputationGraph net = Accel.install(simpleCnn());
        INDArray x = input(0);
        INDArray expected = net.outputSingle(false, x).dup();
        for (int round = 0; round < 8; round++) {
            INDArray got = onPool(() -> net.outputSingle(false, x).dup());
            assertTrue(expected.equalsWithEps(got, 1e-5), "round " + round + ": " + expected + " vs " + got);
        }
    }

    @Test
    void trainingAlternatingThreadsMatchesOneThread() throws Exception {
        ComputationGraph one = simpleCnn();
        ComputationGraph many = simpleCnn();
        assertEquals(one.params(), many.params());
        List<DataSet> batches = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            INDArray labels = Nd4j.zeros(DataType.FLOAT, 4, 3);
            for (int r = 0; r < 4; r++) {
                labels.putScalar(r, (i + r) % 3, 1f);
            }
            batches.add(new DataSet(input(i), labels));
        }
        try (TrainingSession a = Accel.beginTraining(one); TrainingSession b = Accel.beginTraining(many)) {
            for (int i = 0; i < batches.size(); i++) {
                DataSet d = batches.get(i);
                one.fit(d);
                if (i % 2 == 0) {
                    many.fit(d);
                } else {
                    onPool(() -> {
                        many.fit(d);
                        return null;
                    });
                }
            }
        }
        INDArray x = input(99);
        INDArray expected = one.outputSingle(false, x);
        INDArray got = onPool(() -> many.outputSingle(false, x).dup());
        assertTrue(one.params().equalsWithEps(many.params(), 1e-4), "parameters differ after training");
        assertTrue(expected.equalsWithEps(got, 1e-4), expected + " vs " + got);
    }
}
