package dev.cnn.core;

import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.learning.config.IUpdater;

/** Builds trainable networks: a zoo architecture with the run's optimizer, schedule and regularisation. */
public final class Networks {
    static {
        dev.cnn.accel.Engine.init(); // DL4J's helpers on and the native build chosen, before ND4J loads
    }

    private Networks() {
    }

    /** A freshly initialised network for {@code spec} set up to train with {@code cfg}. */
    public static ComputationGraph forTraining(Architecture arch, ModelSpec spec, TrainConfig cfg,
                                               int batchesPerEpoch) {
        ComputationGraphConfiguration conf;
        try {
            conf = arch.configuration(spec);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage(e.getMessage());
        }
        IUpdater updater = Optimizers.updater(cfg, Optimizers.schedule(cfg, Math.max(1, batchesPerEpoch)));
        Optimizers.apply(conf, name -> updater.clone(), Optimizers.regularization(cfg));
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }
}
