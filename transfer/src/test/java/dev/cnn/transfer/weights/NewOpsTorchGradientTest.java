package dev.cnn.transfer.weights;

import dev.cnn.accel.Accel;
import dev.cnn.zoo.layers.ActivationGelu;
import dev.cnn.zoo.layers.ActivationHardSigmoid;
import dev.cnn.zoo.layers.ActivationHardSwish;
import dev.cnn.zoo.layers.ChannelLayerNorm;
import dev.cnn.zoo.layers.ChannelScaleVertex;
import dev.cnn.zoo.layers.ChannelShuffleVertex;
import dev.cnn.zoo.layers.GroupedConvolution;
import dev.cnn.zoo.layers.LayerScale;
import dev.cnn.zoo.layers.StochasticDepth;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zoo's new operations against PyTorch's: one small network with all of them (grouped and depthwise
 * convolutions, Hardswish, SiLU, squeeze-and-excitation gated by Hardsigmoid, channel LayerNorm, exact GELU, layer
 * scale, channel shuffle), built in both with PyTorch's weights; the mean cross-entropy and every parameter's
 * gradient agree (PyTorch in float64, cnn in float32), on libnd4j's ops and on the engine's oneDNN kernels.
 */
class NewOpsTorchGradientTest {
    @TempDir
    Path tmp;

    private static ConvolutionLayer.Builder conv(int out, int k, int stride, int pad, boolean bias, IActivation act) {
        return new ConvolutionLayer.Builder(k, k).stride(stride, stride).padding(pad, pad).nOut(out).hasBias(bias)
                .activation(act);
    }

