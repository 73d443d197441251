package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import dev.cnn.zoo.layers.ChannelBlocked;
import dev.cnn.zoo.layers.ChannelScaleVertex;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Squeeze-and-excitation on oneDNN's blocked layout: the channel gate and global average pooling give on
 * {@code [N, C/b, H, W, b]} exactly what they give on NCHW, forward and backward, and the networks that use them
 * train with the gate's neighbours kept blocked, with DL4J's numbers.
 */
class BlockedChannelOpsTest {
    /** At 32 px the last batch norms see 4 values a channel and float noise reaches 2e-3 either way; at 96, 3e-4. */
    static final int SIZE = 96;
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    @BeforeAll
    static void engine() {
        Engine.init();
    }

    @AfterEach
    void releaseNativeMemory() {
        System.gc();
    }

    /** NCHW {@code x} rearranged as {@code [N, C/b, H, W, b]}, under its NCHW shape. */
    static INDArray toBlocked(INDArray x, int b) {
        long[] s = x.shape();
        return x.reshape('c', s[0], s[1] / b, b, s[2], s[3]).permute(0, 1, 3, 4, 2).dup('c').reshape('c', s);
    }

    /** The inverse of {@link #toBlocked}. */
    static INDArray fromBlocked(INDArray x, int b) {
        long[] s = x.shape();
        return x.reshape('c', s[0], s[1] / b, s[2], s[3], b).permute(0, 1, 4, 2, 3).dup('c').reshape('c', s);
    }

