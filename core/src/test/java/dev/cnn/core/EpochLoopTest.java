package dev.cnn.core;

import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The loop of the whole-epoch trainers (Spark, ParallelWrapper), with a stand-in for their epochs. */
class EpochLoopTest {
    /** Epoch e sets every parameter to e + 1 and validates to the given top-1 (null: no validation data). */
    private static EpochLoop.Epochs epochs(ComputationGraph net, double[] top1) {
        return new EpochLoop.Epochs() {
            int epoch;

            @Override
            public double fit(int e) {
                epoch = e;
                net.params().assign(e + 1);
                return 1.0 / (e + 1);
            }

            @Override
            public EpochLoop.Validation validate() {
                return top1 == null ? null : new EpochLoop.Validation(1 - top1[epoch], top1[epoch], 1);
            }
        };
    }

    private static ComputationGraph net(TrainConfig cfg) {
        return Networks.forTraining(ModelRegistry.get("lenet"),
                ModelSpec.builder().numClasses(2).input(1, 28, 28).seed(1).build(), cfg, 1);
    }

    private static BundleMetadata meta() {
        return BundleMetadata.of("lenet", List.of("a", "b"), Preprocess.builder().size(1, 28, 28)
                .normalization(Normalization.unit()).build(), Provenance.of("test", 0, "none", false, false, 0, 0,
                null, null));
    }

    /** in -> a (dense, rate 0.1) -> b (dense, rate 0.2) -> out (output layer, rate 0.3, or a loss layer). */
    private static ComputationGraph rated(boolean lossLayerOut) {
        var b = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(1)
                .updater(new org.nd4j.linalg.learning.config.Sgd(0.5)).graphBuilder().addInputs("in")
                .setInputTypes(org.deeplearning4j.nn.conf.inputs.InputType.feedForward(4))
                .addLayer("a", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(3)
                        .updater(new org.nd4j.linalg.learning.config.Sgd(0.1)).build(), "in")
                .addLayer("b", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(2)
                        .updater(new org.nd4j.linalg.learning.config.Sgd(0.2)).build(), "a");
        b = lossLayerOut ? b.addLayer("out", new org.deeplearning4j.nn.conf.layers.LossLayer.Builder().build(), "b")
                : b.addLayer("out", new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nOut(2)
                .updater(new org.nd4j.linalg.learning.config.Sgd(0.3)).build(), "b");
        ComputationGraph g = new ComputationGraph(b.setOutputs("out").build());
        g.init();
        return g;
    }

    @Test
    void theEpochsRateIsTheClassifiersOrTheLastTrainableLayersWhereTheOutputHasNoParameters() {
        TrainConfig cfg = TrainConfig.builder().lr(0.9).output(Path.of("m.zip")).build();
        assertEquals(0.3, EpochLoop.learningRate(rated(false), cfg, 0), 1e-12, "the output layer's, not layer 0's");
        ComputationGraph loss = rated(true);
        assertEquals(0.2, EpochLoop.learningRate(loss, cfg, 0), 1e-12, "a loss layer has no rate of its own");
        // a frozen layer reports its inner layer's rate: it is not the one that trains
        var c = loss.getConfiguration().clone();
        var v = (org.deeplearning4j.nn.conf.graph.LayerVertex) c.getVertices().get("b");
        v.getLayerConf().setLayer(new org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop(
                v.getLayerConf().getLayer()));
        ComputationGraph frozen = new ComputationGraph(c);
        frozen.init();
        assertEquals(0.1, EpochLoop.learningRate(frozen, cfg, 0), 1e-12);
    }

    @Test
    void theOutputHoldsTheBestEpochsWeightsAndItsResult(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(3).output(dir.resolve("m.zip")).build();
        ComputationGraph net = net(cfg);
        EpochLoop.Result r = EpochLoop.run(cfg, net, meta(), 100, epochs(net, new double[]{0.5, 0.9, 0.7}), null);
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertEquals(3, r.history().size());
        ModelBundle out = ModelBundle.load(dir.resolve("m.zip"), false);
        assertEquals(2.0, out.network().params().getDouble(0), "epoch 2 was the best");
        assertEquals(2, out.metadata().provenance().result().selectedEpoch());
        assertEquals(3.0, ModelBundle.load(dir.resolve("m.zip.checkpoints/last.zip"), true).network().params()
                .getDouble(0), "last.zip holds where the run stands");
    }

    @Test
    void withoutValidationNothingStopsEarlyAndTheLastWeightsAreKept(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(4).earlyStoppingPatience(1).output(dir.resolve("m.zip"))
                .build();
        ComputationGraph net = net(cfg);
        EpochLoop.Result r = EpochLoop.run(cfg, net, meta(), 100, epochs(net, null), null);
        assertEquals(Trainer.Status.COMPLETED, r.status());
        assertEquals(4, r.history().size());
        assertEquals(4.0, ModelBundle.load(dir.resolve("m.zip"), false).network().params().getDouble(0));
    }

    @Test
    void aResumeContinuesAtTheCheckpointsEpochAndRefusesOneWrittenMidEpoch(@TempDir Path dir) {
        TrainConfig cfg = TrainConfig.builder().epochs(2).output(dir.resolve("m.zip")).build();
        ComputationGraph net = net(cfg);
        EpochLoop.run(cfg, net, meta(), 100, epochs(net, new double[]{0.5, 0.6, 0.8, 0.4}), null);
        ModelBundle last = ModelBundle.load(dir.resolve("m.zip.checkpoints/last.zip"), true);
        TrainingState state = last.metadata().training();
        assertEquals(2, state.epoch());
        TrainConfig more = cfg.toBuilder().epochs(4).build();
        EpochLoop.Result r = EpochLoop.run(more, last.network(), last.metadata(), state, 100,
                epochs(last.network(), new double[]{0.5, 0.6, 0.8, 0.4}), null);
        assertEquals(List.of(1, 2, 3, 4), r.history().stream().map(EpochStats::epoch).toList());
        assertEquals(3.0, ModelBundle.load(dir.resolve("m.zip"), false).network().params().getDouble(0),
                "epoch 3 (0.8) beat the first run's best (0.6)");

        TrainingState midEpoch = new TrainingState(1, 5, state.history(), state.bestTop1(), 0, cfg, null);
        CnnException e = assertThrows(CnnException.class, () -> EpochLoop.run(more, last.network(),
                last.metadata(), midEpoch, 100, epochs(last.network(), null), null));
        assertEquals(CnnException.USAGE, e.exitCode());
    }
}
