package dev.cnn.core;

import dev.cnn.data.Augmentation;
import dev.cnn.data.DataException;
import dev.cnn.data.DataSource;
import dev.cnn.data.ImageBatchIterator;
import dev.cnn.data.ImageDataset;
import dev.cnn.data.Normalization;
import dev.cnn.data.Preprocess;
import dev.cnn.zoo.Architecture;
import dev.cnn.zoo.ModelRegistry;
import dev.cnn.zoo.ModelSpec;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code cnn train} as a library call: opens the data, builds the zoo network, trains, writes the bundle and an
 * epoch log ({@code <output>.history.csv} and {@code .json}) next to it. Resuming takes data, model, preprocessing and
 * settings from the checkpoint.
 */
public final class TrainJob {
    static {
        dev.cnn.accel.Engine.init(); // DL4J's helpers on and the native build chosen, before ND4J loads
    }

    public static final String VERSION = "0.1.0";

    /** Everything {@code cnn train} takes. */
    public record Request(String data, String model, Integer imageSize, int channels, Preprocess.ResizePolicy resize,
                          String normalize, String augment, double valSplit, boolean strict, boolean cache,
                          int workers, TrainConfig config, Path resume, boolean smallDataBatch) {
        /**
         * {@code cnn train}'s defaults for everything but the data, the architecture and {@code config}: the
         * architecture's input size, RGB, stretched, scaled to [0, 1], no augmentation, the automatic validation split,
         * bad images skipped, one decoding thread, a smaller batch on small data.
         */
        public static Request of(String data, String model, TrainConfig config) {
            return new Request(data, model, null, 3, Preprocess.ResizePolicy.STRETCH, "unit", "none",
                    dev.cnn.data.DataSource.AUTO_VAL_SPLIT, false, false, 1, config, null, true);
        }

        /** The same request at {@code size} x {@code size} pixels with {@code channels} channels (1 or 3). */
        public Request withInput(int size, int channels) {
            return new Request(data, model, size, channels, resize, normalize, augment, valSplit, strict, cache,
                    workers, config, resume, smallDataBatch);
        }

        /** With the batch size as given ({@code smallDataBatch} off). */
        public Request(String data, String model, Integer imageSize, int channels, Preprocess.ResizePolicy resize,
                       String normalize, String augment, double valSplit, boolean strict, boolean cache, int workers,
                       TrainConfig config, Path resume) {
            this(data, model, imageSize, channels, resize, normalize, augment, valSplit, strict, cache, workers,
                    config, resume, false);
        }
    }

    /** Fewest optimizer steps per epoch that {@link #smallDataBatch} keeps (when batches of 8 allow it). */
    public static final int MIN_STEPS_PER_EPOCH = 8;

    /**
     * The batch size for {@code trainImages} when the user gave none: {@code batch}, or smaller when that would
     * leave fewer than {@value #MIN_STEPS_PER_EPOCH} steps per epoch, but not below 8. Fifty images in batches of 32
     * are two steps an epoch, too few for 15 epochs to train a head; in batches of 8 they are seven.
     */
    public static int smallDataBatch(int batch, int trainImages) {
        int wanted = (trainImages + MIN_STEPS_PER_EPOCH - 1) / MIN_STEPS_PER_EPOCH;
        return Math.min(batch, Math.max(8, wanted));
    }

    /**
     * {@code cnn train --resume}: a checkpoint and the settings that may change when a run continues; null keeps the
     * run's own (its output file included, so a resumed run never writes somewhere else by default).
     */
    public record Resume(Path checkpoint, Integer epochs, Integer earlyStoppingPatience, Path output, int workers) {
    }

    /** What happened, for the CLI to report; {@code output} is the model file written. */
    public record Outcome(Trainer.Result result, DataSource source, Preprocess preprocess, Path historyCsv,
                          int trainImages, int valImages, Path output) {
    }

    private TrainJob() {
    }

