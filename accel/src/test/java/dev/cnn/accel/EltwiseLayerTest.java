package dev.cnn.accel;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Element-wise activation layers on oneDNN give DL4J's outputs and gradients, ReLU6 also when applied in place. */
class EltwiseLayerTest {

    private static IActivation activation(String name) {
        return switch (name) {
            case "hardswish" -> new dev.cnn.zoo.layers.ActivationHardSwish();
            case "gelu" -> new dev.cnn.zoo.layers.ActivationGelu();
            default -> Activation.valueOf(name.toUpperCase()).getActivationFunction();
        };
    }

    /** conv, batch norm, activation, twice; then pooling and a softmax head. */
    private static ComputationGraph net(IActivation act) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.FLOAT)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(12, 12, 3))
                .addLayer("c1", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(32).hasBias(false)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("b1", new BatchNormalization.Builder().build(), "c1")
                .addLayer("a1", new ActivationLayer.Builder().activation(act).build(), "b1")
                .addLayer("c2", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(32).hasBias(false)
                        .activation(Activation.IDENTITY).build(), "a1")
                .addLayer("b2", new BatchNormalization.Builder().build(), "c2")
                .addLayer("a2", new ActivationLayer.Builder().activation(act).build(), "b2")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "a2")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    @ParameterizedTest
    @CsvSource({"relu6,2", "swish,0", "sigmoid,0", "tanh,0", "hardswish,0", "gelu,0"})
    void elementWiseActivationsRunOnOneDnnWithDl4jsOutputsAndGradients(String name, int inPlace) {
        Engine.init();
        assertTrue(Dnnl.available(), "org.bytedeco:dnnl does not load");
        ComputationGraph plain = net(activation(name));
        ComputationGraph dnnl = net(activation(name));
        Nd4j.getRandom().setSeed(8);
        // values on both sides of each activation's bends (ReLU6: 0 and 6; Hardswish: -3 and 3)
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3, 12, 12).muli(4);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        try (TrainingSession t = Accel.beginTraining(dnnl)) {
            assertEquals(inPlace, t.activationsInPlace(), "activations in place");
            assertTrue(dnnl.getLayer("a1") instanceof EltwiseLayer);
            long before = EltwiseLayer.calls();
            INDArray outPlain = plain.outputSingle(false, x);
            INDArray outDnnl = dnnl.outputSingle(false, x);
            assertTrue(outPlain.equalsWithEps(outDnnl, 1e-5), "inference outputs differ: " + outPlain + outDnnl);
            for (ComputationGraph g : new ComputationGraph[]{plain, dnnl}) {
                g.setInputs(x);
                g.setLabels(y);
                g.computeGradientAndScore();
            }
            // two layers: inference forward, training forward, backward
            assertEquals(6, EltwiseLayer.calls() - before, "activation passes on oneDNN");
            EngineTest.assertNoHelperFallback(dnnl);
            assertEquals(plain.score(), dnnl.score(), 1e-5 * plain.score());
            for (Map.Entry<String, INDArray> e : plain.gradient().gradientForVariable().entrySet()) {
                INDArray a = e.getValue();
                INDArray b = dnnl.gradient().getGradientFor(e.getKey());
                double scale = Math.max(1e-3, a.norm2Number().doubleValue());
                assertTrue(a.sub(b).norm2Number().doubleValue() / scale < 1e-4,
                        name + ": gradient " + e.getKey() + " differs: " + a.sub(b).norm2Number() + " of " + scale);
            }
        }
    }
}
