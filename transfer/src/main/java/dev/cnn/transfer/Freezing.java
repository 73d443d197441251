package dev.cnn.transfer;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.LinkedHashSet;
import java.util.Set;

import static dev.cnn.transfer.GraphEdits.rebuildSameLayout;
import static dev.cnn.transfer.GraphEdits.safeDefaultCut;
import static dev.cnn.zoo.GraphQueries.ancestors;
import static dev.cnn.zoo.GraphQueries.descendants;
import static dev.cnn.zoo.GraphQueries.isFrozen;
import static dev.cnn.zoo.GraphQueries.requireVertex;
import static dev.cnn.zoo.GraphQueries.unwrap;

/**
 * Freezing and unfreezing parts of a DL4J {@link ComputationGraph} for transfer learning.
 *
 * <p>Every method is pure: it reads its input graph and returns a <em>new</em>, initialised graph with copied
 * parameters (including batch-norm running statistics); the input's configuration and parameters are never changed.
 * Updater state (Adam moments etc.) is not carried over: the returned graph starts with a fresh updater, as a new
 * training phase should. Iteration and epoch counts are kept (they drive learning-rate schedules).
 *
 * <p>Frozen layers are DL4J {@link FrozenLayer}s: they are never updated (NoOp updater, no regularisation, no
 * batch-norm statistics updates) and always run in inference mode, even inside {@code fit}: batch norm uses its
 * running mean/variance and dropout is off.
 */
public final class Freezing {
    private Freezing() {
    }

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
}
