package dev.cnn.accel;

import dev.cnn.zoo.layers.GroupedConvolution;
import dev.cnn.zoo.layers.GroupedConvolutionLayer;
import org.bytedeco.dnnl.memory;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Depthwise convolutions wider than 3 compute their weight gradients in 3-wide windows on oneDNN's depthwise kernel
 * ({@link WideDepthwiseWeights}) and get libnd4j's numbers, layer by layer: 5x5 with strides 1 and 2 (on an odd
 * map, and on an even one, where the right padding is 1 against 2 on the left), 5x5 and 7x7 with a bias, with and
 * without blocked activations.
 */
class WideDepthwiseWeightsTest {
    private static final String[] WIDE = {"dw5", "dw5s2", "dw7", "dw5s2even"};

    @BeforeAll
    static void engine() {
        Assumptions.assumeTrue(Dnnl.available(), "oneDNN does not load here");
    }

    private static GroupedConvolution depthwise(int k, int stride, boolean bias, Activation act) {
        return new GroupedConvolution(new ConvolutionLayer.Builder(k, k).stride(stride, stride)
                .padding(k / 2, k / 2).nOut(32).hasBias(bias).activation(act), 32);
    }

    private static ComputationGraph net() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).updater(new Sgd(0.1))
                .convolutionMode(ConvolutionMode.Truncate).graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(15, 15, 32))
                .addLayer("dw5", depthwise(5, 1, false, Activation.TANH), "in") // 15x15
                .addLayer("dw5s2", depthwise(5, 2, true, Activation.TANH), "dw5") // 8x8
                .addLayer("dw7", depthwise(7, 1, true, Activation.TANH), "dw5s2") // 8x8
                .addLayer("dw5s2even", depthwise(5, 2, false, Activation.TANH), "dw7") // 4x4, padded 2 and 1
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "dw5s2even")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(4)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    @ParameterizedTest(name = "blocked activations: {0}")
    @ValueSource(booleans = {false, true})
    void wideDepthwiseWeightGradientsInWindowsAreLibnd4jsLayerByLayer(boolean blocked) {
        Nd4j.getRandom().setSeed(2);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 32, 15, 15);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 3, 4);
        for (int i = 0; i < 3; i++) {
            y.putScalar(i, i, 1);
        }
        ComputationGraph plain = net();
        ComputationGraph engine = net();
        GraphPolicy.install(engine, AccelOptions.DEFAULT);
        TrainingSession session = blocked ? Accel.beginTraining(engine) : null;
        try {
            for (ComputationGraph n : new ComputationGraph[]{plain, engine}) {
                n.setInputs(x);
                n.setLabels(y);
                n.computeGradientAndScore();
            }
            assertEquals(plain.score(), engine.score(), 1e-5);
            Map<String, INDArray> want = plain.gradient().gradientForVariable();
            Map<String, INDArray> got = engine.gradient().gradientForVariable();
            for (String layer : WIDE) {
                for (String p : new String[]{"W", "b"}) {
                    INDArray a = want.get(layer + "_" + p);
                    if (a == null) {
                        continue;
                    }
                    INDArray b = got.get(layer + "_" + p);
                    double diff = a.sub(b).norm2Number().doubleValue();
                    double scale = a.norm2Number().doubleValue();
                    assertTrue(diff <= 1e-5 * scale, layer + "_" + p + ": differs by " + diff + " (norm " + scale
                            + ")");
                    // every column of the kernel: a window written to the wrong place leaves others untouched
                    if (p.equals("W")) {
                        long kw = a.size(3);
                        for (long col = 0; col < kw; col++) {
                            INDArray ca = a.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.point(col));
                            INDArray cb = b.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.all(),
                                    org.nd4j.linalg.indexing.NDArrayIndex.point(col));
                            double d = ca.sub(cb).norm2Number().doubleValue();
                            assertTrue(d <= 1e-5 * Math.max(1e-6, ca.norm2Number().doubleValue()),
                                    layer + " kernel column " + col + " differs by " + d);
                        }
                    }
                }
                Set<String> impl = ((DnnlConvHelper) ((GroupedConvolutionLayer) engine.getLayer(layer))
                        .convolutionHelper()).implementations();
                assertTrue(impl.stream().anyMatch(i -> i.startsWith("jit") && i.contains("windows")),
                        layer + ": weight gradient not in windows on the depthwise kernel: " + impl);
            }
        } finally {
            if (session != null) {
                session.close();
            }
        }
    }

    @Test
    void smallMapsNarrowKernelsAndNonDepthwiseConvolutionsAreLeftToOneDnnsOwnChoice() {
        INDArray w5 = Nd4j.zeros(DataType.FLOAT, 32, 1, 5, 5);
        DnnlConvHelper.Geometry big = geometry(Nd4j.zeros(DataType.FLOAT, 2, 32, 14, 14), w5, 5);
        DnnlConvHelper.Geometry small = geometry(Nd4j.zeros(DataType.FLOAT, 2, 32, 3, 3), w5, 5);
        DnnlConvHelper.Geometry narrow = geometry(Nd4j.zeros(DataType.FLOAT, 2, 32, 14, 14),
                Nd4j.zeros(DataType.FLOAT, 32, 1, 3, 3), 3);
        DnnlConvHelper.Geometry dense = geometry(Nd4j.zeros(DataType.FLOAT, 2, 32, 14, 14),
                Nd4j.zeros(DataType.FLOAT, 32, 32, 5, 5), 5);
        assertNotNull(WideDepthwiseWeights.of(big, descs(big)), "5x5 depthwise on 14x14");
        assertNull(WideDepthwiseWeights.of(small, descs(small)), "the kernel is higher than the map");
        assertNull(WideDepthwiseWeights.of(narrow, descs(narrow)), "3 wide: oneDNN's kernel does it itself");
        assertNull(WideDepthwiseWeights.of(dense, descs(dense)), "not depthwise");
    }

    private static DnnlConvHelper.Geometry geometry(INDArray x, INDArray w, int k) {
        return DnnlConvHelper.Geometry.of(x, w, new int[]{k, k}, new int[]{1, 1}, new int[]{k / 2, k / 2},
                ConvolutionMode.Truncate, new int[]{1, 1}, CNN2DFormat.NCHW);
    }

    private static memory.desc[] descs(DnnlConvHelper.Geometry g) {
        return new memory.desc[]{Dnnl.desc(g.srcDims(), memory.format_tag.nchw),
                Dnnl.desc(g.weightDims(), g.weightTag()), null, Dnnl.desc(g.dstDims(), memory.format_tag.nchw)};
    }
}
