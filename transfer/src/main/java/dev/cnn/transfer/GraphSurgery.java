package dev.cnn.transfer;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LocalResponseNormalization;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.Upsampling2D;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
import org.deeplearning4j.nn.conf.layers.convolutional.Cropping2D;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Transfer-learning edits of a DL4J {@link ComputationGraph}. Every method is pure: it reads its input graph and
 * returns a <em>new</em>, initialised graph with copied parameters (including batch-norm running statistics); the
 * input's configuration and parameters are never changed. Updater state (Adam moments etc.) is not carried over:
 * the returned graph starts with a fresh updater, as a new training phase should. Iteration and epoch counts are
 * kept (they drive learning-rate schedules).
 *
 * <p>Frozen layers are DL4J {@link FrozenLayer}s: they are never updated (NoOp updater, no regularisation, no
 * batch-norm statistics updates) and always run in inference mode, even inside {@code fit}: batch norm uses its
 * running mean/variance and dropout is off.
 */
public final class GraphSurgery {
    private GraphSurgery() {
    }

    // ------------------------------------------------------------------------------------------------ inspection

    /** Every non-input vertex in topological order, with whether it is frozen. */
    public static List<LayerInfo> layers(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration();
        List<LayerInfo> out = new ArrayList<>();
        for (String name : topologicalOrder(g)) {
            GraphVertex v = c.getVertices().get(name);
            if (v == null) {
                continue; // network input
            }
            boolean isLayer = v instanceof LayerVertex;
            String type = isLayer ? unwrap(((LayerVertex) v).getLayerConf().getLayer()).getClass().getSimpleName()
                    : (v instanceof FrozenVertex fv ? fv.getUnderlying() : v).getClass().getSimpleName();
            out.add(new LayerInfo(name, type, isLayer, isFrozen(v), v.numParams(true),
                    List.copyOf(c.getVertexInputs().getOrDefault(name, List.of())),
                    c.getNetworkOutputs().contains(name)));
        }
        return out;
    }

    /** Names of all non-input vertices in topological order. */
    public static List<String> layerNames(ComputationGraph g) {
        return layers(g).stream().map(LayerInfo::name).toList();
    }

    /** Names of the frozen layers/vertices, in topological order. */
    public static List<String> frozenLayers(ComputationGraph g) {
        return layers(g).stream().filter(LayerInfo::frozen).map(LayerInfo::name).toList();
    }

    /** Network inputs and vertices, in the graph's topological order. */
    public static List<String> topologicalOrder(ComputationGraph g) {
        int[] order = g.topologicalSortOrder();
        org.deeplearning4j.nn.graph.vertex.GraphVertex[] vs = g.getVertices();
        List<String> names = new ArrayList<>(order.length);
        for (int i : order) {
            names.add(vs[i].getVertexName());
        }
        return names;
    }

    /** All vertices {@code name} depends on (not itself, not network inputs). */
    public static Set<String> ancestors(ComputationGraph g, String name) {
        ComputationGraphConfiguration c = g.getConfiguration();
        requireVertex(c, name);
        return ancestors(c, name);
    }

    /** All vertices that depend on {@code name} (not itself). */
    public static Set<String> descendants(ComputationGraph g, String name) {
        ComputationGraphConfiguration c = g.getConfiguration();
        requireVertex(c, name);
        return descendants(c, name);
    }

    /**
     * The layer before the classifier: the input of the network's (single) output layer. Parameter-free vertices at
     * the end (a LossLayer or ActivationLayer after a dense layer) are walked past, so for DL4J zoo models whose
     * "head" is a softmax DenseLayer this is still the layer feeding that dense layer (e.g. {@code fc2} for VGG16).
     */
    public static String defaultCut(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration();
        if (c.getNetworkOutputs().size() != 1) {
            throw new IllegalArgumentException("defaultCut needs a graph with one output; this one has "
                    + c.getNetworkOutputs() + ": name the cut layer explicitly");
        }
        String v = c.getNetworkOutputs().get(0);
        while (c.getVertices().get(v).numParams(true) == 0) {
            List<String> in = c.getVertexInputs().getOrDefault(v, List.of());
            if (in.size() != 1 || !c.getVertices().containsKey(in.get(0))) {
                throw new IllegalArgumentException("cannot find the classifier of output '" + v
                        + "': name the cut layer explicitly");
            }
            v = in.get(0);
        }
        List<String> in = c.getVertexInputs().getOrDefault(v, List.of());
        if (in.size() != 1) {
            throw new IllegalArgumentException("classifier '" + v + "' has " + in.size()
                    + " inputs: name the cut layer explicitly");
        }
        return in.get(0);
    }

