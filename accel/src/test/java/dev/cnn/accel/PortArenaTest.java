package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The copies of weights and activations in oneDNN's layouts that the primitives read and write live in one buffer per
 * thread, laid out afresh for each primitive, not in memory of each port's own (a network's worth of them).
 */
class PortArenaTest {

    @Test
    void aTrainingStepKeepsItsReorderedCopiesInOneBufferTheSizeOfTheLargestLayer() throws Exception {
        Engine.init();
        assertTrue(Dnnl.available(), "org.bytedeco:dnnl does not load");
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 32, 32).seed(4).build();
        ComputationGraph plain = ModelRegistry.get("resnet18").build(spec);
        ComputationGraph dnnl = ModelRegistry.get("resnet18").build(spec);
        Nd4j.getRandom().setSeed(8);
        INDArray x = Nd4j.rand(new int[]{4, 3, 32, 32});
        INDArray x0 = Nd4j.rand(new int[]{4, 3, 32, 32}); // another input for the first pass
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        // a thread of its own: its arena starts empty
        AtomicLong arena = new AtomicLong();
        AtomicLong ports = new AtomicLong();
        AtomicReference<INDArray> grads = new AtomicReference<>();
        FreshThread.run(() -> {
            try (TrainingSession s = Accel.beginTraining(dnnl)) {
                long before = Dnnl.portBytes();
                for (INDArray xi : new INDArray[]{x0, x}) { // the second pass reuses the buffer the first laid out
                    dnnl.setInputs(xi);
                    dnnl.setLabels(y);
                    dnnl.computeGradientAndScore();
                }
                ports.set(Dnnl.portBytes() - before);
                arena.set(Dnnl.arenaBytes());
                grads.set(dnnl.gradient().gradient().dup());
                Dnnl.releaseThreadBuffers(); // freed now, and made again by the next pass
                assertEquals(0, Dnnl.arenaBytes());
                dnnl.computeGradientAndScore();
                assertEquals(arena.get(), Dnnl.arenaBytes());
            }
        });
        // the weights of every convolution are reordered for the forward pass, the backward-data pass and the weight
        // gradient (three copies of the network's weights, 134 MB for resnet18, where oneDNN picks blocked weight
        // layouts), where one buffer holds what the largest primitive needs
        assertTrue(ports.get() > 40_000_000L, "copies the ports would hold: " + ports.get());
        assertTrue(arena.get() > 0 && arena.get() < ports.get() / 10, "arena " + arena.get() + " of " + ports.get());
        // and the gradients are DL4J's for the second input (float sums in another order): nothing read from the
        // first pass (a kept convolution output, a copy in the arena) reaches them
        plain.setInputs(x);
        plain.setLabels(y);
        plain.computeGradientAndScore();
        INDArray a = plain.gradient().gradient();
        assertEquals(a.length(), grads.get().length());
        double rel = a.sub(grads.get()).norm2Number().doubleValue() / a.norm2Number().doubleValue();
        assertTrue(rel < 1e-4, "gradients differ from DL4J's by " + rel + " (relative)");
    }
}
