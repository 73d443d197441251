package dev.cnn.transfer;

import dev.cnn.transfer.ShapeInference.Act;
import dev.cnn.zoo.Subgraphs;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.cnn.transfer.GraphEdits.safeDefaultCut;
import static dev.cnn.transfer.ShapeInference.cutActivation;
import static dev.cnn.zoo.GraphQueries.ancestors;
import static dev.cnn.zoo.GraphQueries.requireVertex;
import static dev.cnn.zoo.GraphQueries.unwrap;

/**
 * A new classifier on a cut layer of a DL4J {@link ComputationGraph} (see {@link HeadSpec}).
 *
 * <p>Every method is pure: it reads its input graph and returns a <em>new</em>, initialised graph with copied
 * parameters (including batch-norm running statistics); the input's configuration and parameters are never changed.
 * Updater state (Adam moments etc.) is not carried over: the returned graph starts with a fresh updater, as a new
 * training phase should. Iteration and epoch counts are kept (they drive learning-rate schedules).
 */
public final class Heads {
    private Heads() {
    }

    /** {@link #replaceHead(ComputationGraph, String, HeadSpec)} with a plain softmax head named {@code head}. */
    public static ComputationGraph replaceHead(ComputationGraph g, String cutLayer, int numClasses) {
        return replaceHead(g, cutLayer, HeadSpec.of(numClasses));
    }

    /**
     * A copy of {@code g} keeping only {@code cutLayer} and what it depends on (weights copied, frozen layers stay
     * frozen), with a new, freshly initialised (seeded) classifier on top: global average or max pooling, or
     * flattening, if the cut's output is convolutional, an optional dense layer, and a softmax/MCXENT
     * {@link OutputLayer}. The new output layer is the graph's only output.
     *
     * @throws IllegalArgumentException if {@code cutLayer} is missing or the output, a head name is taken, the cut's
     *                                  output cannot be worked out, or {@code spec} asks to max-pool or flatten a
     *                                  flat output (or to flatten one whose height and width are unknown)
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
        long n = act.size();
        InputPreProcessor flatten = null; // on the first layer after the cut, when its output is flattened
        if (!act.cnn() && spec.pooling() != HeadSpec.Pooling.AVG) {
            throw new IllegalArgumentException("the output of '" + cutLayer + "' is already flat, so there is nothing "
                    + "to " + (spec.pooling() == HeadSpec.Pooling.MAX ? "max-pool" : "flatten")
                    + ": cut at a convolutional layer");
        }
        if (act.cnn() && spec.pooling() == HeadSpec.Pooling.FLATTEN) {
            if (act.height() <= 0 || act.width() <= 0) {
                throw new IllegalArgumentException("flattening the output of '" + cutLayer + "' needs its height and "
                        + "width: pass the network input type (HeadSpec.withInputTypes)");
            }
            flatten = new CnnToFeedForwardPreProcessor(act.height(), act.width(), act.size(), act.format());
            n = act.size() * act.height() * act.width();
        } else if (act.cnn()) {
            PoolingType type = spec.pooling() == HeadSpec.Pooling.MAX ? PoolingType.MAX : PoolingType.AVG;
            GlobalPoolingLayer gap = new GlobalPoolingLayer.Builder(type).name(spec.poolName()).build();
            gap.setNIn(InputType.convolutional(1, 1, act.size(), act.format()), true);
            addLayer(c, spec.poolName(), gap, prev, null, spec, updater, List.of(), false);
            prev = spec.poolName();
        }
        if (spec.hidden() > 0) {
            DenseLayer fc = new DenseLayer.Builder().name(spec.fcName()).nIn(n).nOut(spec.hidden())
                    .activation(Activation.RELU).weightInit(WeightInit.RELU).build();
            addLayer(c, spec.fcName(), fc, prev, flatten, spec, updater, reg, false);
            flatten = null;
            prev = spec.fcName();
            n = spec.hidden();
        }
        OutputLayer.Builder ob = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).name(spec.name())
                .nIn(n).nOut(spec.numClasses()).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER);
        if (spec.dropout() > 0) {
            ob.dropOut(new Dropout(1.0 - spec.dropout())); // DL4J takes the retain probability
        }
        addLayer(c, spec.name(), ob.build(), prev, flatten, spec, updater, reg, true);
        c.setNetworkOutputs(new ArrayList<>(List.of(spec.name())));
        c.setTopologicalOrder(null);
        c.setTopologicalOrderStr(null);
        c.validate();

        // Seeded initialisation of everything (ComputationGraph.init seeds ND4J's RNG with the default
        // configuration's seed), then the kept layers' weights are copied over.
        long origSeed = c.getDefaultConfiguration().getSeed();
        c.getDefaultConfiguration().setSeed(dev.cnn.zoo.ModelSpec.nd4jSeed(spec.seed()));
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        c.getDefaultConfiguration().setSeed(origSeed);
        Subgraphs.copyParams(g, out, keep);
        return out;
    }

    private static void addLayer(ComputationGraphConfiguration c, String name,
                                 org.deeplearning4j.nn.conf.layers.Layer layer, String input,
                                 InputPreProcessor preProcessor, HeadSpec spec, IUpdater updater,
                                 List<Regularization> reg, boolean output) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(dev.cnn.zoo.ModelSpec.nd4jSeed(spec.seed()))
                .updater(updater.clone()).weightInit(WeightInit.XAVIER);
        if (c.getDataType() != null) {
            b.dataType(c.getDataType());
        }
        NeuralNetConfiguration nnc = b.layer(layer).build();
        if (nnc.getLayer() instanceof BaseLayer bl) {
            bl.setRegularization(new ArrayList<>(reg));
            bl.setRegularizationBias(new ArrayList<>());
        }
        LayerVertex lv = new LayerVertex(nnc, preProcessor);
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
}