    /**
     * Trains (or resumes) as {@code req} says.
     *
     * @param callback  progress display or any other {@link Trainer.Callback}, or null
     * @param onTrainer sees the {@link Trainer} before it starts (to stop it from a signal handler), or null
     */
    public static Outcome run(Request req, Trainer.Callback callback, Consumer<Trainer> onTrainer) {
        if (req.resume() != null) {
            return resume(new Resume(req.resume(), null, null, req.config().output(), req.workers()), callback,
                    onTrainer);
        }
        Setup su = setup(req);
        TrainConfig cfg = su.cfg();
        ComputationGraph net = Networks.forTraining(su.arch(), su.spec(), cfg, su.data().batchesPerEpoch());
        Provenance prov = Provenance.of(req.data(), su.src().valSplit(), su.aug().toSpec(), req.cache(), req.strict(),
                su.src().train().size(), su.src().validation() == null ? 0 : su.src().validation().size(), cfg, null);
        BundleMetadata meta = BundleMetadata.of(su.arch().name(), su.src().classes(), su.pre(), prov);
        return fit(cfg, net, meta, su.data(), su.src(), su.pre(), callback, onTrainer);
    }

    /**
     * What a request trains on: architecture, data, preprocessing, batches; public for trainers that run the same
     * request elsewhere ({@code cnn train --spark}).
     */
    public record Setup(Architecture arch, DataSource src, Preprocess pre, Augmentation aug, ModelSpec spec,
                         ImageData data, TrainConfig cfg) {
    }

    public static Setup setup(Request req) {
        Architecture arch = ModelRegistry.get(req.model());
        TrainConfig cfg = req.config();
        DataSource src = open(req.data(), req.valSplit(), cfg.seed(), req.strict());
        if (req.smallDataBatch()) {
            cfg = cfg.toBuilder().batchSize(smallDataBatch(cfg.batchSize(), src.train().size())).build();
        }
        Augmentation aug = parseAug(req.augment());
        Preprocess pre = preprocess(req, arch, src.train());
        ModelSpec spec = ModelSpec.builder().numClasses(src.classes().size())
                .input(req.channels(), pre.height(), pre.width()).seed(cfg.seed()).build();
        ImageData data = new ImageData(src.train(), src.validation(), pre, aug, cfg.batchSize(), cfg.seed(),
                src.skipped(), req.cache() || req.data().startsWith("builtin:"), req.workers());
        return new Setup(arch, src, pre, aug, spec, data, cfg);
    }

    /**
     * {@code cnn lr-find} / {@code --lr auto}: the learning-rate range test ({@link LrFinder}) on the network and
     * batches {@code req} would train (its optimizer, batch size, augmentation); nothing is written.
     */
    public static LrFinder.Result lrFind(Request req, java.util.function.IntConsumer onStep) {
        Setup su = setup(req);
        ComputationGraph net = Networks.forTraining(su.arch(), su.spec(), su.cfg(), su.data().batchesPerEpoch());
        return LrFinder.run(net, su.data(), 1e-7, 10, 100, onStep);
    }

    /** Continues an interrupted (or finished) run from its checkpoint, writing to its own output by default. */
    public static Outcome resume(Resume r, Trainer.Callback callback, Consumer<Trainer> onTrainer) {
        Continuation c = continuation(r);
        DataSource src = c.open();
        return fit(c.cfg(), c.network(), c.metadata(), c.data(src, r.workers()), src, c.preprocess(), callback,
                onTrainer);
    }

    /**
     * A checkpoint to continue from, as every trainer reads it: the network (with its updater state), the metadata
     * (with the training state), the run's settings as {@code --resume} may change them, and where its data came
     * from.
     */
    public record Continuation(ComputationGraph network, BundleMetadata metadata, TrainingState state, TrainConfig cfg,
                               Provenance provenance, Preprocess preprocess, Augmentation augmentation) {
        /** The run's data as {@code cnn train} opens it, checked to have the checkpoint's classes. */
        public DataSource open() {
            DataSource src = TrainJob.open(provenance.data(), provenance.valSplit(), cfg.seed(),
                    Boolean.TRUE.equals(provenance.strict()));
            checkClasses(src.classes());
            return src;
        }

        /** Data of the run found with {@code classes}: a data error unless they are the checkpoint's. */
        public void checkClasses(List<String> classes) {
            if (!classes.equals(metadata.labels())) {
                throw CnnException.data(provenance.data() + ": classes " + classes + " differ from the checkpoint's "
                        + metadata.labels() + "; resume needs the same data");
            }
        }

        /** The batches of {@code src} ({@link #open}) as the run made them, decoded by {@code workers} threads. */
        public ImageData data(DataSource src, int workers) {
            return new ImageData(src.train(), src.validation(), preprocess, augmentation, cfg.batchSize(),
                    cfg.seed(), src.skipped(), Boolean.TRUE.equals(provenance.cache())
                    || provenance.data().startsWith("builtin:"), workers);
        }
    }

