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
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
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
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        assertNull(failure.get());
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
}