    // ------------------------------------------------------------------------------------------------ freezing

    /**
     * A copy of {@code g} in which {@code layerName} and every vertex it depends on are frozen. Other vertices
     * (those after the cut, and side branches the cut does not depend on) are left as they are.
     *
     * @throws IllegalArgumentException if there is no such vertex, or the cut depends on an output layer
     */
    public static ComputationGraph freezeUpTo(ComputationGraph g, String layerName) {
        ComputationGraphConfiguration src = g.getConfiguration();
        requireVertex(src, layerName);
        Set<String> toFreeze = ancestors(src, layerName);
        toFreeze.add(layerName);
        ComputationGraphConfiguration c = src.clone();
        for (String n : toFreeze) {
            GraphVertex v = c.getVertices().get(n);
            if (c.getNetworkOutputs().contains(n) || (v instanceof LayerVertex lv
                    && (lv.getLayerConf().getLayer() instanceof BaseOutputLayer
                    || lv.getLayerConf().getLayer() instanceof LossLayer))) {
                throw new IllegalArgumentException("cannot freeze output layer '" + n + "'; freeze up to a layer "
                        + "before the classifier, e.g. '" + safeDefaultCut(g) + "'");
            }
            if (isFrozen(v)) {
                continue;
            }
            if (v instanceof LayerVertex lv) {
                NeuralNetConfiguration nnc = lv.getLayerConf().clone();
                org.deeplearning4j.nn.conf.layers.Layer inner = nnc.getLayer();
                FrozenLayer frozen = new FrozenLayer(inner);
                frozen.setLayerName(inner.getLayerName() != null ? inner.getLayerName() : n);
                nnc.setLayer(frozen);
                lv.setLayerConf(nnc);
            } else {
                c.getVertices().put(n, new FrozenVertex(v));
            }
        }
        return rebuildSameLayout(g, c);
    }

    /** A copy of {@code g} with every frozen layer made trainable again, with identical weights. */
    public static ComputationGraph unfreeze(ComputationGraph g) {
        return unfreeze(g, new LinkedHashSet<>(g.getConfiguration().getVertices().keySet()));
    }

    /**
     * A copy of {@code g} in which {@code layerName} and every vertex depending on it are trainable; the frozen
     * layers it depends on stay frozen.
     */
    public static ComputationGraph unfreezeFrom(ComputationGraph g, String layerName) {
        ComputationGraphConfiguration src = g.getConfiguration();
        requireVertex(src, layerName);
        Set<String> names = descendants(src, layerName);
        names.add(layerName);
        return unfreeze(g, names);
    }

