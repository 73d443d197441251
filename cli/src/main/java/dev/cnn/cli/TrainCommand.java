package dev.cnn.cli;

import dev.cnn.core.LrFinder;

import dev.cnn.core.EpochStats;
import dev.cnn.core.LrSchedule;
import dev.cnn.core.OutputLock;
import dev.cnn.core.TrainConfig;
import dev.cnn.core.TrainJob;
import dev.cnn.core.Trainer;
import dev.cnn.data.Preprocess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code cnn train}: train a zoo architecture on an image folder (default: the built-in shapes). */
@Command(name = "train", description = "Train a classifier from scratch on a folder of images.",
        footer = {"", "Examples:", "  cnn train                                  # simplecnn on builtin:shapes",
                "  cnn train --data photos/ --model resnet18 --image-size 96 --epochs 20 --augment flip,crop:0.8",
                "  cnn train --resume model.zip.checkpoints/last.zip"})
final class TrainCommand extends BaseCommand {
    @picocli.CommandLine.Mixin
    RunOptions run;
    @picocli.CommandLine.Mixin
    FormatOptions formatOptions;
    @Option(names = "--data", defaultValue = "builtin:shapes",
            description = "Image folder (<class>/ or train|val|test/<class>/), CSV manifest, or builtin:shapes "
                    + "(default: ${DEFAULT-VALUE}).")
    String data;
    @Option(names = "--model", defaultValue = "simplecnn", description = "Zoo architecture (default: ${DEFAULT-VALUE}).")
    String model;
    @Option(converter = Ranges.ImageSize.class, names = "--image-size", description = "Input height and width, 8 to 4096 (default: 32 for builtin data, else 64).")
    Integer imageSize;
    @Option(converter = Ranges.Channels.class, names = "--channels", defaultValue = "3", description = "1 (gray) or 3 (RGB) (default: ${DEFAULT-VALUE}).")
    int channels;
    @Option(names = "--resize", defaultValue = "stretch", description = "stretch, center_crop or pad (default: ${DEFAULT-VALUE}).")
    Preprocess.ResizePolicy resize;
    @Option(names = "--normalize", defaultValue = "unit", description = "unit, imagenet or dataset (default: ${DEFAULT-VALUE}).")
    String normalize;
    @Option(converter = Ranges.Positive.class, names = "--epochs", defaultValue = "10", description = "Default: ${DEFAULT-VALUE}.")
    int epochs;
    @Option(converter = Ranges.Positive.class, names = "--batch-size", defaultValue = "64", description = "Default: "
            + "${DEFAULT-VALUE}, smaller on small data (at least 8 steps an epoch, batches of at least 8).")
    int batchSize;
    @Option(names = "--lr", defaultValue = "0.003", converter = Ranges.LearningRate.class,
            description = "Peak learning rate, or auto: the lr range test's suggestion (default: ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = "--lr-find", description = "Run the learning-rate range test (fastai's lr_find) on this setup: "
            + "loss curve <output>.lr-find.png and a suggested --lr; trains nothing.")
    boolean lrFind;
    @Option(names = {"-o", "--output"}, defaultValue = "model.zip", description = "Model file (default: ${DEFAULT-VALUE}).")
    Path output;
    @Option(names = "--resume", paramLabel = "CHECKPOINT", description = "Continue from a checkpoint (last.zip), "
            + "writing the run's own output unless --output is given; --epochs, --early-stopping and --workers may "
            + "change, other settings are the run's.")
    Path resume;

    @Option(names = "--spark", paramLabel = "MASTER", description = "Train on Apache Spark: local[N], "
            + "spark://HOST:PORT, yarn, k8s://... (DL4J's parameter averaging; --batch-size is the global batch, "
            + "shared by the workers). Executors read the images: give paths they all see, or a CSV manifest URI.")
    String spark;
    @Option(converter = Ranges.Positive.class, names = "--devices", defaultValue = "1", description = "Train on N "
            + "devices of this machine with DL4J's ParallelWrapper: N GPUs with a CUDA build (-Pcuda), N worker "
            + "threads on a CPU; --batch-size is the global batch (default: ${DEFAULT-VALUE}).")
    int devices;
    @Option(converter = Ranges.Positive.class, names = "--averaging-frequency", defaultValue = "5",
            description = "With --spark or --devices: minibatches each worker fits between parameter averages "
                    + "(default: ${DEFAULT-VALUE}).")
    int averagingFrequency;

    /** Options that may be given with --resume (the rest are the run's own settings, recorded in the checkpoint). */
    private static final java.util.Set<String> RESUMABLE = java.util.Set.of("--resume", "--epochs", "--early-stopping",
            "--output", "--workers", "--format", "--no-report", "--report", "--verbose", "--help", "--spark",
            "--devices", "--averaging-frequency");

    /** --resume with the options the user gave explicitly; any other explicit option is a usage error. */
    private TrainJob.Resume resumeRequest() {
        refuseOnResume(RESUMABLE, "--epochs, --early-stopping, --output and --workers");
        java.util.Set<String> given = givenOptions();
        return new TrainJob.Resume(resume, given.contains("--epochs") ? epochs : null,
                given.contains("--early-stopping") ? run.patience : null, given.contains("--output") ? output : null,
                run.workers);
    }

    @Override
    public Integer call() {
        Format format = formatOptions.require(Format.table, Format.json);
        if (resume == null && (lrFind || Double.isNaN(lr)) && spark != null
                && dev.cnn.spark.SparkData.isManifestUri(data)) {
            throw dev.cnn.core.CnnException.usage("--lr auto and --lr-find run on this machine, which reads no " + data
                    + "; give --lr");
        }
        if (resume == null && (lrFind || Double.isNaN(lr))) {
            TrainJob.Request probe = new TrainJob.Request(data, model, imageSize, channels, resize, normalize,
                    run.augment, run.valSplit, run.strict, run.cache, run.workers,
                    run.config(epochs, batchSize, 1e-3, output), null, autoBatch());
            LrFinder.Result r = LrFindRun.sweep(err(), step -> TrainJob.lrFind(probe, step));
            if (lrFind) {
                return LrFindRun.report(r, output, format, out(), "cnn train");
            }
            lr = r.suggestion();
            err().printf(java.util.Locale.ROOT, "cnn train: --lr auto: %.2g (lr range test, %d steps)%n", lr,
                    r.lrs().size());
        }
        TrainConfig cfg = run.config(epochs, batchSize, lr, output);
        TrainJob.Request req = new TrainJob.Request(data, model, imageSize, channels, resize, normalize,
                run.augment, run.valSplit, run.strict, run.cache, run.workers, cfg, resume, autoBatch());
        TrainingRun tr = new TrainingRun(out(), err(), "cnn train");
        if (spark != null && devices > 1) {
            throw dev.cnn.core.CnnException.usage("--spark and --devices do not go together: Spark's workers are "
                    + "its executors");
        }
        if (spark != null) {
            return onSpark(format, tr, req);
        }
        if (devices > 1) {
            return onDevices(format, tr, req);
        }
        err().printf("cnn train: %s on %s%s%n", resume != null ? "resuming " + resume : model, resume != null
                ? "its data" : data, resume != null ? "" : String.format(" (%d epochs, batch %d, %s lr %g)",
                epochs, batchSize, run.optimizer.name().toLowerCase(), lr));
        err().flush();
        TrainJob.Resume again = resume == null ? null : resumeRequest();
        // the model, its checkpoints, epoch log and report come from one run
        try (OutputLock lock = OutputLock.acquire(again == null ? output : TrainJob.resumeOutput(again), "cnn train")) {
            return report(format, tr, again == null ? tr.execute(onTrainer -> TrainJob.run(req, tr, onTrainer))
                    : tr.execute(onTrainer -> TrainJob.resume(again, tr, onTrainer)));
        }
    }

    /** A run of {@code --spark} or {@code --devices}, as {@link #epochwise} reports it. */
    private record Epochwise(Trainer.Status status, java.util.List<EpochStats> history, dev.cnn.core.ModelBundle bundle,
                             Path output, Path historyCsv, Path checkpoints, int workers, long skipped) {
    }

    /** {@code --spark} / {@code --devices}: the same request trained a whole epoch at a time, one line per epoch. */
    private Integer epochwise(Format format, TrainingRun tr, TrainJob.Request req, String how,
                              java.util.function.Function<java.util.function.Consumer<EpochStats>, Epochwise> train) {
        int total = epochs;
        if (resume != null) {
            var state = dev.cnn.core.ModelBundle.readMetadata(resume).training();
            if (!givenOptions().contains("--epochs") && state != null && state.config() != null) {
                total = state.config().epochs();
            }
            err().printf("cnn train: resuming %s %s (averaging every %d)%n", resume, how, averagingFrequency);
        } else {
            err().printf("cnn train: %s on %s %s (%d epochs, global batch %d, averaging every %d)%n", model, data,
                    how, epochs, batchSize, averagingFrequency);
        }
        err().flush();
        int last = total;
        Epochwise o = train.apply(s -> {
            err().printf(java.util.Locale.ROOT, "epoch %d/%d  loss %.4f  val top-1 %s  %.1f s  %.0f img/s%s%n",
                    s.epoch(), last, s.trainLoss(), Double.isFinite(s.top1())
                            ? String.format(java.util.Locale.ROOT, "%.4f", s.top1()) : "-", s.seconds(),
                    s.imagesPerSecond(), s.best() ? "  *" : "");
            err().flush();
        });
        if (o.skipped() > 0) {
            err().printf("cnn: skipped %d unreadable images (--strict fails on the first)%n", o.skipped());
        }
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("status", o.status().name().toLowerCase());
            doc.put("output", o.output().toString());
            doc.put("checkpoint", o.checkpoints().resolve(Trainer.LAST).toString());
            doc.put("workers", o.workers());
            doc.put("history", o.history().stream().map(EpochStats::toMap).toList());
            doc.put("skipped", Map.of("skipped", o.skipped())); // the executors count; the files stay in their logs
            tr.json(doc);
        }
        Integer exit = tr.ended(o.status(), o.status() == Trainer.Status.DIVERGED ? "training diverged (loss is "
                + "not finite); try a lower --lr" : "early stopping: no validation improvement", "");
        if (exit != null) {
            return exit;
        }
        if (format == Format.table) {
            EpochStats best = o.history().stream().filter(EpochStats::best).reduce((a, b) -> b).orElse(null);
            out().printf("saved %s (%s, %d classes, %d workers%s)%n", o.output(), o.bundle().metadata().architecture(),
                    o.bundle().metadata().numClasses(), o.workers(), best == null ? ""
                            : String.format(java.util.Locale.ROOT, ", best val top-1 %.4f at epoch %d", best.top1(),
                            best.epoch()));
            out().printf("epoch log: %s; checkpoints: %s%n", o.historyCsv(), o.checkpoints());
            out().printf("try: ./cnn classify --model %s IMAGE_OR_FOLDER%n", o.output());
        }
        return ExitCodes.OK;
    }

