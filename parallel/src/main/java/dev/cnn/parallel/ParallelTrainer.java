package dev.cnn.parallel;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.EpochLoop;
import dev.cnn.core.EpochStats;
import dev.cnn.core.ImageData;
import dev.cnn.core.Metrics;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Networks;
import dev.cnn.core.Optimizers;
import dev.cnn.core.OutputLock;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.core.TrainingState;
import dev.cnn.data.DataSource;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.parallelism.ParallelWrapper;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code cnn train --devices N}: trains with DL4J's {@link ParallelWrapper} on N devices of this machine (N GPUs with
 * the CUDA backend, N worker threads on a CPU), each with a replica of the network; the replicas' parameters and
 * updater states are averaged every {@link Options#averagingFrequency} minibatches. {@code --batch-size} stays the
 * global batch: each device fits its share. Writes the same bundle, checkpoints and history as {@code cnn train}.
 */
public final class ParallelTrainer {
    static {
        dev.cnn.accel.Engine.init();
    }

    /**
     * @param devices            devices (workers) to train on, 2 or more
     * @param averagingFrequency minibatches per device between averages
     */
    public record Options(int devices, int averagingFrequency) {
        public Options {
            if (devices < 2) {
                throw CnnException.usage("--devices must be >= 2 to train in parallel, got " + devices);
            }
            if (averagingFrequency < 1) {
                throw CnnException.usage("--averaging-frequency must be >= 1, got " + averagingFrequency);
            }
        }
    }

    /** What happened: the run's status, its epochs, the bundle written, the images of each split. */
    public record Outcome(Trainer.Status status, List<EpochStats> history, ModelBundle bundle, Path output,
                          Path historyCsv, Path checkpoints, int trainImages, int valImages, int devices) {
    }

    private ParallelTrainer() {
    }

    /** Trains as {@code req} says ({@code cnn train}'s request) on {@code opt.devices()} devices. */
    public static Outcome run(TrainJob.Request req, Options opt, Consumer<EpochStats> onEpoch) {
        if (req.resume() != null) {
            return resume(new TrainJob.Resume(req.resume(), null, null, null, req.workers()), opt, onEpoch);
        }
        TrainJob.Setup su = TrainJob.setup(req);
        TrainConfig cfg = su.cfg();
        ImageData data = su.data().withBatchSize(perDevice(cfg, opt));
        ComputationGraph net = Networks.forTraining(su.arch(), su.spec(), cfg, steps(data, opt));
        int valImages = su.src().validation() == null ? 0 : su.src().validation().size();
        Provenance prov = Provenance.of(req.data(), su.src().valSplit(), su.aug().toSpec(), req.cache(),
                req.strict(), su.src().train().size(), valImages, cfg, null);
        BundleMetadata meta = BundleMetadata.of(su.arch().name(), su.src().classes(), su.pre(), prov);
        return train(cfg, net, meta, null, data, su.src(), opt, onEpoch);
    }

    /**
     * {@code cnn train --devices N --resume CHECKPOINT}: continues a run from its {@code last.zip} (of any trainer)
     * with its own data, settings and output, on N devices.
     */
    public static Outcome resume(TrainJob.Resume r, Options opt, Consumer<EpochStats> onEpoch) {
        TrainJob.Continuation c = TrainJob.continuation(r);
        TrainConfig cfg = c.cfg();
        DataSource src = c.open();
        ImageData data = c.data(src, r.workers()).withBatchSize(perDevice(cfg, opt));
        Optimizers.restoreSchedule(c.network(), cfg, steps(data, opt)); // a checkpoint stores a fixed rate
        return train(cfg, c.network(), c.metadata(), c.state(), data, src, opt, onEpoch);
    }

    /** Each device's share of the global batch. */
    private static int perDevice(TrainConfig cfg, Options opt) {
        return Math.max(1, (cfg.batchSize() + opt.devices() - 1) / opt.devices());
    }

    /** Steps per epoch as the schedule counts them: one averaged step of all devices is one. */
    private static int steps(ImageData data, Options opt) {
        return Math.max(1, (data.batchesPerEpoch() + opt.devices() - 1) / opt.devices());
    }

    /**
     * The largest averaging frequency up to {@code wanted} that divides an epoch's rounds: ParallelWrapper averages
     * only every that many rounds and not at the end of a fit, so the rounds after the last average of an epoch
     * would be lost (a whole epoch, when it has fewer rounds than the frequency).
     */
    static int frequency(int wanted, int rounds) {
        for (int f = Math.min(wanted, rounds); f > 1; f--) {
            if (rounds % f == 0) {
                return f;
            }
        }
        return 1;
    }

    private static Outcome train(TrainConfig cfg, ComputationGraph net, BundleMetadata meta, TrainingState from,
                                 ImageData data, DataSource src, Options opt, Consumer<EpochStats> onEpoch) {
        int valImages = src.validation() == null ? 0 : src.validation().size();
        ParallelWrapper pw = new ParallelWrapper.Builder<>(net).workers(opt.devices())
                .averagingFrequency(frequency(opt.averagingFrequency(), steps(data, opt))).prefetchBuffer(2 * opt.devices())
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING).averageUpdaters(true)
                .reportScoreAfterAveraging(true).build();
        try (OutputLock lock = OutputLock.acquire(cfg.output(), "cnn train")) {
            EpochLoop.Result r = EpochLoop.run(cfg, net, meta, from, src.train().size(), new EpochLoop.Epochs() {
                @Override
                public double fit(int epoch) {
                    pw.fit(data.train(epoch));
                    // the reported score less the weight penalty, as Trainer.dataLoss but approximate: the score is
                    // the workers' last, at their own parameters; the penalty is taken from the averaged ones
                    return net.score() - net.calcRegularizationScore(true);
                }

                @Override
                public EpochLoop.Validation validate() {
                    Metrics m = Trainer.evaluate(net, data.validation(), meta.labels());
                    return m == null ? null : new EpochLoop.Validation(m.loss(), m.top1(), m.top5());
                }
            }, onEpoch);
            return new Outcome(r.status(), r.history(), r.bundle(), cfg.output(), r.historyCsv(),
                    cfg.checkpointDir(), src.train().size(), valImages, opt.devices());
        } finally {
            pw.shutdown();
        }
    }
}
