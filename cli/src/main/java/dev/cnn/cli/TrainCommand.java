package dev.cnn.cli;

import dev.cnn.core.LrSchedule;
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
    @Option(names = "--data", defaultValue = "builtin:shapes",
            description = "Image folder (<class>/ or train|val|test/<class>/), CSV manifest, or builtin:shapes "
                    + "(default: ${DEFAULT-VALUE}).")
    String data;
    @Option(names = "--model", defaultValue = "simplecnn", description = "Zoo architecture (default: ${DEFAULT-VALUE}).")
    String model;
    @Option(names = "--image-size", description = "Input height and width (default: 32 for builtin data, else 64).")
    Integer imageSize;
    @Option(names = "--channels", defaultValue = "3", description = "1 (gray) or 3 (RGB) (default: ${DEFAULT-VALUE}).")
    int channels;
    @Option(names = "--resize", defaultValue = "stretch", description = "stretch, center_crop or pad (default: ${DEFAULT-VALUE}).")
    Preprocess.ResizePolicy resize;
    @Option(names = "--normalize", defaultValue = "unit", description = "unit, imagenet or dataset (default: ${DEFAULT-VALUE}).")
    String normalize;
    @Option(names = "--epochs", defaultValue = "10", description = "Default: ${DEFAULT-VALUE}.")
    int epochs;
    @Option(names = "--batch-size", defaultValue = "64", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;
    @Option(names = "--lr", defaultValue = "0.003", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;
    @Option(names = {"-o", "--output"}, defaultValue = "model.zip", description = "Model file (default: ${DEFAULT-VALUE}).")
    Path output;
    @Option(names = "--resume", paramLabel = "CHECKPOINT", description = "Continue from a checkpoint (last.zip).")
    Path resume;

    @Override
    public Integer call() {
        requireFormat(run.format, Format.table, Format.json);
        TrainConfig cfg = run.config(epochs, batchSize, lr, output);
        TrainJob.Request req = new TrainJob.Request(data, model, imageSize, channels, resize, normalize,
                run.augment, run.valSplit, run.strict, run.cache, run.workers, cfg, resume);
        EpochReporter reporter = new EpochReporter(err());
        Trainer[] trainer = new Trainer[1];
        Signals.Handle sigint = Signals.onInterrupt(() -> {
            err().println();
            err().println("cnn: interrupt: finishing the current batch and writing a checkpoint "
                    + "(press Ctrl-C again to abort)");
            err().flush();
            if (trainer[0] != null) {
                trainer[0].requestStop();
            }
        });
        TrainJob.Outcome o;
        try {
            err().printf("cnn train: %s on %s%s%n", resume != null ? "resuming " + resume : model, resume != null
                    ? "its data" : data, resume != null ? "" : String.format(" (%d epochs, batch %d, %s lr %g)",
                    epochs, batchSize, run.optimizer.name().toLowerCase(), lr));
            err().flush();
            o = TrainJob.run(req, reporter, t -> trainer[0] = t);
        } finally {
            sigint.restore();
            reporter.close();
        }
        Trainer.Result r = o.result();
        String skipped = o.source().skipped().summary();
        if (!skipped.isEmpty()) {
            err().println("cnn: " + skipped);
        }
        if (run.format == Format.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("status", r.status().name().toLowerCase());
            doc.put("output", output.toString());
            doc.put("checkpoint", r.lastCheckpoint().toString());
            doc.put("history", r.history().stream().map(Trainer.EpochStats::toMap).toList());
            doc.put("skipped", o.source().skipped().toMap());
            if (r.message() != null) {
                doc.put("message", r.message());
            }
            out().println(dev.cnn.core.Json.pretty(doc));
        }
        switch (r.status()) {
            case INTERRUPTED -> {
                err().println("cnn: " + r.message());
                return ExitCodes.INTERRUPTED;
            }
            case DIVERGED -> {
                err().println("cnn: error: " + r.message());
                return ExitCodes.MODEL;
            }
            case EARLY_STOPPED -> err().println("cnn: " + r.message());
            default -> {
            }
        }
        Path reportFile = run.report ? writeReport(err(), "cnn train", r.bundle(), o.source().validation(), r.history(),
                output) : null;
        Trainer.EpochStats best = r.history().stream().filter(Trainer.EpochStats::best).reduce((a, b) -> b)
                .orElse(r.history().isEmpty() ? null : r.history().get(r.history().size() - 1));
        if (run.format == Format.table) {
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

    /** Writes the HTML report next to the model; a failure is a warning, not a failed run. */
    static Path writeReport(java.io.PrintWriter err, String command, dev.cnn.core.ModelBundle bundle,
                            dev.cnn.data.ImageDataset validation, java.util.List<Trainer.EpochStats> history,
                            Path output) {
        try {
            return dev.cnn.viz.Reports.afterTraining(command, bundle, validation, history, output).html();
        } catch (java.io.IOException | RuntimeException e) {
            err.println("cnn: warning: could not write the report (" + e.getMessage() + "); the model is saved");
            return null;
        }
    }

    /** Per-epoch progress bar and epoch lines on stderr. */
    static class EpochReporter implements Trainer.Listener {
        private final java.io.PrintWriter err;
        private Progress bar;

        EpochReporter(java.io.PrintWriter err) {
            this.err = err;
        }

        @Override
        public void onEpochStart(int epoch, int epochs, int batches) {
            bar = new Progress(err, String.format("epoch %d/%d", epoch + 1, epochs), batches, "img");
        }

        @Override
        public void onBatch(int epoch, int batch, int batches, double loss, double imagesPerSecond) {
            bar.update(batch, imagesPerSecond, String.format("loss %.4f", loss));
        }

        @Override
        public void onEpochEnd(Trainer.EpochStats s) {
            bar.close();
            err.printf("epoch %d: train loss %.4f  val loss %s  top-1 %s  top-5 %s  lr %.3g  %.1fs  %.0f img/s%s%n",
                    s.epoch(), s.trainLoss(), f(s.valLoss()), f(s.top1()), f(s.top5()), s.lr(), s.seconds(),
                    s.imagesPerSecond(), s.best() ? "  *best" : "");
            err.flush();
        }

        void close() {
            if (bar != null) {
                bar.close();
            }
        }

        private static String f(double v) {
            return Double.isFinite(v) ? String.format("%.4f", v) : "-";
        }
    }
}
