package dev.cnn.spark;

import dev.cnn.core.BundleMetadata;
import dev.cnn.core.CnnException;
import dev.cnn.core.EpochLoop;
import dev.cnn.core.EpochStats;
import dev.cnn.core.ModelBundle;
import dev.cnn.core.Networks;
import dev.cnn.core.OutputLock;
import dev.cnn.core.Provenance;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.data.Augmentation;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code cnn train --spark MASTER}: trains a zoo architecture with DL4J's Spark training
 * ({@link ParameterAveragingTrainingMaster}) and writes the same bundle, checkpoints and history as {@code cnn train}.
 *
 * <p>The run's batch size is the global batch: each of the N workers fits minibatches of a 1/N share, and the workers'
 * parameters and updater states are averaged every {@link Options#averagingFrequency} minibatches; an epoch is one
 * pass over the training set by all workers together, shuffled across partitions. Parameter averaging rather than
 * {@code SharedTrainingMaster}'s gradient sharing: it needs nothing but Spark (gradient sharing needs UDP between
 * every executor and the driver, and the parameter-server module), and on the few workers a CPU cluster has it
 * converges as well.
 *
 * <p>Executors read the images themselves: local paths (which each executor must see, as on a shared file system),
 * URIs of Hadoop's file systems from a manifest, or the built-in images, which travel encoded.
 */
public final class SparkTrainer {
    static {
        dev.cnn.accel.Engine.init();
    }

    /**
     * @param master             Spark master ({@code local[2]}, {@code spark://...}, {@code yarn})
     * @param averagingFrequency minibatches per worker between parameter averages
     */
    public record Options(String master, int averagingFrequency) {
        public Options {
            if (averagingFrequency < 1) {
                throw CnnException.usage("--averaging-frequency must be >= 1, got " + averagingFrequency);
            }
        }

        public static Options of(String master) {
            return new Options(master, 5);
        }
    }

    /** What happened: the run's status, its epochs, the bundle written, what the executors skipped. */
    public record Outcome(Trainer.Status status, List<EpochStats> history, ModelBundle bundle, Path output,
                          Path historyCsv, Path checkpoints, int trainImages, int valImages, long skipped,
                          int workers) {
    }

    private record Plan(Architecture arch, List<String> classes, List<SparkSample> train, List<SparkSample> val,
                        double valSplit, Preprocess pre, Augmentation aug, ModelSpec spec, TrainConfig cfg) {
    }

    private SparkTrainer() {
    }

    /**
     * Trains as {@code req} says ({@code cnn train}'s request: the same data specs, defaults and validation), on
     * Spark; {@code onEpoch} sees each epoch's numbers (null: nothing). Starts the Spark context (or joins the
     * running one) and stops it at the end: with a context of your own, call {@link #train} instead.
     */
    public static Outcome run(TrainJob.Request req, Options opt, Consumer<EpochStats> onEpoch) {
        try (JavaSparkContext sc = Spark.context(opt.master(), "cnn train " + req.model())) {
            return train(sc, req, opt, onEpoch);
        }
    }

    /** As {@link #run}, on a context the caller owns (left running). */
    public static Outcome train(JavaSparkContext sc, TrainJob.Request req, Options opt, Consumer<EpochStats> onEpoch) {
        if (req.resume() != null) {
            return resume(sc, new TrainJob.Resume(req.resume(), null, null, null, req.workers()), opt, onEpoch);
        }
        Plan plan = plan(req);
        try (OutputLock lock = OutputLock.acquire(plan.cfg().output(), "cnn train")) {
            return train(sc, plan, null, req.strict(), opt, onEpoch, steps -> {
                ComputationGraph net = Networks.forTraining(plan.arch(), plan.spec(), plan.cfg(), steps);
                Provenance prov = Provenance.of(req.data(), plan.valSplit(), plan.aug().toSpec(), false,
                        req.strict(), plan.train().size(), plan.val().size(), plan.cfg(), null);
                return new ModelBundle(net, BundleMetadata.of(plan.arch().name(), plan.classes(), plan.pre(), prov));
            });
        }
    }

