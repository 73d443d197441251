package dev.cnn.transfer;

import dev.cnn.core.Optimizers;
import dev.cnn.core.TrainConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.Set;

import static dev.cnn.transfer.GraphEdits.rebuildSameLayout;
import static dev.cnn.zoo.GraphQueries.requireVertex;
import static dev.cnn.zoo.GraphQueries.unwrap;

/**
 * Per-layer learning rates of a DL4J {@link ComputationGraph}: discriminative rates for a training phase (the head
 * at one rate, the base at another, both following the run's schedule), and a layer's current rate.
 */
public final class LearningRates {
    private LearningRates() {
    }

    /**
     * A copy with fresh updaters for a new training phase: the run's optimizer ({@code cfg}) with its schedule over
     * this phase's epochs of {@code itersPerEpoch} steps, peaking at {@code headLr} for {@code headLayers} and at
     * {@code baseLr} (0: not moved) for every other trainable layer; frozen layers keep theirs. Iteration and epoch
     * counts restart at 0; parameters (batch-norm statistics included) are copied, the input is not changed, and no
     * updater state is carried over, as a new phase should start.
     */
    public static ComputationGraph forPhase(ComputationGraph g, TrainConfig cfg, int itersPerEpoch, double baseLr,
                                            double headLr, Set<String> headLayers) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        IUpdater head = Optimizers.updater(cfg, Optimizers.schedule(cfg, headLr, itersPerEpoch));
        IUpdater rest = Optimizers.updater(cfg, Optimizers.schedule(cfg, baseLr, itersPerEpoch));
        Optimizers.apply(c, name -> headLayers.contains(name) ? head.clone() : rest.clone(),
                Optimizers.regularization(cfg));
        c.setIterationCount(0);
        c.setEpochCount(0);
        return rebuildSameLayout(g, c);
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
}
