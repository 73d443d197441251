package dev.cnn.zoo;

import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SqueezeNet's ceil-mode pooling, its head after which only parameter-free layers come, and its initialisation. */
class SqueezeNetTest {

    static Map<String, String> shapes(String arch, int height, int width) {
        ModelSummary s = ModelSummary.of(ModelRegistry.get(arch), ModelSpec.builder().numClasses(10)
                .input(3, height, width).build());
        Map<String, String> out = new HashMap<>();
        s.rows().forEach(r -> out.put(r.name(), r.outputShape()));
        return out;
    }

    /** torchvision's convolutions at 3x224x224, 1000 classes (PyTorch forward hooks); no MACs for the loss layer. */
    @Test
    void multiplyAddsAreThoseOfTorchvisionsConvolutions() {
        for (var e : Map.of("squeezenet1_0", 818_924_576L, "squeezenet1_1", 349_151_936L).entrySet()) {
            ModelSummary s = ModelSummary.of(ModelRegistry.get(e.getKey()), ModelSpec.builder().numClasses(1000)
                    .input(3, 224, 224).build());
            assertEquals(e.getValue().longValue(), s.totalMacs(), e.getKey());
        }
    }

    @Test
    void minimumInputSizesAreTorchvisions() {
        assertEquals(21, ModelRegistry.get("squeezenet1_0").minInputSize()); // torchvision's meta["min_size"]
        assertEquals(17, ModelRegistry.get("squeezenet1_1").minInputSize());
    }

    /** Map sides after each max pool and after the last Fire module, as torchvision 0.14 computes them. */
    @ParameterizedTest(name = "{0} at {1}x{2}")
    @CsvSource(delimiter = ';', value = {
            "squeezenet1_0;21;21;4x4 2x2 1x1",
            "squeezenet1_0;22;22;4x4 2x2 1x1",
            "squeezenet1_0;32;32;6x6 3x3 1x1",
            "squeezenet1_0;63;63;14x14 7x7 3x3",
            "squeezenet1_0;64;64;14x14 7x7 3x3",
            "squeezenet1_0;224;224;54x54 27x27 13x13",
            "squeezenet1_0;226;226;55x55 27x27 13x13",
            "squeezenet1_0;227;227;55x55 27x27 13x13",
            "squeezenet1_0;256;256;62x62 31x31 15x15",
            "squeezenet1_0;299;299;73x73 36x36 18x18",
            "squeezenet1_0;224;300;54x73 27x36 13x18",
            "squeezenet1_1;17;17;4x4 2x2 1x1",
            "squeezenet1_1;18;18;4x4 2x2 1x1",
            "squeezenet1_1;32;32;7x7 3x3 1x1",
            "squeezenet1_1;63;63;15x15 7x7 3x3",
            "squeezenet1_1;64;64;15x15 7x7 3x3",
            "squeezenet1_1;224;224;55x55 27x27 13x13",
            "squeezenet1_1;226;226;56x56 28x28 14x14",
            "squeezenet1_1;227;227;56x56 28x28 14x14",
            "squeezenet1_1;256;256;63x63 31x31 15x15",
            "squeezenet1_1;299;299;74x74 37x37 18x18",
            "squeezenet1_1;224;300;55x74 27x37 13x18"})
    void mapSizesAreThoseOfPyTorchsCeilModePooling(String arch, int height, int width, String pyTorch) {
        List<String> pools = arch.equals("squeezenet1_0") ? List.of("features.2", "features.6", "features.11")
                : List.of("features.2", "features.5", "features.8");
        Map<String, String> shapes = shapes(arch, height, width);
        String[] want = pyTorch.split(" ");
        for (int i = 0; i < 3; i++) {
            assertEquals(want[i], shapes.get(pools.get(i)).replaceFirst("^\\d+x", ""), arch + " " + pools.get(i));
        }
        assertEquals("512x" + want[2], shapes.get("features.12"), arch + " features.12");
        assertEquals("10", shapes.get("softmax"));
    }