    private Integer onSpark(Format format, TrainingRun tr, TrainJob.Request req) {
        TrainJob.Resume again = resume == null ? null : resumeRequest();
        return epochwise(format, tr, req, "with Spark (" + spark + ")", onEpoch -> {
            var opt = new dev.cnn.spark.SparkTrainer.Options(spark, averagingFrequency);
            dev.cnn.spark.SparkTrainer.Outcome o = again == null ? dev.cnn.spark.SparkTrainer.run(req, opt, onEpoch)
                    : dev.cnn.spark.SparkTrainer.resume(again, opt, onEpoch);
            return new Epochwise(o.status(), o.history(), o.bundle(), o.output(), o.historyCsv(), o.checkpoints(),
                    o.workers(), o.skipped());
        });
    }

    private Integer onDevices(Format format, TrainingRun tr, TrainJob.Request req) {
        TrainJob.Resume again = resume == null ? null : resumeRequest();
        return epochwise(format, tr, req, "on " + devices + " devices (ParallelWrapper)", onEpoch -> {
            var opt = new dev.cnn.parallel.ParallelTrainer.Options(devices, averagingFrequency);
            dev.cnn.parallel.ParallelTrainer.Outcome o = again == null
                    ? dev.cnn.parallel.ParallelTrainer.run(req, opt, onEpoch)
                    : dev.cnn.parallel.ParallelTrainer.resume(again, opt, onEpoch);
            return new Epochwise(o.status(), o.history(), o.bundle(), o.output(), o.historyCsv(), o.checkpoints(),
                    o.devices(), 0);
        });
    }

