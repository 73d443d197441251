package dev.cnn.transfer;

import dev.cnn.core.LrSchedule;
import dev.cnn.core.TrainConfig;

import dev.cnn.zoo.GraphQueries;
import dev.cnn.zoo.LayerInfo;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.cnn.transfer.TinyNets.assertSameParams;
import static dev.cnn.transfer.TinyNets.param;
import static dev.cnn.transfer.TinyNets.sameBits;
import static dev.cnn.transfer.TinyNets.snapshot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The graph surgery of transfer learning: {@link Freezing}, {@link Heads}, {@link LearningRates} and the
 * {@link GraphQueries} they build on.
 */
class GraphSurgeryTest {

    private static final List<DataSet> DATA = TinyNets.data(3, 8, 7);

    /** Fits each batch once. */
    private static void fit(ComputationGraph g) {
        for (DataSet d : DATA) {
            g.fit(d);
        }
    }

    /** The input graph is untouched: same configuration JSON and bit-identical parameters. */
    private record Untouched(ComputationGraph g, String json, Map<String, float[]> params) {
        static Untouched of(ComputationGraph g) {
            return new Untouched(g, g.getConfiguration().toJson(), snapshot(g));
        }

        void check() {
            assertEquals(json, g.getConfiguration().toJson(), "input configuration was modified");
            assertSameParams(params, snapshot(g), null);
        }
    }