    /** PyTorch's ceil-mode max pool on {@code x} [n, c, h, w]: the maximum over each window's cells inside the map. */
    static INDArray ceilModeMaxPool(INDArray x) {
        int h = (int) x.size(2);
        int w = (int) x.size(3);
        int oh = SqueezeNet.ceilPoolSize(h);
        int ow = SqueezeNet.ceilPoolSize(w);
        INDArray out = Nd4j.create(x.dataType(), x.size(0), x.size(1), oh, ow);
        for (int n = 0; n < x.size(0); n++) {
            for (int c = 0; c < x.size(1); c++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double m = Double.NEGATIVE_INFINITY;
                        for (int a = 2 * i; a < Math.min(2 * i + 3, h); a++) {
                            for (int b = 2 * j; b < Math.min(2 * j + 3, w); b++) {
                                m = Math.max(m, x.getDouble(n, c, a, b));
                            }
                        }
                        out.putScalar(new long[]{n, c, i, j}, m);
                    }
                }
            }
        }
        return out;
    }

    /** At these sizes rounding up gives one more window than rounding down at every pool (1_1 at 36: the last two). */
    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"squeezenet1_0,22", "squeezenet1_1,18", "squeezenet1_1,36"})
    void zeroPaddingAndATruncatingPoolAreCeilModeMaxPooling(String arch, int size) {
        ComputationGraph g = ModelRegistry.get(arch).build(ModelSpec.builder().numClasses(4).input(3, size, size)
                .seed(5).build());
        Map<String, INDArray> acts = g.feedForward(Nd4j.rand(new int[]{2, 3, size, size}), false);
        int padded = 0;
        for (String pool : List.of("features.2", "features.5", "features.6", "features.8", "features.11")) {
            if (g.getVertex(pool) == null || !(g.getConfiguration().getVertices().get(pool) instanceof LayerVertex lv)
                    || !(lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer)) {
                continue;
            }
            String in = g.getConfiguration().getVertexInputs().get(pool).get(0);
            if (in.equals(pool + ".pad")) {
                padded++;
                in = g.getConfiguration().getVertexInputs().get(in).get(0);
            }
            INDArray x = acts.get(in);
            assertTrue(x.minNumber().doubleValue() >= 0, "a pool reads a ReLU's output");
            assertTrue(x.gt(0).castTo(org.nd4j.linalg.api.buffer.DataType.INT).sumNumber().intValue() > 0);
            assertEquals(ceilModeMaxPool(x), acts.get(pool), arch + " " + pool);
        }
        assertEquals(size == 36 ? 2 : 3, padded, arch + " at " + size + ": pools padded");
    }

    @Test
    void theHeadIsTheClassifierConvolutionAndTheDefaultCutTheLastFireModule() {
        for (String arch : List.of("squeezenet1_0", "squeezenet1_1")) {
            ComputationGraph g = ModelRegistry.get(arch).build(ModelSpec.builder().numClasses(7).input(3, 64, 64)
                    .build());
            var c = g.getConfiguration();
            assertEquals(List.of("softmax"), c.getNetworkOutputs());
            assertInstanceOf(LossLayer.class, ((LayerVertex) c.getVertices().get("softmax")).getLayerConf().getLayer());
            assertEquals(List.of("classifier.3"), c.getVertexInputs().get("softmax"));
            assertEquals(List.of("classifier.1"), c.getVertexInputs().get("classifier.3"));
            assertEquals(List.of("features.12"), c.getVertexInputs().get("classifier.1"));
            assertEquals(0, g.getLayer("softmax").numParams() + g.getLayer("classifier.3").numParams());
            assertEquals(7 * 512 + 7, g.getLayer("classifier.1").numParams());
            assertEquals("features.12", GraphQueries.defaultCut(g));
            assertEquals(List.of("features.12.expand1x1", "features.12.expand3x3"),
                    c.getVertexInputs().get("features.12"));
            // dropout 0.5 on the classifier's input, none before the cut (features can be computed once)
            assertEquals(0.5, ((org.deeplearning4j.nn.conf.dropout.Dropout) g.getLayer("classifier.1").conf()
                    .getLayer().getIDropout()).getP(), 0);
            for (String v : GraphQueries.ancestors(g, "features.12")) {
                if (c.getVertices().get(v) instanceof LayerVertex lv) {
                    assertNull(lv.getLayerConf().getLayer().getIDropout(), v);
                }
            }
        }
    }

    @Test
    void initialisationIsTorchvisionsKaimingUniformWithTheClassifierFromANormalOfStd001() {
        ComputationGraph g = ModelRegistry.get("squeezenet1_1").build(ModelSpec.builder().numClasses(50)
                .input(3, 32, 32).seed(9).build());
        INDArray cls = g.getLayer("classifier.1").getParam("W");
        assertEquals(0.01, cls.stdNumber().doubleValue(), 0.0005);
        assertEquals(0, cls.meanNumber().doubleValue(), 0.0005);
        double bound = Math.sqrt(6.0 / (64 * 9)); // expand3x3 of features.12: 64 channels in, 3x3
        INDArray w = g.getLayer("features.12.expand3x3").getParam("W");
        assertTrue(w.amaxNumber().doubleValue() <= bound && w.amaxNumber().doubleValue() > 0.99 * bound,
                w.amaxNumber() + " vs " + bound);
        assertEquals(bound / Math.sqrt(3), w.stdNumber().doubleValue(), 0.02 * bound);
        for (var l : g.getLayers()) {
            if (l.paramTable().containsKey("b")) {
                assertEquals(0, l.getParam("b").amaxNumber().doubleValue(), 0, l.conf().getLayer().getLayerName());
            }
        }
    }

    /** NHWC builds compute the same function where the pools pad too. */
    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"squeezenet1_0,22", "squeezenet1_1,36"})
    void nhwcMatchesNchwWhereThePoolsPad(String arch, int size) {
        Architecture a = ModelRegistry.get(arch);
        ComputationGraph g1 = a.build(ModelSpec.builder().numClasses(4).input(3, size, size).seed(5).build());
        ComputationGraph g2 = a.build(ModelSpec.builder().numClasses(4).input(3, size, size).seed(5).nhwc(true)
                .build());
        assertEquals(g1.params(), g2.params(), "same initial weights");
        INDArray x = Nd4j.rand(new int[]{2, 3, size, size});
        INDArray f1 = g1.feedForward(x, false).get("features.12");
        INDArray f2 = g2.feedForward(x.permute(0, 2, 3, 1).dup(), false).get("features.12").permute(0, 3, 1, 2);
        double rel = f1.sub(f2).amaxNumber().doubleValue() / f1.amaxNumber().doubleValue();
        assertTrue(rel < 1e-5, arch + ": features differ by " + rel + " (relative)");
        INDArray y1 = g1.outputSingle(false, x);
        INDArray y2 = g2.outputSingle(false, x.permute(0, 2, 3, 1).dup());
        assertTrue(y1.equalsWithEps(y2, 1e-5), arch + ": " + y1 + " vs " + y2);
    }
}