    private Integer report(Format format, TrainingRun tr, TrainJob.Outcome o) {
        Path output = o.output();
        Trainer.Result r = o.result();
        tr.skipped(o.source().skipped());
        if (format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("status", r.status().name().toLowerCase());
            doc.put("output", output.toString());
            doc.put("checkpoint", r.lastCheckpoint().toString());
            doc.put("history", r.history().stream().map(EpochStats::toMap).toList());
            doc.put("skipped", o.source().skipped().toMap());
            if (r.message() != null) {
                doc.put("message", r.message());
            }
            tr.json(doc);
        }
        Integer exit = tr.ended(r.status(), r.message(), "");
        if (exit != null) {
            return exit;
        }
        Path reportFile = run.report ? tr.report(r.bundle(), o.source().validation(), r.history(), output) : null;
        EpochStats best = r.history().stream().filter(EpochStats::best).reduce((a, b) -> b)
                .orElse(r.history().isEmpty() ? null : r.history().get(r.history().size() - 1));
        if (format == Format.table) {
            out().printf("saved %s (%s, %d classes, %dx%d, epoch %d%s)%n", output, r.bundle().metadata().architecture(),
                    r.bundle().metadata().numClasses(), o.preprocess().height(), o.preprocess().width(),
                    best == null ? 0 : best.epoch(), best == null || !Double.isFinite(best.top1()) ? ""
                            : String.format(": val top-1 %.4f", best.top1()));
            out().printf("epoch log: %s; checkpoints: %s%n", o.historyCsv(), r.lastCheckpoint().getParent());
            if (reportFile != null) {
                out().printf("report: %s%n", reportFile);
            }
            out().printf("try: ./cnn classify --model %s IMAGE_OR_FOLDER%n", output);
        }
        return ExitCodes.OK;
    }
}
