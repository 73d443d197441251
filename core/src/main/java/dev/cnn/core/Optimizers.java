package dev.cnn.core;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Turns a {@link TrainConfig} into DL4J updaters and regularisation on a configuration, before init. */
public final class Optimizers {
    private Optimizers() {
    }

    /** The updater for a schedule: Adam, AdamW (decoupled decay is added as regularisation) or SGD/Nesterov. */
    public static IUpdater updater(TrainConfig c, LrSchedule schedule) {
        return switch (c.optimizer()) {
            case ADAM, ADAMW -> Adam.builder().learningRateSchedule(schedule).build();
            case SGD -> c.momentum() > 0 ? new Nesterovs(schedule, c.momentum()) : new Sgd(schedule);
        };
    }

    /** Weight regularisation: L2 for adam/sgd (coupled), decoupled weight decay for adamw. */
    public static List<Regularization> regularization(TrainConfig c) {
        List<Regularization> r = new ArrayList<>();
        if (c.weightDecay() > 0) {
            r.add(c.optimizer() == TrainConfig.Optimizer.ADAMW
                    ? new WeightDecay(c.weightDecay(), true) : new L2Regularization(c.weightDecay()));
        }
        return r;
    }

    /** The schedule a config asks for, for {@code itersPerEpoch} iterations per epoch. */
    public static LrSchedule schedule(TrainConfig c, long itersPerEpoch) {
        return new LrSchedule(c.lr(), c.schedule(), Math.round(c.warmupEpochs() * itersPerEpoch),
                c.epochs() * itersPerEpoch, c.stepEpochs() * itersPerEpoch, c.stepGamma());
    }

    /**
     * Sets updater and regularisation on every trainable layer of {@code conf} (in place, before init). Batch norm
     * gets no weight decay; biases none.
     *
     * @param updaterFor updater per layer name (e.g. discriminative rates), or the same for all
     */
    public static void apply(ComputationGraphConfiguration conf, Function<String, IUpdater> updaterFor,
                             List<Regularization> regularization) {
        for (var e : conf.getVertices().entrySet()) {
            GraphVertex v = e.getValue();
            if (!(v instanceof LayerVertex lv)) {
                continue;
            }
            Layer l = lv.getLayerConf().getLayer();
            if (l instanceof FrozenLayer || l instanceof FrozenLayerWithBackprop) {
                continue;
            }
            if (l instanceof BaseLayer b) {
                b.setIUpdater(updaterFor.apply(e.getKey()));
                b.setBiasUpdater(null);
                b.setRegularization(l instanceof BatchNormalization ? List.of() : new ArrayList<>(regularization));
                b.setRegularizationBias(List.of());
            }
        }
    }
}
