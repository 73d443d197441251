package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a training session keeps for the backward pass: the convolutions' outputs themselves, not copies of them. */
class TrainingMemoryTest {
    private static final ModelSpec SPEC = ModelSpec.builder().numClasses(3).input(3, 32, 32).seed(4).build();

    /** The activations workspace after two training passes of resnet18 in a thread of its own (fresh workspaces). */
    private static long activationsWorkspace(Consumer<TrainingSession> setUp, AtomicLong convCalls) throws Exception {
        ComputationGraph g = ModelRegistry.get("resnet18").build(SPEC);
        Nd4j.getRandom().setSeed(8);
        INDArray x = Nd4j.rand(new int[]{4, 3, 32, 32});
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        AtomicLong bytes = new AtomicLong();
        FreshThread.run(() -> {
            try (TrainingSession s = Accel.beginTraining(g)) {
                setUp.accept(s);
                long before = DnnlConvHelper.calls()[0];
                for (int i = 0; i < 2; i++) {
                    g.setInputs(x);
                    g.setLabels(y);
                    g.computeGradientAndScore();
                }
                convCalls.set(DnnlConvHelper.calls()[0] - before);
                bytes.set(Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread("WS_ALL_LAYERS_ACT")
                        .getCurrentSize());
            }
        });
        return bytes.get();
    }

    @Test
    void convolutionsHandTheirOutputToTheBackwardPassWithoutACopy() throws Exception {
        Engine.init();
        ComputationGraph probe = ModelRegistry.get("resnet18").build(SPEC);
        long convs = java.util.Arrays.stream(probe.getLayers()).filter(l -> l.getClass() == ConvolutionLayer.class)
                .count();
        long convOutputs = 0; // bytes of all convolution outputs of one pass at batch 4
        Map<String, INDArray> acts = probe.feedForward(Nd4j.rand(new int[]{4, 3, 32, 32}), false);
        for (org.deeplearning4j.nn.api.Layer l : probe.getLayers()) {
            if (l.getClass() == ConvolutionLayer.class) {
                convOutputs += acts.get(l.conf().getLayer().getLayerName()).length() * 4;
            }
        }
        AtomicLong calls = new AtomicLong();
        long session = activationsWorkspace(s -> { }, calls);
        assertEquals(2 * convs, calls.get(), "a forward call per convolution and pass: none in the backward pass");
        long recompute = activationsWorkspace(s -> s.keepForwardOutputs(false), calls);
        assertEquals(4 * convs, calls.get(), "the lever: the backward pass computes each output again");
        long copies = activationsWorkspace(s -> s.network().setCacheMode(CacheMode.DEVICE), calls); // DL4J's cache
        assertEquals(2 * convs, calls.get());
        assertTrue(copies - session > 0.9 * convOutputs, "DL4J's copies " + copies + ", session " + session
                + ", convolution outputs " + convOutputs);
        assertTrue(Math.abs(session - recompute) < 0.1 * convOutputs, session + " vs " + recompute);
    }
    private static INDArray gradient(ComputationGraph g, INDArray x, INDArray y) {
        g.setInputs(x);
        g.setLabels(y);
        g.computeGradientAndScore();
        return g.gradient().gradient().dup();
    }

    private static void assertClose(INDArray expected, INDArray actual, double tolerance, String when) {
        double rel = expected.sub(actual).norm2Number().doubleValue() / expected.norm2Number().doubleValue();
        assertTrue(rel < tolerance, when + ": gradients differ by " + rel + " (relative)");
    }

    @Test
    void whatAPassLeavesBehindChangesNoLaterGradient() {
        Engine.init();
        Nd4j.getRandom().setSeed(8);
        INDArray x0 = Nd4j.rand(new int[]{4, 3, 32, 32});
        INDArray x1 = Nd4j.rand(new int[]{4, 3, 32, 32});
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        // DL4J's gradients at x0 (at x1 the last batch norms, 4 values a channel, make float noise 1e-2 either way);
        // the engine's at x1 from a network that has run nothing else
        INDArray dl4j0 = gradient(ModelRegistry.get("resnet18").build(SPEC), x0, y);
        ComputationGraph fresh = ModelRegistry.get("resnet18").build(SPEC);
        INDArray engine1;
        try (TrainingSession s = Accel.beginTraining(fresh)) {
            engine1 = gradient(fresh, x1, y);
        }
        ComputationGraph g = ModelRegistry.get("resnet18").build(SPEC);
        try (TrainingSession s = Accel.beginTraining(g)) {
            assertClose(dl4j0, gradient(g, x0, y), 2e-4, "kept, against DL4J");
            assertClose(engine1, gradient(g, x1, y), 1e-6, "kept, after a pass on another input");
            g.outputSingle(false, x0); // an inference pass in between (a validation)
            assertClose(engine1, gradient(g, x1, y), 1e-6, "after an inference pass");
            s.keepForwardOutputs(false);
            assertClose(dl4j0, gradient(g, x0, y), 2e-4, "computed again, against DL4J");
            assertClose(engine1, gradient(g, x1, y), 1e-6, "computed again");
            s.keepForwardOutputs(true);
            gradient(g, x0, y);
            assertClose(engine1, gradient(g, x1, y), 1e-6, "kept again");
        }
        assertClose(dl4j0, gradient(g, x0, y), 2e-4, "after the session, against DL4J");
        // NCHW again after the session: float sums in another order than the blocked layout's
        assertClose(engine1, gradient(g, x1, y), 5e-4, "after the session");
    }
}