    /** Reads {@code r}'s checkpoint; not one with a training state is exit 4. */
    public static Continuation continuation(Resume r) {
        ModelBundle ckpt = ModelBundle.load(r.checkpoint(), true);
        BundleMetadata meta = ckpt.metadata();
        TrainingState state = meta.training();
        if (state == null || state.config() == null || meta.provenance() == null) {
            throw CnnException.model(r.checkpoint() + ": not a training checkpoint (no training state); resume from "
                    + "<output>.checkpoints/last.zip");
        }
        Path output = resumeOutput(r, state);
        TrainConfig.Builder b = state.config().toBuilder().output(output)
                .checkpointDir(r.checkpoint().toAbsolutePath().getParent());
        if (r.epochs() != null) {
            b.epochs(r.epochs());
        }
        if (r.earlyStoppingPatience() != null) {
            b.earlyStoppingPatience(r.earlyStoppingPatience());
        }
        Provenance prov = meta.provenance();
        return new Continuation(ckpt.network(), meta, state, b.build(), prov, meta.preprocess(),
                parseAug(prov.augment()));
    }

    /** The model file a resumed run writes: {@code --output} if given, else the run's own. */
    public static Path resumeOutput(Resume r) {
        return resumeOutput(r, ModelBundle.readMetadata(r.checkpoint()).training());
    }

    private static Path resumeOutput(Resume r, TrainingState state) {
        return r.output() != null ? r.output() : state != null && state.output() != null ? Path.of(state.output())
                : outputOf(r.checkpoint());
    }

    /** {@code DIR/m.zip} for a checkpoint in {@code DIR/m.zip.checkpoints/} (checkpoints of older versions). */
    private static Path outputOf(Path checkpoint) {
        Path dir = checkpoint.toAbsolutePath().getParent();
        String name = dir == null ? "" : dir.getFileName().toString();
        if (!name.endsWith(".checkpoints") || name.length() == ".checkpoints".length()) {
            throw CnnException.usage("--resume " + checkpoint + ": cannot tell which model file the run wrote; give "
                    + "--output");
        }
        return dir.resolveSibling(name.substring(0, name.length() - ".checkpoints".length()));
    }

    private static Outcome fit(TrainConfig cfg, ComputationGraph net, BundleMetadata meta, ImageData data,
                               DataSource src, Preprocess pre, Trainer.Callback callback, Consumer<Trainer> onTrainer) {
        Trainer trainer = new Trainer(cfg, callback);
        if (onTrainer != null) {
            onTrainer.accept(trainer);
        }
        Trainer.Result r;
        Path csv;
        try (OutputLock lock = OutputLock.acquire(cfg.output(), "cnn train")) {
            r = trainer.fit(net, meta, data);
            csv = writeHistory(cfg.output(), r.history());
        }
        return new Outcome(r, src, pre, csv, src.train().size(),
                src.validation() == null ? 0 : src.validation().size(), cfg.output());
    }

