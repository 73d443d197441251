package dev.cnn.zoo;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** timm-style tests, parameterised over every registered architecture. */
class ZooModelsTest {
    /** VGG copies of 140M parameters: free each test's before the next (the suite stays under 4 GB). */
    @org.junit.jupiter.api.AfterEach
    void releaseNativeMemory() {
        System.gc();
    }


    /** torchvision's published parameter counts at 3x224x224 and 1000 classes (alexnet-lrn: single-tower 2012). */
    static final Map<String, Long> PUBLISHED = Map.ofEntries(
            Map.entry("alexnet", 61_100_840L),
            Map.entry("alexnet-lrn", 62_378_344L),
            Map.entry("vgg11", 132_863_336L),
            Map.entry("vgg13", 133_047_848L),
            Map.entry("vgg16", 138_357_544L),
            Map.entry("vgg19", 143_667_240L),
            Map.entry("vgg11_bn", 132_868_840L),
            Map.entry("vgg13_bn", 133_053_736L),
            Map.entry("vgg16_bn", 138_365_992L),
            Map.entry("vgg19_bn", 143_678_248L),
            Map.entry("resnet18", 11_689_512L),
            Map.entry("resnet34", 21_797_672L),
            Map.entry("resnet50", 25_557_032L),
            Map.entry("resnet101", 44_549_160L),
            Map.entry("resnet152", 60_192_808L),
            Map.entry("squeezenet1_0", 1_248_424L),
            Map.entry("squeezenet1_1", 1_235_496L),
            Map.entry("googlenet", 6_624_904L),
            Map.entry("densenet121", 7_978_856L),
            Map.entry("densenet169", 14_149_480L),
            Map.entry("resnext50_32x4d", 25_028_904L),
            Map.entry("resnext101_32x8d", 88_791_336L),
            Map.entry("wide_resnet50_2", 68_883_240L),
            Map.entry("mobilenet_v2", 3_504_872L),
            Map.entry("mobilenet_v3_large", 5_483_032L),
            Map.entry("mobilenet_v3_small", 2_542_856L),
            Map.entry("efficientnet_b0", 5_288_548L),
            Map.entry("efficientnet_b1", 7_794_184L),
            Map.entry("efficientnet_b2", 9_109_994L),
            Map.entry("efficientnet_b3", 12_233_232L),
            Map.entry("regnet_y_400mf", 4_344_144L),
            Map.entry("regnet_y_1_6gf", 11_202_430L),
            Map.entry("convnext_tiny", 28_589_128L),
            Map.entry("convnext_small", 50_223_688L),
            Map.entry("inception_v3", 23_834_568L),
            Map.entry("shufflenet_v2_x1_0", 2_278_604L));

    static Stream<Arguments> architectures() {
        // the CIFAR families differ only in depth: 20 and 56 stand for 32, 44 and 110 (CifarResNetTest counts all)
        return ModelRegistry.all().stream().filter(a -> !a.name().matches("(resnet|plain)(32|44|110)"))
                .map(a -> Arguments.of(a.name(), a));
    }

