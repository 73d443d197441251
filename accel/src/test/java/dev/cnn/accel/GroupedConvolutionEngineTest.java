package dev.cnn.accel;

import dev.cnn.zoo.layers.GroupedConvolution;
import dev.cnn.zoo.layers.GroupedConvolutionLayer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Grouped and depthwise convolutions on oneDNN give libnd4j's numbers: forward, every gradient, and the folded
 * inference copy. Groups of whole channel blocks, ResNeXt's groups of 4 channels, and a strided depthwise one.
 */
class GroupedConvolutionEngineTest {

    private static GroupedConvolution conv(int out, int k, int stride, int groups, boolean bias, Activation act) {
        return new GroupedConvolution(new ConvolutionLayer.Builder(k, k).stride(stride, stride).padding(k / 2, k / 2)
                .nOut(out).hasBias(bias).activation(act), groups);
    }

    private static ComputationGraph net() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).updater(new Sgd(0.1))
                .convolutionMode(ConvolutionMode.Truncate).graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(12, 12, 32))
                .addLayer("grouped", conv(64, 3, 1, 2, false, Activation.IDENTITY), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "grouped")
                .addLayer("resnext", conv(64, 3, 1, 16, false, Activation.RELU), "bn")
                .addLayer("dw", conv(64, 3, 2, 64, true, Activation.IDENTITY), "resnext")
                .addLayer("dw5", conv(64, 5, 1, 64, false, Activation.TANH), "dw")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "dw5")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(5)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    @Test
    void groupedAndDepthwiseConvolutionsOnOneDnnGiveLibnd4jsForwardAndGradients() {
        Nd4j.getRandom().setSeed(9);
        INDArray x = Nd4j.randn(new long[]{3, 32, 12, 12});
        INDArray y = Nd4j.zeros(3, 5);
        for (int i = 0; i < 3; i++) {
            y.putScalar(i, i, 1);
        }
        ComputationGraph plain = net();
        ComputationGraph engine = net();
        Accel.install(engine);
        assertInstanceOf(DnnlConvHelper.class,
                ((GroupedConvolutionLayer) engine.getLayer("resnext")).convolutionHelper());
        long[] before = DnnlConvHelper.calls();
        assertTrue(plain.outputSingle(false, x).equalsWithEps(engine.outputSingle(false, x), 1e-5), "outputs");
        MultiDataSet data = new MultiDataSet(new INDArray[]{x}, new INDArray[]{y});
        plain.setInputs(x);
        plain.setLabels(y);
        plain.computeGradientAndScore();
        engine.setInputs(x);
        engine.setLabels(y);
        engine.computeGradientAndScore();
        long[] after = DnnlConvHelper.calls();
        assertTrue(after[0] - before[0] >= 8 && after[1] - before[1] >= 4, "ran on oneDNN: "
                + (after[0] - before[0]) + " forward, " + (after[1] - before[1]) + " backward calls");
        assertEquals(plain.score(), engine.score(), 1e-5);
        Map<String, INDArray> want = plain.gradient().gradientForVariable();
        Map<String, INDArray> got = engine.gradient().gradientForVariable();
        for (Map.Entry<String, INDArray> e : want.entrySet()) {
            INDArray g = got.get(e.getKey());
            double scale = Math.max(1e-3, e.getValue().norm2Number().doubleValue());
            double diff = e.getValue().sub(g).norm2Number().doubleValue();
            assertTrue(diff <= 1e-4 * scale, e.getKey() + ": gradients differ by " + diff + " (norm " + scale + ")");
        }
        for (String layer : new String[]{"grouped", "resnext", "dw", "dw5"}) {
            java.util.Set<String> impl = ((DnnlConvHelper) ((GroupedConvolutionLayer) engine.getLayer(layer))
                    .convolutionHelper()).implementations();
            assertTrue(impl.stream().noneMatch(i -> i.startsWith("ref")), layer + " on oneDNN's reference kernel: "
                    + impl);
        }
        engine.fit(data);
        plain.fit(data);
        assertTrue(plain.params().equalsWithEps(engine.params(), 1e-4), "a training step agrees");
    }

    @Test
    void theFoldedInferenceCopyOfGroupedConvolutionsGivesTheSameOutputs() {
        Nd4j.getRandom().setSeed(4);
        ComputationGraph g = net();
        INDArray x = Nd4j.randn(new long[]{2, 32, 12, 12});
        g.fit(new MultiDataSet(new INDArray[]{x}, new INDArray[]{Nd4j.eye(5).getRows(0, 1)})); // batch-norm statistics move
        INDArray want = g.outputSingle(false, x);
        InferenceGraph.Folded f = InferenceGraph.fold(g, AccelOptions.DEFAULT);
        assertEquals(1, f.batchNorms(), "the batch norm after the first grouped convolution is folded into it");
        assertTrue(want.equalsWithEps(f.network().outputSingle(false, x), 1e-4), "folded outputs");
    }
}