    public static DataSource open(String spec, double valSplit, long seed, boolean strict) {
        try {
            DataSource src = DataSource.open(spec, DataSource.Options.defaults().withValSplit(valSplit)
                    .withSeed(seed).withStrict(strict));
            if (src.classes().size() < 2) {
                throw CnnException.data(spec + ": found " + src.classes().size()
                        + " class; training a classifier needs at least two class folders");
            }
            return src;
        } catch (DataException e) {
            throw CnnException.data(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage(e.getMessage());
        }
    }

    public static Augmentation parseAug(String spec) {
        try {
            return Augmentation.parse(spec);
        } catch (IllegalArgumentException e) {
            throw CnnException.usage("--augment: " + e.getMessage());
        }
    }

    /**
     * The preprocessing {@code req} trains with: its size (else the architecture's minimum, and at least 32 px on
     * built-in data, 64 on images), channels, resize and normalisation; {@code train} is measured for
     * {@code --normalize dataset} (null where the images are not on this machine: then that is a usage error).
     */
    public static Preprocess preprocess(Request req, Architecture arch, ImageDataset train) {
        int size = req.imageSize() != null ? req.imageSize()
                : Math.max(arch.minInputSize(), req.data().startsWith("builtin:") ? 32 : 64);
        return Preprocess.builder().size(req.channels(), size, size).resize(req.resize())
                .normalization(normalization(req.normalize(), train, req.channels(), size)).build();
    }

    /** unit | imagenet | vgg | dataset (per-channel mean/std of up to 1,000 training images). */
    static Normalization normalization(String kind, ImageDataset train, int channels, int size) {
        if (!"dataset".equalsIgnoreCase(kind)) {
            try {
                return Normalization.parse(kind);
            } catch (IllegalArgumentException e) {
                throw CnnException.usage("--normalize: " + e.getMessage());
            }
        }
        if (train == null) {
            throw CnnException.usage("--normalize dataset measures the training images on this machine, which has "
                    + "none here; give unit, imagenet or vgg");
        }
        List<dev.cnn.data.Sample> some = train.samples().subList(0, Math.min(1000, train.size()));
        Preprocess unit = Preprocess.builder().size(channels, size, size).normalization(Normalization.unit()).build();
        ImageBatchIterator it = ImageBatchIterator.builder(new ImageDataset(train.classes(), some), unit)
                .batchSize(100).build();
        double[] sum = new double[channels];
        double[] sq = new double[channels];
        long n = 0;
        while (it.hasNext()) {
            DataSet ds = it.next();
            for (int c = 0; c < channels; c++) {
                var plane = ds.getFeatures().get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                        org.nd4j.linalg.indexing.NDArrayIndex.point(c));
                sum[c] += plane.sumNumber().doubleValue();
                sq[c] += plane.mul(plane).sumNumber().doubleValue();
            }
            n += ds.numExamples() * (long) size * size;
        }
        float[] mean = new float[channels];
        float[] std = new float[channels];
        for (int c = 0; c < channels; c++) {
            mean[c] = (float) (sum[c] / n);
            std[c] = (float) Math.max(1e-3, Math.sqrt(sq[c] / n - mean[c] * (double) mean[c]));
        }
        return Normalization.meanStd(mean, std);
    }

    /** Writes {@code <stem>.history.csv} and {@code .json} next to the model, atomically. */
    public static Path writeHistory(Path output, List<EpochStats> history) {
        String name = output.getFileName().toString();
        String stem = name.endsWith(".zip") ? name.substring(0, name.length() - 4) : name;
        Path csv = output.toAbsolutePath().resolveSibling(stem + ".history.csv");
        Path json = output.toAbsolutePath().resolveSibling(stem + ".history.json");
        StringBuilder b = new StringBuilder("epoch,train_loss,val_loss,top1,top5,lr,seconds,images_per_second,best\n");
        for (EpochStats s : history) {
            b.append(String.format(java.util.Locale.ROOT, "%d,%.6f,%s,%s,%s,%.6g,%.2f,%.1f,%s%n", s.epoch(),
                    s.trainLoss(), fmt(s.valLoss()), fmt(s.top1()), fmt(s.top5()), s.lr(), s.seconds(),
                    s.imagesPerSecond(), s.best()));
        }
        try {
            atomicWrite(csv, b.toString());
            atomicWrite(json, Json.pretty(history.stream().map(EpochStats::toMap).toList()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return csv;
    }

    private static String fmt(double v) {
        return Double.isFinite(v) ? String.format(java.util.Locale.ROOT, "%.6f", v) : "";
    }

    static void atomicWrite(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
