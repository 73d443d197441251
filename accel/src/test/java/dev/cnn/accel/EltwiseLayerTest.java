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
    @CsvSource({"relu6,2", "swish,0", "sigmoid,0", "tanh,0", "gelu,0"})
    void elementWiseActivationsRunOnOneDnnWithDl4jsOutputsAndGradients(String name, int inPlace) {
        Engine.init();
        assertTrue(Dnnl.available(), "org.bytedeco:dnnl does not load");
        ComputationGraph plain = net(activation(name));
        ComputationGraph dnnl = net(activation(name));
        Nd4j.getRandom().setSeed(8);
        // the batch norms bring these to mean 0, variance 1 (ReLU6's bend at 6 is tested on the layer alone below)
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

    /**
     * The layer alone on values at and around each bend (ReLU6: 0 and 6; GELU and SiLU near 0), against DL4J's
     * activation function: forward, backward, and for ReLU6 also applied in place, with the gradient taken from the
     * output, and with in-place switched off between the forward and the backward pass.
     */
    @ParameterizedTest
    @CsvSource({"relu6", "swish", "sigmoid", "tanh", "gelu"})
    void theLayerAloneMatchesDl4jsActivationAtItsBends(String name) {
        Engine.init();
        assertTrue(Dnnl.available(), "org.bytedeco:dnnl does not load");
        IActivation act = activation(name);
        float[] v = {-7f, -6f, -4f, -3f, -2.9f, -1f, -0.1f, 0f, 0.1f, 1f, 2.9f, 3f, 3.1f, 5.9f, 6f, 6.1f, 7f, 12f};
        INDArray x = Nd4j.create(v, new long[]{1, v.length, 1, 1}, DataType.FLOAT);
        INDArray eps = Nd4j.linspace(DataType.FLOAT, 1, v.length, 1).reshape(1, v.length, 1, 1).divi(3);
        INDArray expectedOut = act.getActivation(x.dup(), true);
        INDArray expectedGrad = act.backprop(x.dup(), eps.dup()).getFirst();
        org.deeplearning4j.nn.workspace.LayerWorkspaceMgr ws =
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder()
                .layer(new ActivationLayer.Builder().activation(act).build()).build();
        for (int mode = 0; mode < 3; mode++) { // 0: a new array; 1: in place; 2: in place, then switched off
            if (mode > 0 && !name.equals("relu6")) {
                break;
            }
            EltwiseLayer layer = new EltwiseLayer(conf, DataType.FLOAT);
            assertEquals(name.equals("relu6"), layer.canRunInPlace(), name);
            layer.inPlace(mode > 0);
            INDArray in = x.dup();
            long before = EltwiseLayer.calls();
            layer.setInput(in, ws);
            INDArray out = layer.activate(true, ws);
            assertTrue(expectedOut.equalsWithEps(out, 1e-6), name + " mode " + mode + " forward: " + out);
            assertEquals(mode > 0, out == in, "overwrote its input");
            if (mode == 2) {
                layer.inPlace(false);
            }
            INDArray grad = layer.backpropGradient(eps.dup(), ws).getSecond();
            assertEquals(2, EltwiseLayer.calls() - before, "both passes on oneDNN");
            assertTrue(expectedGrad.equalsWithEps(grad, 1e-5), name + " mode " + mode + " backward: "
                    + java.util.Arrays.toString(grad.ravel().toFloatVector()) + " expected "
                    + java.util.Arrays.toString(expectedGrad.ravel().toFloatVector()));
        }
        // an inference pass never overwrites its input
        EltwiseLayer layer = new EltwiseLayer(conf, DataType.FLOAT);
        layer.inPlace(true);
        INDArray in = x.dup();
        layer.setInput(in, ws);
        assertTrue(expectedOut.equalsWithEps(layer.activate(false, ws), 1e-6));
        assertEquals(x, in);
    }

    /**
     * The zoo's Hardswish stays on its own code in training, with PyTorch 1.13's per-element gradient at the bends
     * (-0.5 at -3, 1.5 at 3), where oneDNN's is 0 and 1.
     */
    @org.junit.jupiter.api.Test
    void hardswishKeepsPyTorchsGradientAtItsBend() {
        Engine.init();
        IActivation act = new dev.cnn.zoo.layers.ActivationHardSwish();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder()
                .layer(new ActivationLayer.Builder().activation(act).build()).build();
        EltwiseLayer layer = new EltwiseLayer(conf, DataType.FLOAT);
        org.deeplearning4j.nn.workspace.LayerWorkspaceMgr ws =
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        INDArray x = Nd4j.create(new float[]{-3f, 0f, 3f, 4f}, new long[]{1, 4, 1, 1}, DataType.FLOAT);
        layer.setInput(x.dup(), ws);
        layer.activate(true, ws);
        INDArray grad = layer.backpropGradient(Nd4j.ones(DataType.FLOAT, 1, 4, 1, 1), ws).getSecond();
        // PyTorch's hardswish_backward: 0 below -3, x / 3 + 1/2 up to 3 inclusive, 1 above
        assertTrue(Nd4j.create(new float[]{-0.5f, 0.5f, 1.5f, 1f}, new long[]{1, 4, 1, 1}, DataType.FLOAT)
                .equalsWithEps(grad, 1e-6), grad.toString());
    }
}