    /**
     * {@code cnn train --spark MASTER --resume CHECKPOINT}: continues a run from its {@code last.zip} (a Spark run's
     * or one machine's) with its own data, settings and output, on Spark.
     */
    public static Outcome resume(TrainJob.Resume r, Options opt, Consumer<EpochStats> onEpoch) {
        try (JavaSparkContext sc = Spark.context(opt.master(), "cnn train --resume " + r.checkpoint())) {
            return resume(sc, r, opt, onEpoch);
        }
    }

    private static Outcome resume(JavaSparkContext sc, TrainJob.Resume r, Options opt, Consumer<EpochStats> onEpoch) {
        TrainJob.Continuation c = TrainJob.continuation(r);
        Provenance prov = c.provenance();
        TrainConfig cfg = c.cfg();
        List<SparkSample> train;
        List<SparkSample> val;
        if (SparkData.isManifestUri(prov.data())) {
            SparkData d = SparkData.manifest(prov.data(), prov.valSplit(), cfg.seed());
            c.checkClasses(d.classes());
            train = d.train();
            val = d.validation();
        } else {
            dev.cnn.data.DataSource src = c.open();
            train = SparkData.of(src.train());
            val = SparkData.of(src.validation());
        }
        Plan plan = new Plan(ModelRegistry.get(c.metadata().architecture()), c.metadata().labels(), train, val,
                prov.valSplit(), c.preprocess(), c.augmentation(), null, cfg);
        try (OutputLock lock = OutputLock.acquire(cfg.output(), "cnn train")) {
            return train(sc, plan, c.state(), Boolean.TRUE.equals(prov.strict()), opt, onEpoch, steps -> {
                dev.cnn.core.Optimizers.restoreSchedule(c.network(), cfg, steps); // a checkpoint stores a fixed rate
                return new ModelBundle(c.network(), c.metadata());
            });
        }
    }

    private static Plan plan(TrainJob.Request req) {
        if (SparkData.isManifestUri(req.data())) {
            Architecture arch = ModelRegistry.get(req.model());
            SparkData d = SparkData.manifest(req.data(), req.valSplit(), req.config().seed());
            Preprocess pre = TrainJob.preprocess(req, arch, null); // no local images to measure
            ModelSpec spec = ModelSpec.builder().numClasses(d.classes().size())
                    .input(req.channels(), pre.height(), pre.width()).seed(req.config().seed()).build();
            return new Plan(arch, d.classes(), d.train(), d.validation(), d.valSplit(), pre,
                    TrainJob.parseAug(req.augment()),
                    spec, req.config());
        }
        TrainJob.Setup su = TrainJob.setup(req);
        return new Plan(su.arch(), su.src().classes(), SparkData.of(su.src().train()),
                SparkData.of(su.src().validation()), su.src().valSplit(), su.pre(), su.aug(), su.spec(), su.cfg());
    }

