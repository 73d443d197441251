package dev.cnn.spark;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Puts the engine ({@link dev.cnn.accel.Accel#beginTraining}: oneDNN layer helpers, blocked layouts, the kept
 * forward outputs, FastAdam) on each network a Spark worker trains, before its first step, as {@code cnn train}
 * does on one machine. dl4j-spark builds a fresh network from the broadcast configuration and parameters for every
 * split, which DL4J would otherwise run on libnd4j's generic paths. The session is never closed: the network is
 * dropped after its split, and what the worker returns (parameters, DL4J's updater state) is as DL4J's.
 */
final class EngineHook implements TrainingHook {
    /** Networks already set up, on this executor. */
    private static final Map<Model, Boolean> SEEN = Collections.synchronizedMap(new WeakHashMap<>());

    @Override
    public void preUpdate(DataSet minibatch, Model model) {
        setUp(model);
    }

    @Override
    public void preUpdate(MultiDataSet minibatch, Model model) {
        setUp(model);
    }

    @Override
    public void postUpdate(DataSet minibatch, Model model) {
    }

    @Override
    public void postUpdate(MultiDataSet minibatch, Model model) {
    }

    private static void setUp(Model model) {
        if (model instanceof ComputationGraph g && SEEN.putIfAbsent(g, Boolean.TRUE) == null) {
            dev.cnn.accel.Engine.init();
            dev.cnn.accel.Accel.beginTraining(g);
        }
    }
}
