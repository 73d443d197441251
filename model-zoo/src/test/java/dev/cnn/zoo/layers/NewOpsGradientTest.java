package dev.cnn.zoo.layers;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operations the zoo adds to DL4J, each checked against finite differences in double precision (DL4J's
 * {@code GradientCheckUtil}: every parameter and the input gradient through a small graph ending in a softmax loss).
 * These run on libnd4j's ops; the engine's oneDNN path is compared with them in {@code accel}, and whole networks
 * with PyTorch in {@code transfer}.
 */
class NewOpsGradientTest {
    private static DataType before;

    @BeforeAll
    static void doubles() {
        before = Nd4j.dataType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterAll
    static void back() {
        Nd4j.setDefaultDataTypes(before, before);
    }

    /**
     * input [2, 4, 6, 6] -> "pre" (a 1x1 convolution, so that the body's input gradient reaches parameters the check
     * covers) -> body -> global average pool -> 3-way softmax; the body reads "pre" and its last vertex is "body".
     */
    private static boolean check(Consumer<ComputationGraphConfiguration.GraphBuilder> body) {
        return check(body, false);
    }

    /** {@code fixedDraws}: the random generator is reseeded before every pass (stochastic depth's mask held fixed). */
    private static boolean check(Consumer<ComputationGraphConfiguration.GraphBuilder> body, boolean fixedDraws) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(7)
                .dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .convolutionMode(ConvolutionMode.Truncate).graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 4))
                .addLayer("pre", conv(4, 1, 1, 0, 1, true, Activation.IDENTITY), "in");
        body.accept(g);
        g.addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "body")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out");
        ComputationGraph net = new ComputationGraph(g.build());
        net.init();
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.DOUBLE, 2, 4, 6, 6).muli(2);
        INDArray y = Nd4j.zeros(DataType.DOUBLE, 2, 3);
        y.putScalar(0, 1, 1);
        y.putScalar(1, 2, 1);
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(net)
                .inputs(new INDArray[]{x}).labels(new INDArray[]{y}).epsilon(1e-6).maxRelError(1e-5)
                .minAbsoluteError(1e-9).print(GradientCheckUtil.PrintMode.FAILURES_ONLY).exitOnFirstError(false)
                .callEachIter(fixedDraws ? n -> Nd4j.getRandom().setSeed(5) : null));
    }

    static GroupedConvolution conv(int out, int k, int stride, int pad, int groups, boolean bias, Activation act) {
        return new GroupedConvolution(new ConvolutionLayer.Builder(k, k).stride(stride, stride).padding(pad, pad)
                .nOut(out).hasBias(bias).activation(act), groups);
    }

    @Test
    void aGroupedConvolutionsGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("body", conv(8, 3, 1, 1, 4, true, Activation.TANH), "pre")));
    }

    @Test
    void aStridedDepthwiseConvolutionsGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("body", conv(4, 3, 2, 1, 4, false, Activation.IDENTITY), "pre")));
    }

    @Test
    void aOneGroupConvolutionsGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("body", conv(5, 2, 1, 0, 1, true, Activation.IDENTITY), "pre")));
    }

    @Test
    void squeezeAndExcitationsGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g
                .addLayer("squeeze", new GlobalPoolingLayer.Builder(PoolingType.AVG).collapseDimensions(false)
                        .build(), "pre")
                .addLayer("fc1", conv(2, 1, 1, 0, 1, true, Activation.RELU), "squeeze")
                .addLayer("fc2", new GroupedConvolution(new ConvolutionLayer.Builder(1, 1).nOut(4)
                        .activation(new ActivationHardSigmoid()), 1), "fc1")
                .addVertex("scale", new ChannelScaleVertex(), "pre", "fc2")
                .addLayer("body", conv(3, 3, 1, 1, 1, true, Activation.IDENTITY), "scale")));
    }

    private static void activation(IActivation a) {
        assertTrue(check(g -> g.addLayer("act", new ActivationLayer.Builder().activation(a).build(), "pre")
                .addLayer("body", conv(3, 1, 1, 0, 1, true, Activation.IDENTITY), "act")), a.toString());
    }

    @Test
    void hardSwishHardSigmoidGeluAndSiluGradientsMatchFiniteDifferences() {
        activation(new ActivationHardSwish());
        activation(new ActivationHardSigmoid());
        activation(new ActivationGelu());
        activation(Activation.SWISH.getActivationFunction());
    }

    @Test
    void channelLayerNormsGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("ln", new ChannelLayerNorm(1e-6), "pre")
                .addLayer("body", conv(3, 3, 1, 1, 1, true, Activation.TANH), "ln")));
    }

    @Test
    void layerScalesGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("ls", new LayerScale(0.5), "pre")
                .addLayer("body", conv(3, 3, 1, 1, 1, true, Activation.TANH), "ls")));
    }

    @Test
    void channelShufflesGradientsMatchFiniteDifferences() {
        assertTrue(check(g -> g.addLayer("c", conv(4, 1, 1, 0, 1, true, Activation.TANH), "pre")
                .addVertex("shuffle", new ChannelShuffleVertex(2), "c")
                .addLayer("body", conv(3, 1, 1, 0, 1, true, Activation.TANH), "shuffle")));
    }

    @Test
    void channelShuffleInterleavesTheGroupsAsTorchvisionDoes() {
        INDArray x = Nd4j.arange(6).castTo(DataType.DOUBLE).reshape(1, 6, 1, 1);
        INDArray y = ChannelShuffleVertex.shuffle(x, 2, org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces(),
                org.deeplearning4j.nn.workspace.ArrayType.ACTIVATIONS);
        // torchvision: view(1, 2, 3) -> transpose -> [0, 3, 1, 4, 2, 5]
        assertEquals(Nd4j.createFromArray(0.0, 3, 1, 4, 2, 5), y.reshape(6));
    }

    /**
     * Training-mode gradients through stochastic depth on a residual branch, with the mask held fixed (the generator
     * reseeded before each pass): this seed keeps one sample of the two and drops the other, so both paths count.
     */
    @Test
    void stochasticDepthInTrainingMatchesFiniteDifferencesForAFixedMask() {
        ComputationGraph probe = new ComputationGraph(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(6, 6, 4))
                .addLayer("sd", new StochasticDepth(0.5), "in").setOutputs("sd").build());
        probe.init();
        Nd4j.getRandom().setSeed(5);
        INDArray m = probe.outputSingle(true, Nd4j.ones(DataType.DOUBLE, 2, 4, 6, 6));
        assertTrue(m.getDouble(0, 0, 0, 0) != m.getDouble(1, 0, 0, 0), "seed 5 keeps one sample and drops the other: "
                + m.getDouble(0, 0, 0, 0) + ", " + m.getDouble(1, 0, 0, 0));
        assertTrue(check(g -> g.addLayer("branch", conv(4, 3, 1, 1, 1, true, Activation.TANH), "pre")
                .addLayer("sd", new StochasticDepth(0.5), "branch")
                .addVertex("body", new org.deeplearning4j.nn.conf.graph.ElementWiseVertex(
                        org.deeplearning4j.nn.conf.graph.ElementWiseVertex.Op.Add), "pre", "sd"), true));
    }

    @Test
    void stochasticDepthDropsWholeSamplesInTrainingAndIsTheIdentityInInference() {
        ComputationGraph net = new ComputationGraph(new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(3, 3, 2))
                .addLayer("sd", new StochasticDepth(0.5), "in").setOutputs("sd").build());
        net.init();
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.DOUBLE, 64, 2, 3, 3).addi(0.1);
        assertEquals(x, net.outputSingle(false, x), "inference: identity");
        INDArray t = net.outputSingle(true, x);
        int dropped = 0;
        for (int i = 0; i < 64; i++) {
            INDArray ratio = t.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i)).div(
                    x.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i)));
            double r = ratio.getDouble(0);
            assertTrue(r == 0 || Math.abs(r - 2) < 1e-12, "a sample is dropped or scaled by 1/(1-p): " + r);
            assertEquals(r * ratio.length(), ratio.sumNumber().doubleValue(), 1e-9, "the whole sample alike");
            dropped += r == 0 ? 1 : 0;
        }
        assertTrue(dropped > 16 && dropped < 48, "about half dropped: " + dropped);
        StochasticDepth.Impl layer = (StochasticDepth.Impl) net.getLayer("sd");
        INDArray mask = layer.mask().dup();
        INDArray eps = Nd4j.ones(DataType.DOUBLE, 64, 2, 3, 3);
        INDArray back = layer.backpropGradient(eps,
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces()).getSecond();
        for (int i = 0; i < 64; i++) {
            assertEquals(mask.getDouble(i), back.getDouble(i, 1, 2, 2), 0.0, "backward uses the forward's mask");
        }
        net.outputSingle(false, x);
        assertNull(layer.mask());
    }
}
