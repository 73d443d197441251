package dev.cnn.transfer;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tiny graphs and random data for the transfer tests (16x16x3 inputs, 3 classes). */
final class TinyNets {
    static final int H = 16;
    static final int C = 3;
    static final int CLASSES = 3;

    private TinyNets() {
    }

    /** in -> conv1 -> bn1 -> relu1 -> pool -> drop -> fc -> out. */
    static ComputationGraph convBnDropout(long seed) {
        return convBnDropout(seed, new Adam(1e-2));
    }

    static ComputationGraph convBnDropout(long seed, IUpdater updater) {
        var conf = new NeuralNetConfiguration.Builder().seed(seed).updater(updater).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(H, H, C))
                .addLayer("conv1", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(),
                        "in")
                .addLayer("bn1", new BatchNormalization.Builder().build(), "conv1")
                .addLayer("relu1", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn1")
                .addLayer("pool", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build(),
                        "relu1")
                .addLayer("drop", new DropoutLayer.Builder(0.5).build(), "pool")
                .addLayer("fc", new DenseLayer.Builder().nOut(8).activation(Activation.RELU).build(), "drop")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "fc")
                .setOutputs("out")
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** Two conv branches merged: in -> a, in -> b, merge(a, b) -> gap -> out. */
    static ComputationGraph branches(long seed) {
        var conf = new NeuralNetConfiguration.Builder().seed(seed).updater(new Adam(1e-2))
                .weightInit(WeightInit.XAVIER).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(H, H, C))
                .addLayer("a", new ConvolutionLayer.Builder(3, 3).nOut(2).activation(Activation.RELU).build(), "in")
                .addLayer("b", new ConvolutionLayer.Builder(3, 3).nOut(3).activation(Activation.RELU).build(), "in")
                .addVertex("merge", new MergeVertex(), "a", "b")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "merge")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** DL4J-zoo style: the last layer is a softmax DenseLayer ("predictions"), no OutputLayer. */
    static ComputationGraph zooStyle() {
        var conf = new NeuralNetConfiguration.Builder().seed(1).updater(new Adam(1e-3)).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.feedForward(6))
                .addLayer("fc1", new DenseLayer.Builder().nOut(5).build(), "in")
                .addLayer("fc2", new DenseLayer.Builder().nOut(4).build(), "fc1")
                .addLayer("predictions", new DenseLayer.Builder().nOut(10).activation(Activation.SOFTMAX).build(),
                        "fc2")
                .setOutputs("predictions")
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    /** fc -> logits -> LossLayer. */
    static ComputationGraph withLossLayer() {
        var conf = new NeuralNetConfiguration.Builder().seed(1).updater(new Adam(1e-3)).graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.feedForward(6))
                .addLayer("fc", new DenseLayer.Builder().nOut(5).build(), "in")
                .addLayer("logits", new DenseLayer.Builder().nOut(3).activation(Activation.SOFTMAX).build(), "fc")
                .addLayer("loss", new LossLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .activation(Activation.IDENTITY).build(), "logits")
                .setOutputs("loss")
                .build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    static List<DataSet> data(int batches, int batchSize, long seed) {
        Nd4j.getRandom().setSeed(seed);
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int i = 0; i < batches; i++) {
            INDArray x = Nd4j.randn(DataType.FLOAT, batchSize, C, H, H);
            INDArray y = Nd4j.zeros(DataType.FLOAT, batchSize, CLASSES);
            for (int j = 0; j < batchSize; j++) {
                y.putScalar(j, r.nextInt(CLASSES), 1f);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }

    /** One-hot labels, example i in class i % classes. */
    static INDArray labels(int n, int classes) {
        INDArray y = Nd4j.zeros(DataType.FLOAT, n, classes);
        for (int i = 0; i < n; i++) {
            y.putScalar(i, i % classes, 1f);
        }
        return y;
    }

    /** Copies of every parameter, by "layer/param". */
    static Map<String, float[]> snapshot(ComputationGraph g) {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (var v : g.getVertices()) {
            if (!v.hasLayer()) {
                continue;
            }
            String name = v.getVertexName();
            for (var p : v.getLayer().paramTable().entrySet()) {
                m.put(name + "/" + p.getKey(), p.getValue().dup().data().asFloat());
            }
        }
        return m;
    }

    static float[] param(ComputationGraph g, String layer, String param) {
        return g.getLayer(layer).getParam(param).dup().data().asFloat();
    }

    /** Bit-for-bit equality of the named layers' parameters. */
    static void assertSameParams(Map<String, float[]> expected, Map<String, float[]> actual, String layerPrefix) {
        int n = 0;
        for (var e : expected.entrySet()) {
            if (layerPrefix == null || e.getKey().startsWith(layerPrefix + "/")) {
                assertArrayEquals(e.getValue(), actual.get(e.getKey()), "parameter " + e.getKey() + " changed");
                n++;
            }
        }
        if (layerPrefix != null) {
            assertEquals(true, n > 0, "no parameters for " + layerPrefix);
        }
    }

    static boolean sameBits(float[] a, float[] b) {
        return Arrays.equals(a, b);
    }
}
