package dev.cnn.accel;

import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The product must run DL4J's layers on oneDNN, and doing so must not change the numbers. */
class EngineTest {

    private static ComputationGraph simplecnn() {
        ModelSpec spec = ModelSpec.builder().numClasses(4).input(3, 16, 16).seed(11).build();
        return ModelRegistry.get("simplecnn").build(spec);
    }

    @Test
    void oneDnnHelpersAreInUse() {
        Engine.init();
        assertTrue(Engine.oneDnnInUse(), "oneDNN not in use: " + Engine.describe());
        ComputationGraph g = simplecnn();
        g.outputSingle(Nd4j.rand(new int[]{2, 3, 16, 16}));
        assertNotNull(g.getLayer("conv1").getHelper(), "conv layer has no oneDNN helper");
        assertTrue(g.getLayer("conv1").getHelper().getClass().getSimpleName().startsWith("MKLDNN"));
        assertNotNull(g.getLayer("bn1").getHelper(), "batch norm layer has no oneDNN helper");
    }

    @Test
    void helpersOnAndOffAgree() {
        Engine.init();
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.rand(new int[]{4, 3, 16, 16});
        INDArray y = Nd4j.zeros(4, 4);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i, 1.0);
        }
        ComputationGraph on = simplecnn();
        String old = System.getProperty(Engine.HELPERS_DISABLE);
        ComputationGraph off;
        try {
            System.setProperty(Engine.HELPERS_DISABLE, "true");
            off = simplecnn();
            off.outputSingle(x); // helpers are created lazily: create them while disabled
            assertNull(off.getLayer("conv1").getHelper());
        } finally {
            System.setProperty(Engine.HELPERS_DISABLE, old);
        }
        assertEquals(on.params(), off.params());
        INDArray outOn = on.outputSingle(true, x);
        INDArray outOff = off.outputSingle(true, x);
        assertTrue(outOn.equalsWithEps(outOff, 1e-5), "outputs differ");

        on.setInputs(x);
        on.setLabels(y);
        on.computeGradientAndScore();
        off.setInputs(x);
        off.setLabels(y);
        off.computeGradientAndScore();
        assertEquals(on.score(), off.score(), 1e-5);
        Gradient gOn = on.gradient();
        Gradient gOff = off.gradient();
        for (String k : gOn.gradientForVariable().keySet()) {
            INDArray a = gOn.getGradientFor(k);
            INDArray b = gOff.getGradientFor(k);
            double scale = Math.max(1e-3, a.norm2Number().doubleValue());
            double diff = a.sub(b).norm2Number().doubleValue();
            assertTrue(diff / scale < 1e-4, "gradient " + k + " differs: rel " + diff / scale);
        }
    }

    @Test
    void smallMapBackwardFixGivesTheSameGradients() {
        Engine.init();
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 32, 32).seed(4).build();
        ComputationGraph plain = ModelRegistry.get("resnet18").build(spec);
        ComputationGraph fixed = ModelRegistry.get("resnet18").build(spec);
        assertEquals(20, SmallMapConvHelper.install(fixed), "every conv layer of resnet18 wrapped");
        assertEquals(0, SmallMapConvHelper.install(fixed), "idempotent");
        assertTrue(fixed.getLayer("layer4.1.conv2").getHelper() instanceof SmallMapConvHelper);
        Nd4j.getRandom().setSeed(8);
        INDArray x = Nd4j.rand(new int[]{4, 3, 32, 32});
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        long before = SmallMapConvHelper.reroutedCalls();
        for (ComputationGraph g : new ComputationGraph[]{plain, fixed}) {
            g.setInputs(x);
            g.setLabels(y);
            g.computeGradientAndScore();
        }
        // at 32 px layer2/3/4 run on 4x4, 2x2, 1x1 maps: 3 stride-1 3x3 convolutions each take the libnd4j kernel
        assertEquals(9, SmallMapConvHelper.reroutedCalls() - before, "small-map backward calls rerouted");
        for (ComputationGraph g : new ComputationGraph[]{plain, fixed}) {
            assertNoHelperFallback(g);
        }
        assertEquals(plain.score(), fixed.score(), 1e-5);
        for (String k : plain.gradient().gradientForVariable().keySet()) {
            INDArray a = plain.gradient().getGradientFor(k);
            INDArray b = fixed.gradient().getGradientFor(k);
            double scale = Math.max(1e-3, a.norm2Number().doubleValue());
            assertTrue(a.sub(b).norm2Number().doubleValue() / scale < 1e-4, "gradient " + k + " differs");
        }
        assertTrue(Nd4j.getEnvironment().helpersAllowed(), "helpers switched back on");
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"resnet18,32,false", "resnet18,32,true", "simplecnn,16,false",
            "lenet,28,false", "alexnet,64,false", "densenet121,32,false"})
    void dnnlHelperGivesTheSameOutputsAndGradients(String model, int size, boolean nhwc) throws Exception {
        Engine.init();
        assertTrue(Dnnl.available(), "org.bytedeco:dnnl does not load");
        int channels = model.equals("lenet") ? 1 : 3;
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(channels, size, size).seed(4).nhwc(nhwc).build();
        ComputationGraph plain = ModelRegistry.get(model).build(spec);
        ComputationGraph dnnl = ModelRegistry.get(model).build(spec);
        int convs = (int) java.util.Arrays.stream(dnnl.getLayers())
                .filter(l -> l.getClass() == org.deeplearning4j.nn.layers.convolution.ConvolutionLayer.class).count();
        int bns = (int) java.util.Arrays.stream(dnnl.getLayers())
                .filter(l -> l instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization).count();
        int pools = (int) java.util.Arrays.stream(dnnl.getLayers()).filter(l -> l.getClass()
                == org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer.class).count();
        int denses = (int) java.util.Arrays.stream(dnnl.getLayers()).filter(l -> l.getClass()
                == org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer.class).count();
        int reluLayers = (int) java.util.Arrays.stream(dnnl.getLayers()).filter(l -> l.getClass()
                == org.deeplearning4j.nn.layers.ActivationLayer.class && GraphPolicy.plainRelu(
                ((org.deeplearning4j.nn.conf.layers.ActivationLayer) l.conf().getLayer()).getActivationFn())).count();
        assertTrue(convs > 0);
        assertEquals(convs + bns + pools + denses, GraphPolicy.install(dnnl, AccelOptions.DEFAULT), "every conv, batch-norm, pooling, dense layer");
        assertEquals(convs + bns + pools + denses, GraphPolicy.install(dnnl, AccelOptions.DEFAULT), "idempotent");
        assertEquals(denses, java.util.Arrays.stream(dnnl.getLayers()).filter(l -> l instanceof DnnlDenseLayer).count());
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : dnnl.getVertices()) {
            if (gv.hasLayer()) { // the graph's layer list and its vertices hold the same (replaced) layers
                assertTrue(java.util.Arrays.asList(dnnl.getLayers()).contains(gv.getLayer()), gv.getVertexName());
            }
        }
        // as Trainer runs it: activations and gradients between convolutions in oneDNN's blocked layout, forward
        // outputs cached for the backward pass, no gradient for the network input
        TrainingSession training = Accel.beginTraining(dnnl);
        int blocked = training.blockedTensors();
        assertTrue(training.cachesForward());
        String in = dnnl.getConfiguration().getNetworkInputs().get(0);
        String stem = dnnl.getConfiguration().getVertexInputs().entrySet().stream()
                .filter(e -> e.getValue().equals(java.util.List.of(in))).map(Map.Entry::getKey).findFirst().orElseThrow();
        DnnlConvHelper stemHelper = (DnnlConvHelper) Dl4jInternals.currentHelper(dnnl.getLayer(stem));
        assertTrue(stemHelper.skipsInputGradient(), "no input gradient for " + stem);
        if (model.startsWith("resnet")) {
            assertTrue(nhwc ? blocked == 0 : blocked > 20, "blocked tensors: " + blocked);
        }
        if (model.startsWith("resnet")) { // every ReLU follows a batch norm or a residual add
            assertEquals(reluLayers, training.activationsInPlace(), "ReLU layers in place");
        }
        if (model.equals("densenet121")) { // concatenations of whole blocks and the transitions' average pooling
            assertTrue(blocked > 300, "blocked tensors: " + blocked);
        }
        long denseBefore = DnnlDenseLayer.calls();
        long reluBefore = EltwiseLayer.calls();
        long poolBefore = DnnlPoolingHelper.calls();
        long bnBefore = DnnlBatchNormHelper.calls();
        Nd4j.getRandom().setSeed(8);
        INDArray x = nhwc ? Nd4j.rand(new int[]{4, size, size, channels}) : Nd4j.rand(new int[]{4, channels, size, size});
        INDArray y = Nd4j.zeros(4, 3);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 3, 1.0);
        }
        long[] before = DnnlConvHelper.calls();
        INDArray outPlain = plain.outputSingle(false, x);
        INDArray outDnnl = dnnl.outputSingle(false, x);
        assertTrue(outPlain.equalsWithEps(outDnnl, 1e-5), "inference outputs differ");
        for (ComputationGraph g : new ComputationGraph[]{plain, dnnl}) {
            Nd4j.getRandom().setSeed(9); // the same dropout masks
            g.setInputs(x);
            g.setLabels(y);
            g.computeGradientAndScore();
            assertNoHelperFallback(g);
        }
        long[] after = DnnlConvHelper.calls();
        // one inference and one training pass: the backward pass reads the cached output, computes no forward
        assertEquals(2L * convs, after[0] - before[0], "forward calls on oneDNN");
        assertEquals(convs, after[1] - before[1], "backward calls on oneDNN");
        assertEquals(3L * denses, DnnlDenseLayer.calls() - denseBefore, "dense forward, forward, backward on oneDNN");
        assertEquals(3L * reluLayers, EltwiseLayer.calls() - reluBefore, "ReLU layers on oneDNN");
        assertTrue(!model.startsWith("resnet") || reluLayers > 0);
        assertTrue(DnnlBatchNormHelper.calls() - bnBefore >= 3L * bns, "batch-norm calls on oneDNN");
        // DnnlSubsamplingLayer: inference and training forward passes, and the backward pass
        assertEquals(3L * pools, DnnlPoolingHelper.calls() - poolBefore, "max-pooling calls on oneDNN");
        assertEquals(pools, java.util.Arrays.stream(dnnl.getLayers()).filter(l -> l instanceof DnnlSubsamplingLayer)
                .count(), "subsampling layers replaced");
        // float sums in another order (resnet18 NHWC: 1.0e-4 relative on a batch-norm beta gradient of norm 35)
        assertEquals(plain.score(), dnnl.score(), 1e-4 * plain.score());
        for (String k : plain.gradient().gradientForVariable().keySet()) {
            INDArray a = plain.gradient().getGradientFor(k);
            INDArray b = dnnl.gradient().getGradientFor(k);
            double scale = Math.max(1e-3, a.norm2Number().doubleValue());
            if (model.startsWith("dense")) {
                continue; // compared all together below
            }
            assertTrue(a.sub(b).norm2Number().doubleValue() / scale < 5e-4, "gradient " + k + " differs: rel " + a.sub(b).norm2Number().doubleValue() / scale + " norm " + scale);
        }
        if (model.startsWith("dense")) {
            // all gradients together: per layer, float noise through 120 layers reaches 7e-4 on the largest ones (at
            // 32 px its last block's batch norms see 4 values a channel; at 64 px, where the suite would need 1.4 GB
            // more, DL4J's float gradients are 1.6e-2 off its own double-precision ones and the engine's 3.4e-3)
            INDArray a = plain.gradient().gradient();
            INDArray b = dnnl.gradient().gradient();
            double rel = a.sub(b).norm2Number().doubleValue() / a.norm2Number().doubleValue();
            assertTrue(rel < 2e-3, "gradients differ by " + rel + " (relative)");
        }
        // the running statistics the layer updates from the helper's batch mean and variance (the weights after an
        // Adam step are no test: Adam's first step is lr * sign(g), which float noise in tiny gradients flips)
        for (ComputationGraph g : new ComputationGraph[]{plain, dnnl}) {
            Nd4j.getRandom().setSeed(9);
            g.fit(new org.nd4j.linalg.dataset.DataSet(x, y));
        }
        for (Map.Entry<String, INDArray> e : plain.paramTable().entrySet()) {
            if (e.getKey().matches(".*_(mean|var|log10stdev)")) {
                INDArray b = dnnl.paramTable().get(e.getKey());
                assertTrue(e.getValue().equalsWithEps(b, 1e-5), "running statistic " + e.getKey() + " differs");
            }
        }
        assertTrue(bns == 0 || plain.paramTable().keySet().stream().anyMatch(k -> k.endsWith("_mean")));
        assertTrue(plain.outputSingle(false, x).equalsWithEps(dnnl.outputSingle(false, x), 1e-2),
                "inference after one training step differs");
        // back to NCHW everywhere: inner activations as DL4J's helpers give them (same parameters: Adam's first
        // step differs by float noise, see above)
        int blockedLayers = GraphPolicy.blockedVertices(dnnl);
        training.close();
        if (model.startsWith("resnet") && !nhwc) {
            assertTrue(blockedLayers > 20, "layers on the blocked layout while training: " + blockedLayers);
        }
        assertEquals(0, GraphPolicy.blockedVertices(dnnl), "no blocked layout outlives the training session");
        assertTrue(!stemHelper.skipsInputGradient(), "input gradient back after training");
        assertEquals(org.deeplearning4j.nn.conf.CacheMode.NONE, dnnl.getConfiguration().getCacheMode());
        for (org.deeplearning4j.nn.api.Layer l : dnnl.getLayers()) {
            if (l instanceof org.deeplearning4j.nn.layers.convolution.ConvolutionLayer) {
                java.lang.reflect.Field f = org.deeplearning4j.nn.layers.AbstractLayer.class.getDeclaredField("preOutput");
                f.setAccessible(true);
                assertEquals(null, f.get(l), "cached forward output left on " + l.getConfig().getLayerName());
            }
        }
        dnnl.setParams(plain.params());
        Map<String, INDArray> ffPlain = plain.feedForward(x, false);
        Map<String, INDArray> ffDnnl = dnnl.feedForward(x, false);
        // DL4J's activation layer applies its activation in place on its input at inference, so in the plain
        // network's map the tensors that feed one hold their activated values; EltwiseLayer writes a new array
        java.util.Set<String> fedToActivation = new java.util.HashSet<>();
        for (Map.Entry<String, java.util.List<String>> e : plain.getConfiguration().getVertexInputs().entrySet()) {
            if (plain.getVertex(e.getKey()).hasLayer() && plain.getVertex(e.getKey()).getLayer()
                    instanceof org.deeplearning4j.nn.layers.ActivationLayer) {
                fedToActivation.addAll(e.getValue());
            }
        }
        for (Map.Entry<String, INDArray> e : ffPlain.entrySet()) {
            INDArray mine = ffDnnl.get(e.getKey());
            if (fedToActivation.contains(e.getKey())) {
                mine = org.nd4j.linalg.ops.transforms.Transforms.relu(mine, true);
            }
            assertTrue(e.getValue().equalsWithEps(mine, 1e-4), "activation " + e.getKey());
        }
    }

    /**
     * A non-finite input must still give a non-finite output on this package's layers, as on DL4J's: Trainer stops
     * a diverging run on a non-finite loss (oneDNN's own ReLU maps NaN to 0, which would have hidden it).
     * efficientnet_b0's SiLU runs on oneDNN. Not mobilenet_v2: DL4J's own ReLU6 makes NaN finite (6; oneDNN's clip
     * gives 0), so neither gives a non-finite output there (its weights turn non-finite after such a step, and the
     * loss with them).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"simplecnn,16", "resnet18,32", "lenet,28", "efficientnet_b0,32"})
    void nonFiniteValuesReachTheOutput(String model, int size) {
        Engine.init();
        int channels = model.equals("lenet") ? 1 : 3;
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(channels, size, size).seed(4).build();
        ComputationGraph plain = ModelRegistry.get(model).build(spec);
        ComputationGraph dnnl = ModelRegistry.get(model).build(spec);
        try (TrainingSession t = Accel.beginTraining(dnnl)) {
            INDArray x = Nd4j.rand(new int[]{4, channels, size, size});
            x.putScalar(0, Double.POSITIVE_INFINITY);
            for (boolean training : new boolean[]{false, true}) {
                Map<String, INDArray> a = plain.feedForward(x, training);
                Map<String, INDArray> b = dnnl.feedForward(x, training);
                String out = plain.getConfiguration().getNetworkOutputs().get(0);
                assertTrue(a.get(out).isNaN().any() || a.get(out).isInfinite().any(), "DL4J: non-finite output");
                assertTrue(b.get(out).isNaN().any() || b.get(out).isInfinite().any(),
                        "non-finite input gave a finite output (training " + training + ")");
            }
        }
    }

    /**
     * DL4J catches a failing helper, logs a warning and silently runs its slow built-in path from then on; a helper
     * that fails this way (as the small-map wrapper once did on every bias-free layer) must fail the test instead.
     */
    @Test
    void aReluAfterABatchNormOverwritesItsOutputOnlyInTrainingPassesOfAnOpenSession() {
        Engine.init();
        ModelSpec spec = ModelSpec.builder().numClasses(3).input(3, 32, 32).seed(4).build();
        ComputationGraph g = ModelRegistry.get("resnet18").build(spec);
        String relu = null;
        String bn = null;
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex gv : g.getVertices()) {
            java.util.List<String> in = g.getConfiguration().getVertexInputs().get(gv.getVertexName());
            if (gv.hasLayer() && gv.getLayer().conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer
                    && g.getVertex(in.get(0)).getLayer() instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization) {
                relu = gv.getVertexName();
                bn = in.get(0);
                break;
            }
        }
        assertNotNull(relu);
        Nd4j.getRandom().setSeed(8);
        INDArray x = Nd4j.rand(new int[]{4, 3, 32, 32});
        try (TrainingSession t = Accel.beginTraining(g)) {
            assertTrue(t.activationsInPlace() > 0);
            // inference passes keep the batch norm's output for whoever reads it
            assertTrue(g.feedForward(x, false).get(bn).minNumber().doubleValue() < 0);
            // training passes keep one tensor for both
            Map<String, INDArray> acts = g.feedForward(x, true);
            assertEquals(0.0, acts.get(bn).minNumber().doubleValue());
            assertEquals(acts.get(relu), acts.get(bn));
        }
        Map<String, INDArray> after = g.feedForward(x, true);
        assertTrue(after.get(bn).minNumber().doubleValue() < 0, "still in place after the session closed");
        assertEquals(0.0, after.get(relu).minNumber().doubleValue());
    }

    static void assertNoHelperFallback(ComputationGraph g) {
        for (org.deeplearning4j.nn.api.Layer l : g.getLayers()) {
            for (Class<?> c = l.getClass(); c != null; c = c.getSuperclass()) {
                try {
                    java.lang.reflect.Field f = c.getDeclaredField("helperCountFail");
                    f.setAccessible(true);
                    assertEquals(0, f.getInt(l), "helper of " + l.getConfig().getLayerName() + " fell back");
                    break;
                } catch (NoSuchFieldException e) {
                    // look in the superclass
                } catch (IllegalAccessException e) {
                    throw new AssertionError(e);
                }
            }
        }
    }
}