    @Test
    void listsLayersInTopologicalOrderAndDefaultCut() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "drop", "fc", "out"), GraphQueries.layerNames(g));
        assertEquals(List.of(), GraphQueries.frozenLayers(g));
        LayerInfo bn = GraphQueries.layers(g).get(1);
        assertEquals("BatchNormalization", bn.type());
        assertEquals(16, bn.numParams()); // gamma, beta, mean, var x 4 channels
        assertEquals(List.of("conv1"), bn.inputs());
        assertEquals("fc", GraphQueries.defaultCut(g));
        assertEquals("fc2", GraphQueries.defaultCut(TinyNets.zooStyle()));
        assertEquals("fc", GraphQueries.defaultCut(TinyNets.withLossLayer()));
        assertEquals(Set.of("conv1", "bn1", "relu1"), GraphQueries.ancestors(g, "pool"));
        assertEquals(Set.of("fc", "out"), GraphQueries.descendants(g, "drop"));
    }

    @Test
    void freezeUpToFreezesTheCutAndItsAncestors() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        Untouched in = Untouched.of(g);
        ComputationGraph f = Freezing.freezeUpTo(g, "drop");
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "drop"), GraphQueries.frozenLayers(f));
        assertSameParams(in.params(), snapshot(f), null);
        in.check();

        // Branches: only what the cut depends on is frozen; non-layer vertices become FrozenVertex.
        ComputationGraph b = TinyNets.branches(2);
        ComputationGraph fb = Freezing.freezeUpTo(b, "a");
        assertEquals(List.of("a"), GraphQueries.frozenLayers(fb));
        ComputationGraph fm = Freezing.freezeUpTo(b, "merge");
        assertEquals(Set.of("a", "b", "merge"), Set.copyOf(GraphQueries.frozenLayers(fm)));
        assertInstanceOf(FrozenVertex.class, fm.getConfiguration().getVertices().get("merge"));

        assertThrows(IllegalArgumentException.class, () -> Freezing.freezeUpTo(g, "out"));
        assertThrows(IllegalArgumentException.class, () -> Freezing.freezeUpTo(g, "nope"));
    }

    @Test
    void frozenLayersRunInInferenceModeEvenWhenTraining() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        INDArray x = DATA.get(0).getFeatures();
        // Sanity: trainable BN (batch statistics) and dropout make training-mode activations differ.
        INDArray trainAct = g.feedForward(x, true).get("drop");
        INDArray testAct = g.feedForward(x, false).get("drop");
        assertFalse(trainAct.equalsWithEps(testAct, 1e-4));

        ComputationGraph f = Freezing.freezeUpTo(g, "drop");
        INDArray frozenTrain = f.feedForward(x, true).get("drop");
        INDArray frozenTest = f.feedForward(x, false).get("drop");
        assertArrayEquals(frozenTest.dup().data().asFloat(), frozenTrain.dup().data().asFloat());
        assertArrayEquals(testAct.dup().data().asFloat(), frozenTest.dup().data().asFloat());
    }

    @Test
    void freezeAndTrainLeavesFrozenParamsBitForBitAndChangesTheHead() {
        ComputationGraph f = Freezing.freezeUpTo(TinyNets.convBnDropout(1), "drop");
        Map<String, float[]> before = snapshot(f);
        fit(f);
        Map<String, float[]> after = snapshot(f);
        assertSameParams(before, after, "conv1");
        assertSameParams(before, after, "bn1"); // gamma, beta and running mean/var
        assertFalse(sameBits(before.get("fc/W"), after.get("fc/W")), "fc did not train");
        assertFalse(sameBits(before.get("out/W"), after.get("out/W")), "out did not train");
    }

    @Test
    void unfreezeRestoresIdenticalTrainableWeights() {
        ComputationGraph f = Freezing.freezeUpTo(TinyNets.convBnDropout(1), "drop");
        fit(f);
        Untouched in = Untouched.of(f);
        ComputationGraph u = Freezing.unfreeze(f);
        in.check();
        assertEquals(List.of(), GraphQueries.frozenLayers(u));
        assertArrayEquals(f.params().dup().data().asFloat(), u.params().dup().data().asFloat());
        assertSameParams(in.params(), snapshot(u), null);
        for (var v : u.getConfiguration().getVertices().values()) {
            assertFalse(((LayerVertex) v).getLayerConf().getLayer() instanceof FrozenLayer);
        }
        // Same updater config as the original layers had.
        IUpdater upd = ((BaseLayer) ((LayerVertex) u.getConfiguration().getVertices().get("conv1"))
                .getLayerConf().getLayer()).getIUpdater();
        assertEquals(new Adam(1e-2), upd);

        Map<String, float[]> before = snapshot(u);
        fit(u);
        Map<String, float[]> after = snapshot(u);
        assertFalse(sameBits(before.get("conv1/W"), after.get("conv1/W")), "conv1 not trainable after unfreeze");
        assertFalse(sameBits(before.get("bn1/gamma"), after.get("bn1/gamma")), "bn1 not trainable after unfreeze");
        assertFalse(sameBits(before.get("bn1/mean"), after.get("bn1/mean")), "bn1 statistics not updated");
    }

    @Test
    void unfreezeFromSplitsAtTheLayer() {
        ComputationGraph f = Freezing.freezeUpTo(TinyNets.convBnDropout(1), "drop");
        Untouched in = Untouched.of(f);
        ComputationGraph u = Freezing.unfreezeFrom(f, "bn1");
        in.check();
        assertEquals(List.of("conv1"), GraphQueries.frozenLayers(u));
        assertSameParams(in.params(), snapshot(u), null);
        Map<String, float[]> before = snapshot(u);
        fit(u);
        Map<String, float[]> after = snapshot(u);
        assertSameParams(before, after, "conv1");
        assertFalse(sameBits(before.get("bn1/gamma"), after.get("bn1/gamma")));
        assertFalse(sameBits(before.get("fc/W"), after.get("fc/W")));

        // Vertices: unfreezing from a branch layer unwraps the merge vertex too.
        ComputationGraph fm = Freezing.freezeUpTo(TinyNets.branches(2), "merge");
        assertEquals(List.of("b"), GraphQueries.frozenLayers(Freezing.unfreezeFrom(fm, "a")));
    }

    @Test
    void replaceHeadOnConvCutAddsGlobalPoolingAndNewClassCount() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        Untouched in = Untouched.of(g);
        ComputationGraph h = Heads.replaceHead(g, "pool", 5);
        in.check();
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "head_pool", "head"), GraphQueries.layerNames(h));
        assertEquals("GlobalPoolingLayer", GraphQueries.layers(h).get(4).type());
        assertEquals(List.of("head"), h.getConfiguration().getNetworkOutputs());
        INDArray out = h.outputSingle(DATA.get(0).getFeatures());
        assertArrayEquals(new long[]{8, 5}, out.shape());
        Map<String, float[]> p = snapshot(h);
        for (String l : List.of("conv1", "bn1")) {
            assertSameParams(in.params(), p, l);
        }
        // Seeded: same seed, same head; another seed, another head.
        ComputationGraph h2 = Heads.replaceHead(g, "pool", 5);
        assertArrayEquals(param(h, "head", "W"), param(h2, "head", "W"));
        ComputationGraph h3 = Heads.replaceHead(g, "pool", HeadSpec.of(5).withSeed(99));
        assertFalse(sameBits(param(h, "head", "W"), param(h3, "head", "W")));
        // The configuration's seed is not changed by the head seed.
        assertEquals(g.getConfiguration().getDefaultConfiguration().getSeed(),
                h3.getConfiguration().getDefaultConfiguration().getSeed());
        // Trains, and survives a JSON round trip.
        h.fit(new DataSet(DATA.get(0).getFeatures(), TinyNets.labels(8, 5)));
        assertEquals(h.getConfiguration(), ComputationGraphConfiguration.fromJson(h.getConfiguration().toJson()));
    }

    @Test
    void replaceHeadOnDenseCutAndOnFrozenGraph() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        ComputationGraph h = Heads.replaceHead(g, "fc", HeadSpec.of(7).withHidden(6, 0.25)
                .withInputTypes(InputType.convolutional(16, 16, 3)));
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "drop", "fc", "head_fc", "head"),
                GraphQueries.layerNames(h));
        assertArrayEquals(new long[]{8, 7}, h.outputSingle(DATA.get(0).getFeatures()).shape());

        // Frozen base stays frozen; only the new head trains.
        ComputationGraph f = Heads.replaceHead(Freezing.freezeUpTo(g, "drop"), "drop", 4);
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "drop"), GraphQueries.frozenLayers(f));
        assertEquals(List.of("conv1", "bn1", "relu1", "pool", "drop", "head_pool", "head"), GraphQueries.layerNames(f));
        Map<String, float[]> before = snapshot(f);
        f.fit(new DataSet(DATA.get(0).getFeatures(), TinyNets.labels(8, 4)));
        Map<String, float[]> after = snapshot(f);
        assertSameParams(before, after, "conv1");
        assertSameParams(before, after, "bn1");
        assertFalse(sameBits(before.get("head/W"), after.get("head/W")));

        assertThrows(IllegalArgumentException.class, () -> Heads.replaceHead(g, "out", 3));
        // Zoo-style dense head is replaced too.
        ComputationGraph z = Heads.replaceHead(TinyNets.zooStyle(), "fc2", 2);
        assertEquals(List.of("fc1", "fc2", "head"), GraphQueries.layerNames(z));
    }

    @Test
    void aHeadOnAConvolutionalCutPoolsByAverageOrMaximumOrFlattensEveryPosition() {
        // mnist_cnn's pool: 12 x 12 positions of 64 channels (Keras' include_top=False, pooling=None)
        ComputationGraph g = dev.cnn.zoo.ModelRegistry.get("mnist_cnn")
                .build(dev.cnn.zoo.ModelSpec.builder().numClasses(10).input(1, 28, 28).build());
        Untouched in = Untouched.of(g);
        HeadSpec flat = HeadSpec.of(5).withPooling(HeadSpec.Pooling.FLATTEN).withHidden(16, 0.5)
                .withInputTypes(InputType.convolutional(28, 28, 1));
        ComputationGraph f = Heads.replaceHead(g, "pool", flat);
        in.check();
        assertEquals(List.of("conv1", "conv2", "pool", "head_fc", "head"), GraphQueries.layerNames(f));
        assertEquals(12 * 12 * 64, ((org.deeplearning4j.nn.conf.layers.DenseLayer) f.getLayer("head_fc").conf()
                .getLayer()).getNIn());
        INDArray x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 4, 1, 28, 28);
        assertArrayEquals(new long[]{4, 5}, f.outputSingle(x).shape());
        f.fit(new DataSet(x, TinyNets.labels(4, 5)));
        assertEquals(f.getConfiguration(), ComputationGraphConfiguration.fromJson(f.getConfiguration().toJson()));
        // without the input's size the flattened length is unknown
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Heads.replaceHead(g, "pool",
                HeadSpec.of(5).withPooling(HeadSpec.Pooling.FLATTEN)));
        assertTrue(e.getMessage().contains("height and width"), e.getMessage());

        ComputationGraph m = Heads.replaceHead(g, "pool", HeadSpec.of(5).withPooling(HeadSpec.Pooling.MAX));
        ComputationGraph a = Heads.replaceHead(g, "pool", HeadSpec.of(5));
        assertEquals(org.deeplearning4j.nn.conf.layers.PoolingType.MAX, poolingType(m));
        assertEquals(org.deeplearning4j.nn.conf.layers.PoolingType.AVG, poolingType(a));
        assertEquals(64, ((org.deeplearning4j.nn.conf.layers.OutputLayer) m.getLayer("head").conf().getLayer())
                .getNIn());
        // mnist_cnn's fc1 is flat: there is nothing to max-pool or flatten, and saying so beats ignoring it
        IllegalArgumentException flatCut = assertThrows(IllegalArgumentException.class, () -> Heads.replaceHead(g,
                "fc1", HeadSpec.of(5).withPooling(HeadSpec.Pooling.FLATTEN)));
        assertTrue(flatCut.getMessage().contains("already flat"), flatCut.getMessage());
        assertEquals(List.of("conv1", "conv2", "pool", "fc1", "head"),
                GraphQueries.layerNames(Heads.replaceHead(g, "fc1", HeadSpec.of(5))));
        assertThrows(IllegalArgumentException.class, () -> HeadSpec.Pooling.parse("mean"));
        assertEquals(HeadSpec.Pooling.FLATTEN, HeadSpec.Pooling.parse(" Flatten"));
    }

    private static org.deeplearning4j.nn.conf.layers.PoolingType poolingType(ComputationGraph g) {
        return ((org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer) g.getLayer("head_pool").conf().getLayer())
                .getPoolingType();
    }

    @Test
    void phaseRatesAreDiscriminativeAndKeepTheOptimizer() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        Untouched in = Untouched.of(g);
        TrainConfig cfg = TrainConfig.builder().epochs(2).lr(0.05).schedule(LrSchedule.Kind.CONSTANT)
                .output(java.nio.file.Path.of("m.zip")).build();
        ComputationGraph d = LearningRates.forPhase(g, cfg, 4, 0.0, 0.05, java.util.Set.of("fc", "out"));
        in.check();
        assertEquals(0.0, LearningRates.learningRate(d, "conv1"));
        assertEquals(0.05, LearningRates.learningRate(d, "out"));
        IUpdater u = ((BaseLayer) ((LayerVertex) d.getConfiguration().getVertices().get("conv1")).getLayerConf()
                .getLayer()).getIUpdater();
        assertInstanceOf(Adam.class, u);
        assertEquals(new Adam(1e-2).getBeta2(), ((Adam) u).getBeta2());
        assertSameParams(in.params(), snapshot(d), null);

        // Base rate 0: base weights do not move, the head does. (DL4J's native Adam step with lr 0 still moves
        // weights by about one float ulp, so this is a tolerance check; FrozenLayer is the bit-exact freeze.)
        Map<String, float[]> before = snapshot(d);
        fit(d);
        Map<String, float[]> after = snapshot(d);
        assertTrue(maxDiff(before.get("conv1/W"), after.get("conv1/W")) < 1e-6);
        assertTrue(maxDiff(before.get("bn1/gamma"), after.get("bn1/gamma")) < 1e-6);
        assertTrue(maxDiff(before.get("fc/W"), after.get("fc/W")) > 1e-3);
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void phaseRatesFollowTheRunsSchedule() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        TrainConfig cfg = TrainConfig.builder().epochs(2).lr(0.01).schedule(LrSchedule.Kind.STEP).stepEpochs(1)
                .stepGamma(0.5).output(java.nio.file.Path.of("m.zip")).build();
        ComputationGraph s = LearningRates.forPhase(g, cfg, 10, 0.001, 0.01, java.util.Set.of("fc", "out"));
        IUpdater u = ((BaseLayer) ((LayerVertex) s.getConfiguration().getVertices().get("conv1")).getLayerConf()
                .getLayer()).getIUpdater();
        assertInstanceOf(Adam.class, u);
        assertEquals(0.001 * 0.5, u.getLearningRate(10, 1), 1e-12);
        IUpdater head = ((BaseLayer) ((LayerVertex) s.getConfiguration().getVertices().get("out")).getLayerConf()
                .getLayer()).getIUpdater();
        assertEquals(0.01 * 0.5, head.getLearningRate(10, 1), 1e-12);
        // The schedule travels with the live configuration (a bundle stores its current rate, see PortableBundleTest).
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(s.getConfiguration().toJson());
        IUpdater u2 = ((BaseLayer) ((LayerVertex) back.getVertices().get("conv1")).getLayerConf().getLayer())
                .getIUpdater();
        assertEquals(0.001 * 0.5, u2.getLearningRate(10, 1), 1e-12);
        assertNotEquals(LearningRates.learningRate(s, "conv1"), LearningRates.learningRate(s, "out"));
        fit(s);
    }

    @Test
    void aBaseRateRangeRisesGeometricallyThroughTheTrainableBaseLayersOnly() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        TrainConfig cfg = TrainConfig.builder().epochs(2).lr(0.05).schedule(LrSchedule.Kind.CONSTANT)
                .output(java.nio.file.Path.of("m.zip")).build();
        ComputationGraph d = LearningRates.forPhase(g, cfg, 4, 1e-4, 1e-2, 0.05, Set.of("out"));
        assertEquals(1e-4, LearningRates.learningRate(d, "conv1"), 1e-15);
        assertEquals(1e-3, LearningRates.learningRate(d, "bn1"), 1e-15);
        assertEquals(1e-2, LearningRates.learningRate(d, "fc"), 1e-15);
        assertEquals(0.05, LearningRates.learningRate(d, "out"), 1e-15);
        fit(d);
        // frozen layers are not counted: the range starts at the first layer that trains
        ComputationGraph f = Freezing.freezeUpTo(g, "conv1");
        assertEquals(Map.of("bn1", 1e-4, "fc", 1e-2), LearningRates.baseRates(f.getConfiguration(), 1e-4, 1e-2,
                Set.of("out")));
        // no low rate, or one layer: every one at the high rate
        assertEquals(List.of(1e-2, 1e-2, 1e-2), List.copyOf(LearningRates.baseRates(g.getConfiguration(), 0, 1e-2,
                Set.of("out")).values()));
        assertEquals(Map.of("fc", 1e-2), LearningRates.baseRates(Freezing.freezeUpTo(g, "bn1").getConfiguration(),
                1e-4, 1e-2, Set.of("out")));
        assertThrows(IllegalArgumentException.class, () -> LearningRates.baseRates(g.getConfiguration(), 1e-2, 1e-4,
                Set.of("out")), "the first layers faster than the last");
        assertThrows(IllegalArgumentException.class, () -> LearningRates.baseRates(g.getConfiguration(), 0,
                Double.NaN, Set.of("out")));
    }

    @Test
    void unknownLayerNamesFailClearly() {
        ComputationGraph g = TinyNets.convBnDropout(1);
        var e = assertThrows(IllegalArgumentException.class, () -> Freezing.unfreezeFrom(g, "conv9"));
        assertTrue(e.getMessage().contains("conv9"));
        var e2 = assertThrows(IllegalArgumentException.class, () -> Freezing.freezeUpTo(g, "in"));
        assertTrue(e2.getMessage().contains("network input"));
    }
}
