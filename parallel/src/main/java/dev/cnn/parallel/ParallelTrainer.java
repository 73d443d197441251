package dev.cnn.parallel;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.EpochLoop;
import dev.cnn.core.EpochStats;
import dev.cnn.core.ImageData;
import dev.cnn.core.Metrics;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Networks;
import dev.cnn.core.OutputLock;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
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
                          Path historyCsv, int trainImages, int valImages, int devices) {
    }

    private ParallelTrainer() {
    }

    /** Trains as {@code req} says ({@code cnn train}'s request) on {@code opt.devices()} devices. */
    public static Outcome run(TrainJob.Request req, Options opt, Consumer<EpochStats> onEpoch) {
        if (req.resume() != null) {
            throw CnnException.usage("--resume is not supported with --devices yet; resume without --devices");
        }
        TrainJob.Setup su = TrainJob.setup(req);
        TrainConfig cfg = su.cfg();
        int perDevice = Math.max(1, (cfg.batchSize() + opt.devices() - 1) / opt.devices());
        ImageData data = su.data().withBatchSize(perDevice);
        // a step of the run is one averaged step of all devices: the schedule counts those
        int steps = Math.max(1, (data.batchesPerEpoch() + opt.devices() - 1) / opt.devices());
        ComputationGraph net = Networks.forTraining(su.arch(), su.spec(), cfg, steps);
        int valImages = su.src().validation() == null ? 0 : su.src().validation().size();
        Provenance prov = Provenance.of(req.data(), su.src().valSplit(), su.aug().toSpec(), req.cache(),
                req.strict(), su.src().train().size(), valImages, cfg, null);
        BundleMetadata meta = BundleMetadata.of(su.arch().name(), su.src().classes(), su.pre(), prov);
        ParallelWrapper pw = new ParallelWrapper.Builder<>(net).workers(opt.devices())
                .averagingFrequency(opt.averagingFrequency()).prefetchBuffer(2 * opt.devices())
                .trainingMode(ParallelWrapper.TrainingMode.AVERAGING).averageUpdaters(true)
                .reportScoreAfterAveraging(true).build();
        try (OutputLock lock = OutputLock.acquire(cfg.output(), "cnn train")) {
            EpochLoop.Result r = EpochLoop.run(cfg, net, meta, su.src().train().size(), new EpochLoop.Epochs() {
                @Override
                public double fit(int epoch) {
                    pw.fit(data.train(epoch));
                    return net.score();
                }

                @Override
                public EpochLoop.Validation validate() {
                    Metrics m = Trainer.evaluate(net, data.validation(), su.src().classes());
                    return m == null ? null : new EpochLoop.Validation(m.loss(), m.top1(), m.top5());
                }
            }, onEpoch);
            return new Outcome(r.status(), r.history(), r.bundle(), cfg.output(), r.historyCsv(),
                    su.src().train().size(), valImages, opt.devices());
        } finally {
            pw.shutdown();
        }
    }
}