    @ParameterizedTest(name = "block {0}")
    @ValueSource(ints = {8, 16})
    void theChannelGateGivesTheSameOutputAndGradientsOnTheBlockedLayout(int b) {
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("x", "gate").addVertex("scale", new ChannelScaleVertex(), "x", "gate")
                .setOutputs("scale").setInputTypes(InputType.convolutional(3, 5, 32), InputType.convolutional(1, 1, 32))
                .build());
        g.init();
        GraphVertex v = g.getVertex("scale");
        ChannelBlocked blocked = (ChannelBlocked) v;
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 32, 3, 5);
        INDArray gate = Nd4j.rand(DataType.FLOAT, 2, 32, 1, 1);
        INDArray eps = Nd4j.randn(DataType.FLOAT, 2, 32, 3, 5);

        v.setInputs(x, gate);
        INDArray out = v.doForward(true, NO_WS).dup();
        v.setEpsilon(eps);
        INDArray[] grads = v.doBackward(false, NO_WS).getSecond();
        INDArray dx = grads[0].dup();
        INDArray dGate = grads[1].dup();
        assertTrue(out.equalsWithEps(x.mul(gate.reshape(2, 32, 1, 1).broadcast(2, 32, 3, 5)), 1e-6), "NCHW forward");

        blocked.channelBlock(b);
        assertEquals(b, blocked.channelBlock());
        v.setInputs(toBlocked(x, b), gate);
        INDArray outB = v.doForward(true, NO_WS);
        assertTrue(out.equalsWithEps(fromBlocked(outB, b), 1e-6), "blocked forward");
        v.setEpsilon(toBlocked(eps, b));
        INDArray[] gradsB = v.doBackward(false, NO_WS).getSecond();
        assertTrue(dx.equalsWithEps(fromBlocked(gradsB[0], b), 1e-6), "blocked input gradient");
        assertTrue(dGate.equalsWithEps(gradsB[1], 1e-5), "blocked gate gradient");
        blocked.channelBlock(0);
        assertEquals(0, blocked.channelBlock());
    }

    @ParameterizedTest(name = "block {0}, collapse {1}")
    @CsvSource({"8,true", "8,false", "16,true", "16,false"})
    void globalAveragePoolingGivesTheSameOutputAndGradientsOnTheBlockedLayout(int b, boolean collapse) {
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("x").addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG)
                        .collapseDimensions(collapse).build(), "x")
                .setOutputs("pool").setInputTypes(InputType.convolutional(4, 6, 48)).build());
        g.init();
        GraphPolicy.replaceLayers(g);
        BlockedGlobalPoolingLayer pool = assertInstanceOf(BlockedGlobalPoolingLayer.class, g.getLayer("pool"));
        Nd4j.getRandom().setSeed(6);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 48, 4, 6);
        long[] outShape = collapse ? new long[]{3, 48} : new long[]{3, 48, 1, 1};
        INDArray eps = Nd4j.randn(DataType.FLOAT, outShape);

        pool.setInput(x, NO_WS);
        INDArray out = pool.activate(true, NO_WS).dup();
        INDArray dx = pool.backpropGradient(eps, NO_WS).getSecond().dup();
        assertEquals(Arrays.toString(outShape), Arrays.toString(out.shape()));
        assertTrue(out.reshape(3, 48).equalsWithEps(x.mean(2, 3), 1e-6), "NCHW forward");

        pool.channelBlock(b);
        pool.setInput(toBlocked(x, b), NO_WS);
        INDArray outB = pool.activate(true, NO_WS);
        assertEquals(Arrays.toString(outShape), Arrays.toString(outB.shape()));
        assertTrue(out.equalsWithEps(outB, 1e-6), "blocked forward: the same [N, C] in either layout");
        INDArray dxB = pool.backpropGradient(eps, NO_WS).getSecond();
        assertTrue(dx.equalsWithEps(fromBlocked(dxB, b), 1e-7), "blocked input gradient");
    }

    @org.junit.jupiter.api.Test
    void aPoolingItCannotDoOnTheBlockedLayoutIsRefusedNotMisread() {
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("x").addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.MAX).build(), "x")
                .setOutputs("pool").setInputTypes(InputType.convolutional(4, 4, 16)).build());
        g.init();
        GraphPolicy.replaceLayers(g);
        BlockedGlobalPoolingLayer pool = (BlockedGlobalPoolingLayer) g.getLayer("pool");
        pool.channelBlock(8);
        pool.setInput(Nd4j.rand(DataType.FLOAT, 1, 16, 4, 4), NO_WS);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.activate(false, NO_WS));
        assertTrue(e.getMessage().contains("not covered"), e.getMessage());
    }

    /**
     * The networks with squeeze-and-excitation train on the engine as on DL4J: same outputs, loss and gradients, with
     * the gates (and each network's head pooling) reading and writing the blocked layout while the session lasts.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"efficientnet_b0", "mobilenet_v3_small", "mobilenet_v3_large"})
    void squeezeExcitationNetworksTrainOnTheBlockedLayoutWithDl4jsNumbers(String model) {
        org.junit.jupiter.api.Assumptions.assumeTrue(Dnnl.available(), "oneDNN does not load here");
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, SIZE, SIZE).seed(4).build();
        ComputationGraph plain = ModelRegistry.get(model).build(spec);
        ComputationGraph dnnl = ModelRegistry.get(model).build(spec);
        GraphPolicy.install(dnnl, AccelOptions.DEFAULT);
        TrainingSession training = Accel.beginTraining(dnnl);
        long gates = Arrays.stream(dnnl.getVertices()).filter(v -> v instanceof ChannelBlocked c
                && c.channelBlock() == Dnnl.BLOCK).count();
        long pools = Arrays.stream(dnnl.getLayers()).filter(l -> l instanceof BlockedGlobalPoolingLayer p
                && p.channelBlock() == Dnnl.BLOCK).count();
        assertTrue(gates > 0, model + ": no channel gate on the blocked layout");
        assertTrue(pools > gates, model + ": the gates' pooling and the head's read the blocked layout: " + pools);

        Nd4j.getRandom().setSeed(8);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, SIZE, SIZE);
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        assertTrue(plain.outputSingle(false, x).equalsWithEps(dnnl.outputSingle(false, x), 1e-5),
                "inference outputs differ");
        for (ComputationGraph n : new ComputationGraph[]{plain, dnnl}) {
            Nd4j.getRandom().setSeed(9); // the same stochastic-depth and dropout masks
            n.setInputs(x);
            n.setLabels(y);
            n.computeGradientAndScore();
            EngineTest.assertNoHelperFallback(n);
        }
        assertEquals(plain.score(), dnnl.score(), 1e-4 * plain.score());
        // float noise, DL4J against the engine: 7e-6 to 2.6e-4 with or without the blocked gates (the same to two
        // digits); a gate that mixed up channels would be off by far more
        INDArray a = plain.gradient().gradient();
        INDArray b = dnnl.gradient().gradient();
        double rel = a.sub(b).norm2Number().doubleValue() / a.norm2Number().doubleValue();
        assertTrue(rel < 1e-3, model + ": gradients differ by " + rel + " (relative)");
        training.close();
        assertEquals(0, GraphPolicy.blockedVertices(dnnl), "no blocked layout outlives the training session");
    }
}
