package dev.cnn.transfer;

import dev.cnn.core.Optimizers;
import dev.cnn.core.TrainConfig;
import dev.cnn.zoo.GraphQueries;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
        return forPhase(g, cfg, itersPerEpoch, 0, baseLr, headLr, headLayers);
    }

    /**
     * As {@link #forPhase(ComputationGraph, TrainConfig, int, double, double, Set)}, with the base's rates spread as
     * fastai's {@code slice(lo, hi)} spreads them: from {@code baseLrLow} at the first trainable layer below the head
     * to {@code baseLr} at the last, geometrically ({@link #baseRates}); {@code baseLrLow} 0: all at {@code baseLr}.
     */
    public static ComputationGraph forPhase(ComputationGraph g, TrainConfig cfg, int itersPerEpoch, double baseLrLow,
                                            double baseLr, double headLr, Set<String> headLayers) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        Map<String, Double> base = baseRates(c, baseLrLow, baseLr, headLayers);
        IUpdater head = Optimizers.updater(cfg, Optimizers.schedule(cfg, headLr, itersPerEpoch));
        Map<Double, IUpdater> byRate = new HashMap<>();
        Optimizers.apply(c, name -> headLayers.contains(name) ? head.clone() : byRate.computeIfAbsent(
                base.getOrDefault(name, baseLr), r -> Optimizers.updater(cfg, Optimizers.schedule(cfg, r,
                        itersPerEpoch))).clone(), Optimizers.regularization(cfg));
        c.setIterationCount(0);
        c.setEpochCount(0);
        return rebuildSameLayout(g, c);
    }

    /**
     * The peak rate of each trainable layer with parameters outside {@code headLayers} (frozen ones excluded), in
     * topological order: {@code low * (high / low)^(i / (n - 1))} for the i-th of n, so the first (the input's side)
     * trains at {@code low} and the last (at the cut) at {@code high}; one such layer trains at {@code high}.
     * {@code low} 0 or equal to {@code high}: every one at {@code high}.
     */
    public static Map<String, Double> baseRates(ComputationGraphConfiguration c, double low, double high,
                                                Set<String> headLayers) {
        if (!(high >= 0) || Double.isInfinite(high) || !(low >= 0) || low > high) {
            throw new IllegalArgumentException("base rates need 0 <= low <= high, finite; got " + low + ", " + high);
        }
        List<String> layers = new ArrayList<>();
        for (String name : GraphQueries.topologicalOrder(c)) {
            // (a frozen layer is a wrapper, not a BaseLayer; a dropout layer is one without parameters)
            if (!headLayers.contains(name) && c.getVertices().get(name) instanceof LayerVertex lv
                    && lv.getLayerConf().getLayer() instanceof BaseLayer b
                    && b.initializer().numParams(lv.getLayerConf()) > 0) {
                layers.add(name);
            }
        }
        Map<String, Double> rates = new LinkedHashMap<>();
        int n = layers.size();
        for (int i = 0; i < n; i++) {
            double rate = low <= 0 || i == n - 1 ? high : low * Math.pow(high / low, i / (double) (n - 1));
            rates.put(layers.get(i), rate);
        }
        return rates;
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