    /** The fixture script's {@code Ops} module, layer for layer and name for name. */
    static ComputationGraph ops() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().updater(new NoOp())
                .convolutionMode(ConvolutionMode.Truncate).graphBuilder().addInputs("input")
                .setInputTypes(InputType.convolutional(12, 12, 3))
                .addLayer("stem", conv(8, 3, 1, 1, true, new ActivationHardSwish()).build(), "input")
                .addLayer("grouped", new GroupedConvolution(conv(16, 3, 1, 1, false,
                        Activation.SWISH.getActivationFunction()), 4), "stem")
                .addLayer("dw", new GroupedConvolution(conv(16, 3, 2, 1, true,
                        Activation.IDENTITY.getActivationFunction()), 16), "grouped")
                .addLayer("se.avgpool", new GlobalPoolingLayer.Builder(PoolingType.AVG).collapseDimensions(false)
                        .build(), "dw")
                .addLayer("se.fc1", conv(4, 1, 1, 0, true, Activation.RELU.getActivationFunction()).build(),
                        "se.avgpool")
                .addLayer("se.fc2", conv(16, 1, 1, 0, true, new ActivationHardSigmoid()).build(), "se.fc1")
                .addVertex("se.scale", new ChannelScaleVertex(), "dw", "se.fc2")
                .addLayer("ln", new ChannelLayerNorm(1e-6), "se.scale")
                .addLayer("mlp", conv(32, 1, 1, 0, true, new ActivationGelu()).build(), "ln")
                .addLayer("proj", conv(16, 1, 1, 0, true, Activation.IDENTITY.getActivationFunction()).build(),
                        "mlp")
                .addLayer("layer_scale", new LayerScale(1e-6), "proj")
                .addVertex("add", new ElementWiseVertex(ElementWiseVertex.Op.Add), "se.scale", "layer_scale")
                .addVertex("shuffle", new ChannelShuffleVertex(2), "add")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "shuffle")
                .addLayer("fc", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(5)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("fc").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    @ParameterizedTest(name = "oneDNN: {0}")
    @ValueSource(booleans = {false, true})
    void lossAndEveryGradientMatchPyTorch(boolean engine) throws Exception {
        PyTorch.fixtures("ops", "--out", tmp.toString());
        ComputationGraph g = ops();
        try (StateDict sd = StateDict.read(tmp.resolve("ops.pth"))) {
            TorchNames.load(g, sd, Set.of(), "ops");
        }
        if (engine) {
            Accel.install(g);
        }
        INDArray x = Nd4j.create(PyTorch.floats(tmp.resolve("ops.input.bin")), new long[]{2, 3, 12, 12}, 'c');
        INDArray y = Nd4j.create(PyTorch.floats(tmp.resolve("ops.labels.bin")), new long[]{2, 5}, 'c');
        g.setInputs(x);
        g.setLabels(y);
        g.computeGradientAndScore();
        assertEquals(PyTorch.floats(tmp.resolve("ops.loss.bin"))[0], g.score(), 1e-5, "mean cross-entropy");
        Map<String, INDArray> grads = g.gradient().gradientForVariable();
        int compared = 0;
        try (StateDict want = StateDict.read(tmp.resolve("ops.grads.safetensors"))) {
            for (Map.Entry<String, TensorData> e : want.tensors().entrySet()) {
                String key = e.getKey();
                int dot = key.lastIndexOf('.');
                String layer = key.equals("layer_scale") ? key : key.substring(0, dot);
                String param = switch (key.equals("layer_scale") ? "layer_scale" : key.substring(dot + 1)) {
                    case "weight" -> g.getLayer(layer).conf().getLayer() instanceof ChannelLayerNorm
                            ? ChannelLayerNorm.GAMMA : "W";
                    case "bias" -> g.getLayer(layer).conf().getLayer() instanceof ChannelLayerNorm
                            ? ChannelLayerNorm.BETA : "b";
                    default -> LayerScale.GAMMA;
                };
                INDArray t = e.getValue().toFloats();
                INDArray got = grads.get(layer + "_" + param);
                assertTrue(got != null, "no gradient for " + layer + "_" + param + " in " + grads.keySet());
                // DL4J's gradients are sums over the minibatch (its updater divides by the batch size), PyTorch's
                // of the mean loss
                INDArray expect = (layer.equals("fc") && param.equals("W")
                        ? t.reshape(t.size(0), t.size(1)).transpose() : t.reshape(got.shape())).mul(x.size(0));
                double norm = expect.norm2Number().doubleValue();
                double diff = expect.sub(got).norm2Number().doubleValue();
                System.out.printf("gradient %s: norm %.3e, diff %.2e%n", key, norm, diff);
                assertTrue(norm > 0, key + ": PyTorch's gradient is zero");
                assertTrue(diff <= 1e-4 * norm + 1e-7, key + ": gradient differs by " + diff + " (norm " + norm + ")");
                compared++;
            }
        }
        assertEquals(18, compared, "every parameter of the PyTorch module");
    }

    /**
     * Stochastic depth against torchvision's {@code StochasticDepth(0.5, "row")} in training: the same per-sample keep
     * pattern (cnn's draw, handed to PyTorch in place of its own), then the output and the input gradient of
     * {@code sum(out * w)} agree: dropped samples are zero, kept ones scaled by 1 / (1 - p), both ways.
     */
    @org.junit.jupiter.api.Test
    void stochasticDepthInTrainingMatchesTorchvisionsWithTheSameDraw() throws Exception {
        ComputationGraph net = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in").setInputTypes(InputType.convolutional(3, 3, 4))
                .addLayer("sd", new StochasticDepth(0.5), "in").setOutputs("sd").build());
        net.init();
        INDArray ones = Nd4j.ones(org.nd4j.linalg.api.buffer.DataType.FLOAT, 8, 4, 3, 3);
        Nd4j.getRandom().setSeed(21);
        INDArray drawn = net.outputSingle(true, ones);
        float[] keep = new float[8];
        int kept = 0;
        for (int i = 0; i < 8; i++) {
            keep[i] = drawn.getFloat(i, 0, 0, 0) * 0.5f; // 0 or 1
            kept += keep[i] == 1f ? 1 : 0;
        }
        assertTrue(kept > 0 && kept < 8, "this seed drops some samples and keeps others: " + kept);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(32).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float k : keep) {
            b.putFloat(k);
        }
        java.nio.file.Files.write(tmp.resolve("sd.keep.bin"), b.array());
        PyTorch.fixtures("stochastic-depth", "--out", tmp.toString());
        long[] shape = {8, 4, 3, 3};
        INDArray x = Nd4j.create(PyTorch.floats(tmp.resolve("sd.input.bin")), shape, 'c');
        INDArray w = Nd4j.create(PyTorch.floats(tmp.resolve("sd.weights.bin")), shape, 'c');
        INDArray wantOut = Nd4j.create(PyTorch.floats(tmp.resolve("sd.output.bin")), shape, 'c');
        INDArray wantGrad = Nd4j.create(PyTorch.floats(tmp.resolve("sd.grad.bin")), shape, 'c');
        Nd4j.getRandom().setSeed(21); // the same draw
        INDArray out = net.outputSingle(true, x);
        assertTrue(wantOut.equalsWithEps(out, 1e-6), "outputs differ: " + wantOut.sub(out).amaxNumber());
        INDArray grad = net.getLayer("sd").backpropGradient(w,
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces()).getSecond();
        assertTrue(wantGrad.equalsWithEps(grad, 1e-6), "input gradients differ: " + wantGrad.sub(grad).amaxNumber());
    }
}