    private static ComputationGraph unfreeze(ComputationGraph g, Set<String> names) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        for (String n : names) {
            GraphVertex v = c.getVertices().get(n);
            if (v instanceof LayerVertex lv && isFrozen(v)) {
                NeuralNetConfiguration nnc = lv.getLayerConf().clone();
                org.deeplearning4j.nn.conf.layers.Layer inner = unwrap(nnc.getLayer());
                if (inner.getLayerName() == null) {
                    inner.setLayerName(n);
                }
                nnc.setLayer(inner);
                lv.setLayerConf(nnc);
            } else if (v instanceof FrozenVertex fv) {
                c.getVertices().put(n, fv.getUnderlying());
            }
        }
        return rebuildSameLayout(g, c);
    }

    // ------------------------------------------------------------------------------------------------ learning rates

    /**
     * A copy with fixed per-layer learning rates: each named layer gets a clone of its own updater (same type and
     * hyper-parameters, e.g. Adam's betas) with the given rate, replacing any schedule. Layers not named keep their
     * updater. Naming a parameter-free layer is allowed and does nothing; naming a frozen layer sets the rate it will
     * have once unfrozen.
     */
    public static ComputationGraph withLearningRates(ComputationGraph g, Map<String, Double> lrByLayer) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        for (Map.Entry<String, Double> e : lrByLayer.entrySet()) {
            double lr = e.getValue();
            if (!(lr >= 0) || Double.isInfinite(lr)) {
                throw new IllegalArgumentException("learning rate of '" + e.getKey() + "' must be >= 0, got " + lr);
            }
            editUpdater(c, e.getKey(), u -> {
                IUpdater n = u.clone();
                n.setLrAndSchedule(lr, null);
                return n;
            });
        }
        return rebuildSameLayout(g, c);
    }

    /**
     * Discriminative fixed rates: {@code headLr} for the named head layers, {@code baseLr} for every other layer
     * with parameters (usually baseLr &lt; headLr).
     */
    public static ComputationGraph withLearningRates(ComputationGraph g, double baseLr, double headLr,
                                                     Collection<String> headLayers) {
        ComputationGraphConfiguration c = g.getConfiguration();
        for (String h : headLayers) {
            requireVertex(c, h);
        }
        Map<String, Double> lr = new LinkedHashMap<>();
        for (Map.Entry<String, GraphVertex> e : c.getVertices().entrySet()) {
            if (e.getValue() instanceof LayerVertex && e.getValue().numParams(true) > 0) {
                lr.put(e.getKey(), headLayers.contains(e.getKey()) ? headLr : baseLr);
            }
        }
        return withLearningRates(g, lr);
    }

    /**
     * A copy in which each named layer's learning rate is {@code factor} times what it was, schedule included
     * (warm-up, cosine, step decay keep their shape): the updater keeps its type and gets a {@link ScaledSchedule}
     * over its old configuration.
     */
    public static ComputationGraph scaleLearningRates(ComputationGraph g, Map<String, Double> factorByLayer) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        for (Map.Entry<String, Double> e : factorByLayer.entrySet()) {
            double f = e.getValue();
            editUpdater(c, e.getKey(), u -> {
                IUpdater n = u.clone();
                n.setLrAndSchedule(Double.NaN, new ScaledSchedule(u, f));
                return n;
            });
        }
        return rebuildSameLayout(g, c);
    }

    private static void editUpdater(ComputationGraphConfiguration c, String name,
                                    java.util.function.UnaryOperator<IUpdater> edit) {
        requireVertex(c, name);
        GraphVertex v = c.getVertices().get(name);
        if (!(v instanceof LayerVertex lv) || v.numParams(true) == 0) {
            return;
        }
        org.deeplearning4j.nn.conf.layers.Layer l = unwrap(lv.getLayerConf().getLayer());
        if (!(l instanceof BaseLayer b)) {
            throw new IllegalArgumentException("layer '" + name + "' (" + l.getClass().getSimpleName()
                    + ") has no per-layer updater");
        }
        IUpdater u = b.getIUpdater();
        if (u == null || !u.hasLearningRate()) {
            throw new IllegalArgumentException("updater of layer '" + name + "' (" + u + ") has no learning rate");
        }
        b.setIUpdater(edit.apply(u));
        if (b.getBiasUpdater() != null && b.getBiasUpdater().hasLearningRate()) {
            b.setBiasUpdater(edit.apply(b.getBiasUpdater()));
        }
    }

    /** The current learning rate of a layer's weights (iteration/epoch of the graph), NaN if it has none. */
    public static double learningRate(ComputationGraph g, String layerName) {
        ComputationGraphConfiguration c = g.getConfiguration();
        requireVertex(c, layerName);
        if (c.getVertices().get(layerName) instanceof LayerVertex lv
                && unwrap(lv.getLayerConf().getLayer()) instanceof BaseLayer b && b.getIUpdater() != null
                && b.getIUpdater().hasLearningRate()) {
            return b.getIUpdater().getLearningRate(c.getIterationCount(), c.getEpochCount());
        }
        return Double.NaN;
    }

    // ------------------------------------------------------------------------------------------------ new head

    /** {@link #replaceHead(ComputationGraph, String, HeadSpec)} with a plain softmax head named {@code head}. */
    public static ComputationGraph replaceHead(ComputationGraph g, String cutLayer, int numClasses) {
        return replaceHead(g, cutLayer, HeadSpec.of(numClasses));
    }

    /**
     * A copy of {@code g} keeping only {@code cutLayer} and what it depends on (weights copied, frozen layers stay
     * frozen), with a new, freshly initialised (seeded) classifier on top: global average pooling if the cut's output
     * is convolutional, an optional dense layer, and a softmax/MCXENT {@link OutputLayer}. The new output layer is the
     * graph's only output.
     */
    public static ComputationGraph replaceHead(ComputationGraph g, String cutLayer, HeadSpec spec) {
        ComputationGraphConfiguration src = g.getConfiguration();
        requireVertex(src, cutLayer);
        if (src.getNetworkOutputs().contains(cutLayer)) {
            throw new IllegalArgumentException("cut layer '" + cutLayer + "' is the network output; cut before the "
                    + "classifier, e.g. at '" + safeDefaultCut(g) + "'");
        }
        Set<String> keep = ancestors(src, cutLayer);
        keep.add(cutLayer);
        for (String n : List.of(spec.name(), spec.poolName(), spec.fcName())) {
            if (keep.contains(n) || src.getNetworkInputs().contains(n)) {
                throw new IllegalArgumentException("head name '" + n + "' is already used by a kept layer");
            }
        }
        Act act = cutActivation(src, cutLayer, spec.inputTypes());

        // Defaults for the new layers from the classifier being replaced.
        IUpdater updater = spec.updater();
        List<Regularization> reg = spec.regularization();
        BaseLayer old = classifierConf(src);
        if (updater == null) {
            updater = old != null && old.getIUpdater() != null ? old.getIUpdater().clone() : lastUpdater(src);
        }
        if (reg == null) {
            reg = old != null && old.getRegularization() != null ? old.getRegularization() : List.of();
        }

        ComputationGraphConfiguration c = src.clone();
        c.getVertices().keySet().retainAll(keep);
        c.getVertexInputs().keySet().retainAll(keep);
        for (GraphVertex v : c.getVertices().values()) {
            if (v instanceof LayerVertex lv) {
                lv.setOutputVertex(false);
            }
        }

        String prev = cutLayer;
        long n = act.size;
        if (act.cnn) {
            GlobalPoolingLayer gap = new GlobalPoolingLayer.Builder(PoolingType.AVG).name(spec.poolName()).build();
            gap.setNIn(InputType.convolutional(1, 1, act.size, act.format), true);
            addLayer(c, spec.poolName(), gap, prev, spec, updater, List.of(), false);
            prev = spec.poolName();
        }
        if (spec.hidden() > 0) {
            DenseLayer fc = new DenseLayer.Builder().name(spec.fcName()).nIn(n).nOut(spec.hidden())
                    .activation(Activation.RELU).weightInit(WeightInit.RELU).build();
            addLayer(c, spec.fcName(), fc, prev, spec, updater, reg, false);
            prev = spec.fcName();
            n = spec.hidden();
        }
        OutputLayer.Builder ob = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name(spec.name())
                .nIn(n).nOut(spec.numClasses()).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER);
        if (spec.dropout() > 0) {
            ob.dropOut(new Dropout(1.0 - spec.dropout())); // DL4J takes the retain probability
        }
        addLayer(c, spec.name(), ob.build(), prev, spec, updater, reg, true);
        c.setNetworkOutputs(new ArrayList<>(List.of(spec.name())));
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        c.validate();

        // Seeded initialisation of everything (ComputationGraph.init seeds ND4J's RNG with the default
        // configuration's seed), then the kept layers' weights are copied over.
        long origSeed = c.getDefaultConfiguration().getSeed();
        c.getDefaultConfiguration().setSeed(spec.seed());
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        c.getDefaultConfiguration().setSeed(origSeed);
        copyParams(g, out, keep);
        return out;
    }

    private static void addLayer(ComputationGraphConfiguration c, String name,
                                 org.deeplearning4j.nn.conf.layers.Layer layer, String input, HeadSpec spec,
                                 IUpdater updater, List<Regularization> reg, boolean output) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(spec.seed())
                .updater(updater.clone()).weightInit(WeightInit.XAVIER);
        if (c.getDataType() != null) {
            b.dataType(c.getDataType());
        }
        NeuralNetConfiguration nnc = b.layer(layer).build();
        if (nnc.getLayer() instanceof BaseLayer bl) {
            bl.setRegularization(new ArrayList<>(reg));
            bl.setRegularizationBias(new ArrayList<>());
        }
        LayerVertex lv = new LayerVertex(nnc, null);
        lv.setOutputVertex(output);
        if (c.getDataType() != null) {
            lv.setDataType(c.getDataType());
        }
        c.getVertices().put(name, lv);
        c.getVertexInputs().put(name, new ArrayList<>(List.of(input)));
    }

    private static BaseLayer classifierConf(ComputationGraphConfiguration c) {
        for (String o : c.getNetworkOutputs()) {
            String v = o;
            while (c.getVertices().get(v) != null && c.getVertices().get(v).numParams(true) == 0) {
                List<String> in = c.getVertexInputs().getOrDefault(v, List.of());
                if (in.size() != 1) {
                    break;
                }
                v = in.get(0);
            }
            if (c.getVertices().get(v) instanceof LayerVertex lv
                    && unwrap(lv.getLayerConf().getLayer()) instanceof BaseLayer b) {
                return b;
            }
        }
        return null;
    }

    private static IUpdater lastUpdater(ComputationGraphConfiguration c) {
        IUpdater last = null;
        for (GraphVertex v : c.getVertices().values()) {
            if (v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof BaseLayer b
                    && b.getIUpdater() != null && b.getIUpdater().hasLearningRate()) {
                last = b.getIUpdater();
            }
        }
        return last != null ? last.clone() : new Adam(1e-3);
    }

    /** True when everything after {@code cut} reads the part before it only through {@code cut} itself. */
    public static boolean splitsAt(ComputationGraph g, String cut) {
        requireVertex(g.getConfiguration(), cut);
        return edgeAcross(g.getConfiguration(), cut) == null;
    }

    /** A {reader, read} pair where a vertex after {@code cut} reads one before it, or null if there is none. */
    private static String[] edgeAcross(ComputationGraphConfiguration c, String cut) {
        Set<String> before = ancestors(c, cut);
        before.addAll(c.getNetworkInputs());
        for (Map.Entry<String, List<String>> e : c.getVertexInputs().entrySet()) {
            if (before.contains(e.getKey()) || e.getKey().equals(cut)) {
                continue;
            }
            for (String in : e.getValue()) {
                if (before.contains(in)) {
                    return new String[]{e.getKey(), in};
                }
            }
        }
        return null;
    }

    /**
     * The part of {@code g} after {@code cut} as a graph of its own, whose single input is the cut's output (weights
     * copied). Used to get gradients with respect to an inner activation (Grad-CAM) or to run a head on features.
     *
     * @throws IllegalArgumentException if a vertex after the cut also reads a vertex before it (a skip connection
     *                                  across the cut)
     */
    public static ComputationGraph subgraphAfter(ComputationGraph g, String cut) {
        ComputationGraphConfiguration src = g.getConfiguration();
        requireVertex(src, cut);
        String[] crossing = edgeAcross(src, cut);
        if (crossing != null) {
            throw new IllegalArgumentException("'" + crossing[0] + "' reads '" + crossing[1] + "', which comes before '"
                    + cut + "': the network cannot be split there");
        }
        Set<String> before = ancestors(src, cut);
        before.addAll(src.getNetworkInputs());
        before.add(cut);
        ComputationGraphConfiguration c = src.clone();
        c.getVertices().keySet().removeAll(before);
        c.getVertexInputs().keySet().removeAll(before);
        c.setNetworkInputs(new ArrayList<>(List.of(cut)));
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        c.validate();
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        copyParams(g, out, c.getVertices().keySet());
        return out;
    }

    // ------------------------------------------------------------------------------------------------ params

    /**
     * Copies the parameters (weights, biases, batch-norm statistics) of the named layers from {@code from} into the
     * same-named layers of {@code to}, in place. Shapes must match.
     */
    public static void copyParams(ComputationGraph from, ComputationGraph to, Collection<String> layerNames) {
        for (String name : layerNames) {
            if (from.getVertex(name) == null || !from.getVertex(name).hasLayer()) {
                continue;
            }
            Layer src = from.getLayer(name);
            if (src.numParams() == 0) {
                continue;
            }
            Layer dst = to.getLayer(name);
            if (dst == null) {
                throw new IllegalArgumentException("target graph has no layer '" + name + "'");
            }
            for (Map.Entry<String, INDArray> p : src.paramTable().entrySet()) {
                INDArray d = dst.getParam(p.getKey());
                if (d == null || !java.util.Arrays.equals(d.shape(), p.getValue().shape())) {
                    throw new IllegalArgumentException("parameter " + name + "/" + p.getKey() + " has shape "
                            + java.util.Arrays.toString(p.getValue().shape()) + " but the target's is "
                            + (d == null ? "missing" : java.util.Arrays.toString(d.shape())));
                }
                d.assign(p.getValue());
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static boolean isFrozen(GraphVertex v) {
        if (v instanceof FrozenVertex) {
            return true;
        }
        if (v instanceof LayerVertex lv) {
            org.deeplearning4j.nn.conf.layers.Layer l = lv.getLayerConf().getLayer();
            return l instanceof FrozenLayer || l instanceof FrozenLayerWithBackprop;
        }
        return false;
    }

    static org.deeplearning4j.nn.conf.layers.Layer unwrap(org.deeplearning4j.nn.conf.layers.Layer l) {
        while (true) {
            if (l instanceof FrozenLayer f) {
                l = f.getLayer();
            } else if (l instanceof FrozenLayerWithBackprop f) {
                l = ((BaseWrapperLayer) f).getUnderlying();
            } else {
                return l;
            }
        }
    }

    static void requireVertex(ComputationGraphConfiguration c, String name) {
        if (name == null || !c.getVertices().containsKey(name)) {
            if (name != null && c.getNetworkInputs().contains(name)) {
                throw new IllegalArgumentException("'" + name + "' is a network input, not a layer");
            }
            throw new IllegalArgumentException("no layer named '" + name + "'; layers: " + c.getVertices().keySet());
        }
    }

    static Set<String> ancestors(ComputationGraphConfiguration c, String name) {
        Set<String> seen = new LinkedHashSet<>();
        Deque<String> todo = new ArrayDeque<>(c.getVertexInputs().getOrDefault(name, List.of()));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (c.getVertices().containsKey(v) && seen.add(v)) {
                todo.addAll(c.getVertexInputs().getOrDefault(v, List.of()));
            }
        }
        return seen;
    }

    static Set<String> descendants(ComputationGraphConfiguration c, String name) {
        Map<String, List<String>> consumers = new HashMap<>();
        for (Map.Entry<String, List<String>> e : c.getVertexInputs().entrySet()) {
            for (String in : e.getValue()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(e.getKey());
            }
        }
        Set<String> seen = new LinkedHashSet<>();
        Deque<String> todo = new ArrayDeque<>(consumers.getOrDefault(name, List.of()));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (seen.add(v)) {
                todo.addAll(consumers.getOrDefault(v, List.of()));
            }
        }
        return seen;
    }

    /** A new graph for an edited configuration with the same parameter layout as {@code g}: params copied as-is. */
    static ComputationGraph rebuildSameLayout(ComputationGraph g, ComputationGraphConfiguration c) {
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        ComputationGraph out = new ComputationGraph(c);
        if (g.numParams() > 0) {
            out.init(g.params().dup(), false);
        } else {
            out.init();
        }
        return out;
    }

    private static String safeDefaultCut(ComputationGraph g) {
        try {
            return defaultCut(g);
        } catch (RuntimeException e) {
            return "?";
        }
    }

    // ------------------------------------------------------------------------------------------------ activation

    /** Kind and size of a vertex's output: convolutional (channels, format) or flat (size). */
    record Act(boolean cnn, long size, CNN2DFormat format) {
    }

    static Act cutActivation(ComputationGraphConfiguration src, String cut, List<InputType> inputTypes) {
        if (!inputTypes.isEmpty()) {
            Map<String, InputType> types = src.clone()
                    .getLayerActivationTypes(true, false, inputTypes.toArray(new InputType[0]));
            InputType t = types.get(cut);
            if (t instanceof InputType.InputTypeConvolutional ct) {
                return new Act(true, ct.getChannels(), ct.getFormat());
            }
            if (t instanceof InputType.InputTypeFeedForward ft) {
                return new Act(false, ft.getSize(), CNN2DFormat.NCHW);
            }
            if (t instanceof InputType.InputTypeConvolutionalFlat cf) {
                return new Act(false, cf.getFlattenedSize(), CNN2DFormat.NCHW);
            }
            throw new IllegalArgumentException("unsupported output type of cut layer '" + cut + "': " + t);
        }
        return inferAct(src, cut, new HashMap<>());
    }

    private static Act inferAct(ComputationGraphConfiguration c, String name, Map<String, Act> memo) {
        Act cached = memo.get(name);
        if (cached != null) {
            return cached;
        }
        GraphVertex v = c.getVertices().get(name);
        if (v == null) {
            throw cannotInfer(name);
        }
        if (v instanceof FrozenVertex fv) {
            v = fv.getUnderlying();
        }
        List<String> inputs = c.getVertexInputs().getOrDefault(name, List.of());
        Act a;
        if (v instanceof LayerVertex lv) {
            org.deeplearning4j.nn.conf.layers.Layer l = unwrap(lv.getLayerConf().getLayer());
            boolean hasPre = lv.getPreProcessor() != null;
            if (l instanceof ConvolutionLayer cl) {
                a = new Act(true, cl.getNOut(), cl.getCnn2dDataFormat() == null ? CNN2DFormat.NCHW
                        : cl.getCnn2dDataFormat());
            } else if (!hasPre && inputs.size() == 1 && (l instanceof ActivationLayer || l instanceof DropoutLayer)) {
                a = inferAct(c, inputs.get(0), memo);
            } else if (l instanceof DenseLayer || l instanceof BaseOutputLayer) {
                a = new Act(false, ((FeedForwardLayer) l).getNOut(), CNN2DFormat.NCHW);
            } else if (l instanceof FeedForwardLayer ff && !hasPre && inputs.size() == 1) {
                // Shape-preserving layers with nOut = nIn (batch norm, PReLU, ...): kind of their input.
                Act in = inferAct(c, inputs.get(0), memo);
                a = new Act(in.cnn, ff.getNOut() > 0 ? ff.getNOut() : in.size, in.format);
            } else if (l instanceof GlobalPoolingLayer && inputs.size() == 1) {
                a = new Act(false, inferAct(c, inputs.get(0), memo).size, CNN2DFormat.NCHW);
            } else if (!hasPre && inputs.size() == 1 && (l instanceof SubsamplingLayer
                    || l instanceof ZeroPaddingLayer || l instanceof Upsampling2D || l instanceof Cropping2D
                    || l instanceof LocalResponseNormalization)) {
                Act in = inferAct(c, inputs.get(0), memo);
                a = new Act(true, in.size, in.format);
            } else {
                throw cannotInfer(name);
            }
        } else if (v instanceof MergeVertex && !inputs.isEmpty()) {
            Act first = inferAct(c, inputs.get(0), memo);
            long sum = 0;
            for (String in : inputs) {
                sum += inferAct(c, in, memo).size;
            }
            a = new Act(first.cnn, sum, first.format);
        } else if (v instanceof ElementWiseVertex && !inputs.isEmpty()) {
            a = inferAct(c, inputs.get(0), memo);
        } else {
            throw cannotInfer(name);
        }
        if (a.size <= 0) {
            throw cannotInfer(name);
        }
        memo.put(name, a);
        return a;
    }

    private static IllegalArgumentException cannotInfer(String name) {
        return new IllegalArgumentException("cannot work out the output size of '" + name
                + "' from the configuration; pass the network input type (HeadSpec.withInputTypes)");
    }
}
