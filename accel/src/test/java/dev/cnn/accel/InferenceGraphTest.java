package dev.cnn.accel;


import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InferenceGraphTest {
    /** Networks of 140M parameters in double precision: free each test's before the next (the suite stays < 4 GB). */
    @AfterEach
    void releaseNativeMemory() {
        System.gc();
    }


    @BeforeAll
    static void engine() {
        Engine.init();
    }

    static Stream<Arguments> architectures() {
        // the CIFAR families differ only in depth: 20 and 56 stand for 32, 44 and 110 (CifarResNetTest counts all);
        // likewise the larger members of the newer families (same blocks, more of them or wider) stand for nothing
        // the smaller ones do not, and cost the most here (double precision): resnext50, wide_resnet50_2's resnet50,
        // efficientnet_b0, regnet_y_400mf and convnext_tiny stand for them
        return ModelRegistry.all().stream().filter(a -> !a.name().matches("(resnet|plain)(32|44|110)"
                        + "|resnext101_32x8d|wide_resnet50_2|efficientnet_b[123]|regnet_y_1_6gf|convnext_small"))
                .map(a -> Arguments.of(a.name(), a));
    }

    static long batchNorms(ComputationGraph g) {
        return Stream.of(g.getLayers()).filter(l -> l.conf().getLayer() instanceof BatchNormalization).count();
    }

    /** Batch norms that read a convolution's output: those a fold can merge (DenseNet's pre-activation ones not). */
    static long batchNormsAfterConvolutions(ComputationGraph g) {
        var c = g.getConfiguration();
        return Stream.of(g.getLayers()).filter(l -> l.conf().getLayer() instanceof BatchNormalization).filter(l -> {
            java.util.List<String> in = c.getVertexInputs().get(l.conf().getLayer().getLayerName());
            return in != null && in.size() == 1 && g.getVertex(in.get(0)).hasLayer()
                    && g.getLayer(in.get(0)).conf().getLayer()
                    instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
        }).count();
    }

    /** Activation layers with a plain ReLU right after a batch norm. */
    static long plainRelusAfterBatchNorms(ComputationGraph g) {
        var c = g.getConfiguration();
        return Stream.of(g.getLayers()).filter(l -> l.conf().getLayer()
                instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer a
                && a.getActivationFn() instanceof org.nd4j.linalg.activations.impl.ActivationReLU).filter(l -> {
            java.util.List<String> in = c.getVertexInputs().get(l.conf().getLayer().getLayerName());
            return in != null && in.size() == 1 && g.getVertex(in.get(0)).hasLayer()
                    && g.getLayer(in.get(0)).conf().getLayer() instanceof BatchNormalization;
        }).count();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void foldedNetworkGivesTheSameOutputs(String name, Architecture a) {
        int size = Math.max(a.minInputSize(), 16);
        ComputationGraph net = a.build(ModelSpec.builder().numClasses(5).input(3, size, size).seed(3).build());
        long bns = batchNorms(net);
        long foldable = batchNormsAfterConvolutions(net);
        Nd4j.getRandom().setSeed(11);
        for (Layer l : net.getLayers()) { // running statistics and affine parameters far from their initial values
            if (l.conf().getLayer() instanceof BatchNormalization bn) {
                Map<String, INDArray> p = l.paramTable();
                p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN).assign(Nd4j.randn(DataType.FLOAT,
                        p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN).shape()).muli(0.3));
                INDArray var = Nd4j.rand(DataType.FLOAT, p.get(BatchNormalizationParamInitializer.GLOBAL_MEAN).shape())
                        .addi(0.5);
                if (bn.isUseLogStd()) {
                    p.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).assign(
                            org.nd4j.linalg.ops.transforms.Transforms.log(var.add(bn.getEps()), 10.0, true).muli(0.5));
                } else {
                    p.get(BatchNormalizationParamInitializer.GLOBAL_VAR).assign(var);
                }
                p.get(BatchNormalizationParamInitializer.GAMMA).assign(Nd4j.rand(DataType.FLOAT,
                        p.get(BatchNormalizationParamInitializer.GAMMA).shape()).addi(0.5));
                p.get(BatchNormalizationParamInitializer.BETA).assign(Nd4j.randn(DataType.FLOAT,
                        p.get(BatchNormalizationParamInitializer.BETA).shape()).muli(0.2));
            }
        }
        ComputationGraph floatNet = net;
        // in double precision, so that a wrong fold shows and float rounding through 150 layers does not
        net = net.convertDataType(DataType.DOUBLE);
        long before = checksum(net.params()); // a copy of VGG's 140M doubles would double this test's memory
        InferenceGraph.Folded f = InferenceGraph.fold(net, AccelOptions.DEFAULT);
        assertEquals(before, checksum(net.params()), "the original network is left as it was");
        if (bns == 0) {
            assertSame(net, f.network(), name + " has nothing to fold");
            return;
        }
        assertEquals(foldable, f.batchNorms(), "every batch norm that follows a convolution is folded");
        assertEquals(bns - foldable, batchNorms(f.network()), "only those before a convolution are left");
        if (plainRelusAfterBatchNorms(net) > 0) { // not MobileNetV2's ReLU6 or EfficientNet's SiLU
            assertTrue(f.activations() > 0, "ReLUs after folded batch norms move into the convolutions");
        }
        assertEquals(net.getLayers().length - foldable - f.activations(), f.network().getLayers().length);

        INDArray x = Nd4j.rand(DataType.DOUBLE, 1, 3, size, size);
        INDArray fa = net.feedForward(x, false).get(a.featureLayer());
        INDArray fb = f.network().feedForward(x, false).get(a.featureLayer());
        double rel = fa.sub(fb).norm2Number().doubleValue() / Math.max(1e-6, fa.norm2Number().doubleValue());
        assertTrue(rel < 1e-10, name + ": features differ by " + rel + " (relative)");
        INDArray pa = net.outputSingle(false, x);
        INDArray pb = f.network().outputSingle(false, x);
        assertTrue(pa.sub(pb).amaxNumber().doubleValue() < 1e-10, name + ": probabilities differ");
        net = null; // the double-precision networks are done with: free them before the float copies
        f = null;
        System.gc();

        // in float, as the product runs it: the folded copy's convolutions on oneDNN with weights reordered once and
        // the ReLU inside the convolution (double precision above takes DL4J's path)
        InferenceGraph.Folded ff = InferenceGraph.fold(floatNet, AccelOptions.DEFAULT);
        ComputationGraph folded = ff.network();
        if (Dnnl.available() && name.startsWith("resnet")) {
            int blocks = switch (name) {
                case "resnet18" -> 8;
                case "resnet34", "resnet50" -> 16;
                case "resnet101" -> 33;
                case "resnet152" -> 50;
                default -> (Integer.parseInt(name.substring(6)) - 2) / 2; // CIFAR resnet20..110: 3 stages of n
            };
            assertEquals(blocks, ff.residuals(),
                    name + ": every residual block ends in one fused convolution + add + ReLU");
            // activations between the convolutions stay in oneDNN's blocked layout (idempotent: fold did it)
            assertTrue(GraphPolicy.blockActivations(folded) >= ff.residuals(), name + ": blocked activations");
        }
        if (Dnnl.available() && java.util.Set.of("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "densenet121")
                .contains(name)) { // not only ResNets: the efficient networks' activations stay blocked too
            assertTrue(GraphPolicy.blockedVertices(folded) > 10, name + ": blocked vertices "
                    + GraphPolicy.blockedVertices(folded));
            if (name.startsWith("efficientnet")) { // and the squeeze-and-excitation gates with them
                assertTrue(Stream.of(folded.getVertices()).anyMatch(v -> v instanceof dev.cnn.zoo.layers.ChannelBlocked c
                        && c.channelBlock() > 0), name + ": no channel gate on the blocked layout");
            }
        }
        if (Dnnl.available()) {
            assertTrue(Stream.of(folded.getLayers()).filter(l -> l.getClass()
                            == org.deeplearning4j.nn.layers.convolution.ConvolutionLayer.class)
                    .allMatch(l -> l.getHelper() instanceof dev.cnn.accel.DnnlConvHelper d && d.inferenceOnly()),
                    name + ": inference-only oneDNN helpers on the folded copy");
        }
        INDArray xf = x.castTo(DataType.FLOAT);
        INDArray qa = floatNet.outputSingle(false, xf);
        for (int run = 0; run < 2; run++) { // the second run uses the weights reordered by the first
            INDArray qb = folded.outputSingle(false, xf);
            assertTrue(qa.sub(qb).amaxNumber().doubleValue() < 1e-4, name + ": float probabilities differ, run " + run);
        }
        if (Dnnl.available() && name.startsWith("densenet")) { // batch norms on concatenations take their ReLU in
            assertEquals(bns - foldable, Stream.of(folded.getLayers()).filter(l -> l instanceof ReluBatchNormLayer
                    && l.getHelper() instanceof DnnlBatchNormHelper h && h.lastFusedRelu() && h.blocked()).count(),
                    name + ": batch norms with the ReLU in their own pass on oneDNN, blocked layout");
            assertEquals(0, Stream.of(folded.getLayers()).filter(l -> l.conf().getLayer()
                    instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer).count(), name + ": ReLU layers left");
            // the configuration says so: a network rebuilt from it (as a saved copy is) computes the same
            ComputationGraph rebuilt = new ComputationGraph(org.deeplearning4j.nn.conf.ComputationGraphConfiguration
                    .fromJson(folded.getConfiguration().toJson()));
            rebuilt.init(folded.params().dup(), false);
            assertTrue(Stream.of(rebuilt.getLayers()).anyMatch(l -> l instanceof ReluBatchNormLayer), name);
            assertTrue(qa.sub(rebuilt.outputSingle(false, xf)).amaxNumber().doubleValue() < 1e-4,
                    name + ": a copy rebuilt from the configuration gives other probabilities");
        }
    }

    /** CRC-32 of the bits of every value of {@code a}, read 1M values at a time. */
    static long checksum(INDArray a) {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        INDArray flat = a.reshape(a.length());
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(8 << 20);
        for (long s = 0; s < a.length(); s += 1 << 20) {
            double[] chunk = flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(s, Math.min(a.length(),
                    s + (1 << 20)))).toDoubleVector();
            bytes.clear();
            for (double v : chunk) {
                bytes.putLong(Double.doubleToRawLongBits(v));
            }
            crc.update(bytes.array(), 0, bytes.position());
        }
        return crc.getValue();
    }

    @org.junit.jupiter.api.Test
    void foldsOnlyWhenThereAreEnoughImages() {
        ComputationGraph net = ModelRegistry.get("simplecnn").build(ModelSpec.builder().numClasses(3).input(3, 16, 16)
                .seed(1).build());
        assertSame(net, InferenceGraph.forImages(net, InferenceGraph.WORTH_FOLDING - 1, AccelOptions.DEFAULT));
        ComputationGraph folded = InferenceGraph.forImages(net, InferenceGraph.WORTH_FOLDING, AccelOptions.DEFAULT);
        assertTrue(folded != net && batchNorms(folded) == 0 && batchNorms(net) > 0);
    }
}