    /**
     * Trains {@code plan} on {@code sc}, continuing from {@code from} (null: from the start) with the network and
     * metadata {@code start} gives for the steps per epoch.
     */
    private static Outcome train(JavaSparkContext sc, Plan plan, dev.cnn.core.TrainingState from, boolean strict,
                                 Options opt, Consumer<EpochStats> onEpoch,
                                 java.util.function.IntFunction<ModelBundle> start) {
        TrainConfig cfg = plan.cfg();
        int workers = sc.defaultParallelism();
        // --batch-size is the global batch, as on one machine: each worker fits its share, and with averaging every
        // step the run takes the steps a single machine takes (per-worker batches of the full size halve the steps
        // and lose accuracy for the same epochs)
        int batch = Math.max(1, (cfg.batchSize() + workers - 1) / workers);
        // DL4J counts averagingFrequency iterations per averaging round, however many minibatches its split held:
        // the schedule counts the same way
        int f = opt.averagingFrequency();
        int stepsPerEpoch = (int) Math.max(1, Math.ceil(plan.train().size() / (double) (batch * workers * f))) * f;
        ModelBundle begin = start.apply(stepsPerEpoch);
        ComputationGraph net = begin.network();
        BundleMetadata meta = begin.metadata();
        ParameterAveragingTrainingMaster tm = new ParameterAveragingTrainingMaster.Builder(workers, batch)
                .batchSizePerWorker(batch).averagingFrequency(opt.averagingFrequency()).workerPrefetchNumBatches(2)
                .rddTrainingApproach(RDDTrainingApproach.Direct).collectTrainingStats(false)
                .saveUpdater(true) // averages the updater states too (DL4J's default resets them every round)
                .rngSeed(cfg.seed()).trainingHooks(new EngineHook()).build();
        SparkComputationGraph sparkNet = new SparkComputationGraph(sc, net, tm);
        LongAccumulator skipped = sc.sc().longAccumulator("cnn skipped images");
        // samples with their index, from which each epoch's order comes: a seeded shuffle across partitions, then
        // within each (sources are often sorted by class; one worker seeing two classes, the other two others, and
        // averaging the two, trains badly)
        org.apache.spark.api.java.JavaPairRDD<SparkSample, Long> train = sc.parallelize(plan.train(), workers)
                .zipWithIndex().cache();
        JavaRDD<DataSet> val = plan.val().isEmpty() ? null : sc.parallelize(plan.val(), workers)
                .mapPartitionsWithIndex(new SparkImages.ToBatches(plan.pre(), Augmentation.NONE,
                        plan.classes().size(), batch, cfg.seed(), -1, 0, strict, null), false).cache();
        int k = Math.min(5, plan.classes().size());
        long seed = cfg.seed();
        int firstEpoch = from == null ? 0 : from.epoch();
        EpochLoop.Result r = EpochLoop.run(cfg, net, meta, from, plan.train().size(), new EpochLoop.Epochs() {
            @Override
            public double fit(int epoch) {
                JavaRDD<DataSet> batches = train
                        .mapToPair(t -> new scala.Tuple2<>(SparkImages.mix(seed, epoch, t._2().intValue()), t._1()))
                        .partitionBy(new org.apache.spark.HashPartitioner(workers)).values()
                        .mapPartitionsWithIndex(new SparkImages.ToBatches(plan.pre(), plan.aug(),
                                plan.classes().size(), batch, seed, epoch, cfg.labelSmoothing(), strict,
                                epoch == firstEpoch ? skipped : null), false); // each image counted once
                try {
                    sparkNet.fit(batches);
                } catch (Exception ex) { // SparkException is checked, and Scala throws it undeclared
                    throw failure(ex);
                }
                // the workers' mean score less the weight penalty, as Trainer.dataLoss but approximate: the
                // penalty is taken from the averaged parameters, the scores at each worker's own
                return sparkNet.getScore() - sparkNet.getNetwork().calcRegularizationScore(true);
            }

            @Override
            public EpochLoop.Validation validate() {
                if (val == null) {
                    return null;
                }
                try {
                    Evaluation ev = sparkNet.doEvaluation(val, batch, new Evaluation(plan.classes(), k))[0];
                    return new EpochLoop.Validation(sparkNet.calculateScore(val, true), ev.accuracy(),
                            ev.topNAccuracy());
                } catch (Exception ex) {
                    throw failure(ex);
                }
            }
        }, onEpoch);
        return new Outcome(r.status(), r.history(), r.bundle(), cfg.output(), r.historyCsv(), cfg.checkpointDir(),
                plan.train().size(), plan.val().size(), skipped.value(), workers);
    }

    /** A failed Spark job as the CLI reports it: a strict run's bad image is a data error naming the file. */
    static RuntimeException failure(Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getCause() instanceof dev.cnn.data.BadImageException bad) {
                return CnnException.data(t.getMessage(), bad);
            }
        }
        String m = ModelBundle.oneLine(e);
        java.util.regex.Matcher strict = java.util.regex.Pattern.compile("IllegalStateException: (.*\\(--strict;.*\\))")
                .matcher(String.valueOf(e.getMessage()));
        if (strict.find()) {
            return CnnException.data(strict.group(1), e);
        }
        return e instanceof RuntimeException r ? r : new IllegalStateException(m, e);
    }
}
