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

    /**
     * The window sums of 3x3 average pooling with padding 1, written out: the output, or (for {@code backward}) each
     * input's gradient from the output gradient {@code y}; the divisor 9, or the window's positions inside the map.
     */
    static INDArray averagePoolReference(INDArray x, INDArray y, int stride, boolean includePad, boolean backward) {
        long n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        long oh = (h + 2 - 3) / stride + 1, ow = (w + 2 - 3) / stride + 1;
        INDArray out = backward ? Nd4j.zeros(DataType.FLOAT, n, c, h, w) : Nd4j.zeros(DataType.FLOAT, n, c, oh, ow);
        for (long i = 0; i < n; i++) {
            for (long j = 0; j < c; j++) {
                for (long r = 0; r < oh; r++) {
                    for (long q = 0; q < ow; q++) {
                        int count = 0;
                        double sum = 0;
                        for (long a = r * stride - 1; a < r * stride + 2; a++) {
                            for (long b = q * stride - 1; b < q * stride + 2; b++) {
                                if (a >= 0 && a < h && b >= 0 && b < w) {
                                    count++;
                                    sum += x.getDouble(i, j, a, b);
                                }
                            }
                        }
                        double divisor = includePad ? 9 : count;
                        if (!backward) {
                            out.putScalar(new long[]{i, j, r, q}, sum / divisor);
                            continue;
                        }
                        for (long a = r * stride - 1; a < r * stride + 2; a++) {
                            for (long b = q * stride - 1; b < q * stride + 2; b++) {
                                if (a >= 0 && a < h && b >= 0 && b < w) {
                                    long[] at = {i, j, a, b};
                                    out.putScalar(at, out.getDouble(at) + y.getDouble(i, j, r, q) / divisor);
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * Average pooling on oneDNN with padding (Inception's 3x3 stride-1 branches, a stride-2 window over an odd map), the
     * padding in the divisor or not, forward and backward, in NCHW and on the blocked layout, against the window sums
     * written out. DL4J's own backward pass divides by the positions inside the map even where the padding is in the
     * divisor (0.37 instead of 0.21 at a corner here): the engine's is the right one.
     */
    @ParameterizedTest(name = "stride {0}, padding in divisor {1}")
    @CsvSource({"1,true", "1,false", "2,true", "2,false"})
    void averagePoolingOnOneDnnGivesTheWindowAveragesAndTheirGradient(int stride, boolean includePad) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Dnnl.available(), "oneDNN does not load here");
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("x").addLayer("pool", new org.deeplearning4j.nn.conf.layers.SubsamplingLayer.Builder(
                        PoolingType.AVG).kernelSize(3, 3).stride(stride, stride).padding(1, 1)
                        .avgPoolIncludePadInDivisor(includePad).build(), "x")
                .setOutputs("pool").setInputTypes(InputType.convolutional(7, 9, 16)).build());
        g.init();
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 16, 7, 9);
        org.deeplearning4j.nn.api.Layer theirs = g.getLayer("pool");
        theirs.setInput(x, NO_WS);
        INDArray out = theirs.activate(true, NO_WS).dup();
        assertTrue(out.equalsWithEps(averagePoolReference(x, null, stride, includePad, false), 1e-5), "DL4J forward");
        INDArray eps = Nd4j.randn(DataType.FLOAT, out.shape());
        INDArray dx = averagePoolReference(x, eps, stride, includePad, true);

        GraphPolicy.install(g, AccelOptions.DEFAULT);
        org.deeplearning4j.nn.api.Layer mine = g.getLayer("pool");
        assertInstanceOf(DnnlSubsamplingLayer.class, mine);
        DnnlPoolingHelper helper = assertInstanceOf(DnnlPoolingHelper.class, Dl4jInternals.currentHelper(mine));
        long calls = DnnlPoolingHelper.calls();
        mine.setInput(x, NO_WS);
        assertTrue(out.equalsWithEps(mine.activate(true, NO_WS), 1e-5), "forward");
        assertTrue(dx.equalsWithEps(mine.backpropGradient(eps, NO_WS).getSecond(), 1e-5), "backward");
        assertEquals(2, DnnlPoolingHelper.calls() - calls, "both passes on oneDNN");

        helper.blocked(true);
        int b = Dnnl.BLOCK;
        mine.setInput(toBlocked(x, b), NO_WS);
        assertTrue(out.equalsWithEps(fromBlocked(mine.activate(true, NO_WS), b), 1e-5), "blocked forward");
        assertTrue(dx.equalsWithEps(fromBlocked(mine.backpropGradient(toBlocked(eps, b), NO_WS).getSecond(), b),
                1e-5), "blocked backward");
        helper.blocked(false);
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