    /** Small, cheap input that the architecture accepts. */
    static int smallSize(Architecture a) {
        return Math.max(a.minInputSize(), 16);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void forwardBackwardAndShape(String name, Architecture a) {
        int size = smallSize(a);
        int classes = 5;
        ModelSpec spec = ModelSpec.builder().numClasses(classes).input(3, size, size).seed(7).build();
        ComputationGraph g = a.build(spec);

        INDArray x = Nd4j.rand(new int[]{2, 3, size, size});
        INDArray y = g.outputSingle(false, x);
        assertArrayEquals(new long[]{2, classes}, y.shape(), name + " output shape");
        INDArray sums = y.sum(1);
        for (int i = 0; i < 2; i++) {
            assertEquals(1.0, sums.getDouble(i), 1e-4, name + " softmax rows sum to 1");
        }
        assertFalse(y.isNaN().any() || y.isInfinite().any(), name + " output is finite");

        // backward: one SGD step changes the parameters and produces finite gradients
        INDArray labels = Nd4j.zeros(2, classes);
        labels.putScalar(0, 1, 1.0);
        labels.putScalar(1, 3, 1.0);
        INDArray before = g.params().dup();
        sgd(g); // no optimizer state: VGG's 140M parameters would need 1.1 GB more for Adam's
        g.fit(new DataSet(x, labels));
        INDArray after = g.params();
        assertFalse(before.equals(after), name + " parameters change after a training step");
        assertFalse(after.isNaN().any(), name + " parameters finite after a training step");

        // summary agrees with the allocated network (BN running stats are state, counted apart)
        ModelSummary s = ModelSummary.of(a, spec);
        assertEquals(g.numParams(), s.totalParams() + s.totalState(), name + " summary count");
        assertEquals(String.valueOf(classes), s.rows().get(s.rows().size() - 1).outputShape());
    }

    /** Plain SGD for every layer of {@code g}, before its first step creates the updater. */
    static void sgd(ComputationGraph g) {
        for (org.deeplearning4j.nn.api.Layer l : g.getLayers()) {
            if (l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer b) {
                b.setIUpdater(new org.nd4j.linalg.learning.config.Sgd(1e-2));
                b.setBiasUpdater(null);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void layersAreNamedAndTheHeadIsTheOutputOrFeedsItWithoutParameters(String name, Architecture a) {
        int size = smallSize(a);
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(1, size, size).build();
        var conf = a.configuration(spec);
        assertEquals(1, conf.getNetworkOutputs().size(), name + " has one output");
        // squeezenet's head is a convolution, followed by pooling and a softmax loss layer (no parameters)
        String head = conf.getNetworkOutputs().get(0);
        while (!head.equals(a.headLayer()) && conf.getVertices().get(head).numParams(true) == 0
                && conf.getVertexInputs().get(head).size() == 1) {
            head = conf.getVertexInputs().get(head).get(0);
        }
        assertEquals(a.headLayer(), head, name + " head is the output or reaches it through parameter-free layers");
        assertTrue(conf.getVertices().containsKey(a.featureLayer()), name + " feature layer exists");
        assertEquals(List.of(a.featureLayer()), conf.getVertexInputs().get(a.headLayer()),
                name + " feature layer feeds the head");
        // every layer named for what it is (torchvision's names, which transfer code cuts at), never DL4J's default
        // "layer<i>" / "vertex<i>", and the layer's own name is its vertex's
        for (var e : conf.getVertices().entrySet()) {
            assertFalse(e.getKey().matches("(layer|vertex)\\d+"), name + ": a default name: " + e.getKey());
            if (e.getValue() instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv) {
                assertEquals(e.getKey(), lv.getLayerConf().getLayer().getLayerName(), name + ": layer name");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void minimumInputSizeIsEnforced(String name, Architecture a) {
        int min = a.minInputSize();
        ModelSpec ok = ModelSpec.builder().numClasses(2).input(3, min, min).build();
        ModelSummary s = ModelSummary.of(a, ok);
        assertTrue(s.totalParams() > 0);
        ModelSpec small = ModelSpec.builder().numClasses(2).input(3, min - 1, min - 1).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.configuration(small));
        assertTrue(e.getMessage().contains(name) && e.getMessage().contains(String.valueOf(min)), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void publishedParameterCountsAt224(String name, Architecture a) {
        Long expected = PUBLISHED.get(name);
        if (expected == null) { // lenet, simplecnn and the CIFAR families are checked in their own tests
            assertTrue(name.matches("lenet|simplecnn|mnist_cnn|(resnet|plain)\\d+") && !name.matches("resnet(18|34|50|101|152)"),
                    name + " has no published count to check");
            return;
        }
        ModelSpec spec = ModelSpec.builder().numClasses(1000).input(3, 224, 224).build();
        ModelSummary s = ModelSummary.of(a, spec);
        assertEquals(expected.longValue(), s.totalParams(), name);
        assertEquals(s.totalParams(), s.trainableParams());
        assertNotNull(s.toTable());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("architectures")
    void sameSeedSameWeights(String name, Architecture a) {
        if (ModelSummary.of(a, ModelSpec.builder().numClasses(2).input(1, smallSize(a), smallSize(a)).build())
                .totalParams() > 5_000_000) {
            return; // large nets: init is covered by forwardBackwardAndShape
        }
        int size = smallSize(a);
        ModelSpec spec = ModelSpec.builder().numClasses(2).input(1, size, size).seed(3).build();
        assertEquals(a.build(spec).params(), a.build(spec).params(), name);
    }

    /** ND4J does not reset its generator for seed 0; a network built with --seed 0 must still be reproducible. */
    @org.junit.jupiter.api.Test
    void seedZeroGivesTheSameWeightsEveryTime() {
        Architecture a = ModelRegistry.get("simplecnn");
        ModelSpec zero = ModelSpec.builder().numClasses(3).input(1, 28, 28).seed(0).build();
        Nd4j.getRandom().setSeed(12345);
        INDArray first = a.build(zero).params().dup();
        Nd4j.getRandom().setSeed(678);
        assertEquals(first, a.build(zero).params());
        ModelSpec one = ModelSpec.builder().numClasses(3).input(1, 28, 28).seed(1).build();
        assertFalse(first.equals(a.build(one).params()), "seed 0 and seed 1 differ");
    }

    /** NHWC builds (a speed lever) compute the same function: same seed, same weights, permuted input. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"simplecnn", "resnet18", "resnet50"})
    void nhwcMatchesNchw(String name) {
        Architecture a = ModelRegistry.get(name);
        ModelSpec nchw = ModelSpec.builder().numClasses(4).input(3, 32, 32).seed(5).build();
        ModelSpec nhwc = ModelSpec.builder().numClasses(4).input(3, 32, 32).seed(5).nhwc(true).build();
        ComputationGraph g1 = a.build(nchw);
        ComputationGraph g2 = a.build(nhwc);
        assertEquals(g1.params(), g2.params(), "same initial weights");
        INDArray x = Nd4j.rand(new int[]{2, 3, 32, 32});
        INDArray y1 = g1.outputSingle(false, x);
        INDArray y2 = g2.outputSingle(false, x.permute(0, 2, 3, 1).dup());
        assertTrue(y1.equalsWithEps(y2, 1e-4), name + ": " + y1 + " vs " + y2);
    }
}
