package dev.cnn.core;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
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
        return schedule(c, c.lr(), itersPerEpoch);
    }

    /** The schedule a config asks for, peaking at {@code lr} instead of its own rate (discriminative rates). */
    public static LrSchedule schedule(TrainConfig c, double lr, long itersPerEpoch) {
        return new LrSchedule(lr, c.schedule(), Math.round(c.warmupEpochs() * itersPerEpoch),
                c.epochs() * itersPerEpoch, c.stepEpochs() * itersPerEpoch, c.stepGamma());
    }

    /**
     * Puts the run's schedule ({@link #schedule}) back on a network restored from a checkpoint, whose configuration
     * holds a fixed rate instead (bundles keep DL4J's JSON free of this project's classes, see {@link ModelBundle}),
     * so that a resumed run continues the same schedule. In place, on the initialised network with its updater state
     * loaded: every trainable layer's updater configuration (weights and bias; not frozen layers, not updaters
     * without a learning rate) and the configuration of every updater block. DL4J's gradient updaters hold the
     * layer's configuration object itself ({@code UpdaterBlock.init}: {@code getUpdaterByParam(..).instantiate(..)}),
     * so the next step uses the schedule; replacing the objects instead would not reach them. The updater's other
     * settings (Adam's betas, momentum) and its state are left as they are. Every trainable layer gets the same
     * schedule, as {@link Networks#forTraining} sets them up; a network with per-layer rates (transfer's
     * discriminative finetuning) would need its own.
     */
    public static void restoreSchedule(ComputationGraph net, TrainConfig cfg, long itersPerEpoch) {
        setSchedule(net, schedule(cfg, Math.max(1, itersPerEpoch)));
    }

    /**
     * Puts {@code schedule} on every trainable layer's updater of an initialised network, configurations and updater
     * blocks alike (see {@link #restoreSchedule}); the updater state is kept.
     */
    public static void setSchedule(ComputationGraph net, org.nd4j.linalg.schedule.ISchedule schedule) {
        Set<IUpdater> done = Collections.newSetFromMap(new IdentityHashMap<>());
        for (GraphVertex v : net.getConfiguration().getVertices().values()) {
            if (v instanceof LayerVertex lv) {
                setSchedule(lv.getLayerConf().getLayer(), schedule, done);
            }
        }
        for (org.deeplearning4j.nn.api.Layer l : net.getLayers()) { // the same objects, unless a layer was rebuilt
            setSchedule(l.conf().getLayer(), schedule, done);
        }
        var updater = net.getUpdater(false);
        if (updater != null) {
            for (UpdaterBlock b : updater.getUpdaterBlocks()) {
                if (b.getLayersAndVariablesInBlock().isEmpty()) {
                    continue;
                }
                // the block's updater was made from its first parameter's layer (frozen ones have NoOp: no rate)
                var p = b.getLayersAndVariablesInBlock().get(0);
                if (p.getLayer().getConfig() instanceof Layer l && trainable(l)) {
                    setSchedule(b.getGradientUpdater().getConfig(), schedule, done);
                }
            }
        }
    }

    private static boolean trainable(Layer l) {
        return !(l instanceof FrozenLayer || l instanceof FrozenLayerWithBackprop);
    }

    private static void setSchedule(Layer l, org.nd4j.linalg.schedule.ISchedule schedule, Set<IUpdater> done) {
        if (trainable(l) && l instanceof BaseLayer b) {
            setSchedule(b.getIUpdater(), schedule, done);
            setSchedule(b.getBiasUpdater(), schedule, done);
        }
    }

    private static void setSchedule(IUpdater u, org.nd4j.linalg.schedule.ISchedule schedule, Set<IUpdater> done) {
        if (u != null && u.hasLearningRate() && done.add(u)) {
            u.setLrAndSchedule(Double.NaN, schedule.clone());
        }
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
